from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from api.extensions import db
from api.messages.schemas import MessageArgs, MessageOutcomeSchema
from api.security import BEARER, current_user, login_required
from engine.messages import service as messages

blp = Blueprint(
    "messages",
    __name__,
    url_prefix="/api/v1/messages",
    description="消息与信号 / BPMN messages and signals sent to cases (admins)",
)


@blp.route("", methods=["POST"])
@blp.arguments(MessageArgs)
@blp.response(200, MessageOutcomeSchema)
@blp.doc(security=[BEARER])
@login_required
def send_message(args: dict[str, Any]) -> Any:
    """Send a message (``name`` + ``correlation``) to the case waiting for it — or start a case whose
    message start event catches it, or keep it until a case waits (``buffered``, for
    ``ASSISTFLOW_MESSAGE_TTL_DAYS``); a message for a case that ended is refused (``ended``). With
    ``kind: signal`` every case waiting for the signal gets it. Admins only; audited."""
    return messages.send_as(
        db.session(),
        current_user(),
        args["name"],
        args["correlation"],
        args["payload"],
        org_unit=args["org_unit"],
        kind=args["kind"],
    )
