from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from api.extensions import db
from api.recusal.schemas import FilingArgs, FilingSchema, WithdrawArgs
from api.security import BEARER, current_user, login_required
from engine.recusal import service as recusal

blp = Blueprint(
    "near_relatives", __name__, url_prefix="/api/v1/near-relatives", description="近亲属备案 / recusal"
)


@blp.route("", methods=["POST"])
@blp.arguments(FilingArgs)
@blp.response(201, FilingSchema)
@blp.doc(security=[BEARER])
@login_required
def file_near_relative(args: dict[str, Any]) -> Any:
    """Supervisors: file a staff or committee member's near relative (ID number shown masked)."""
    return recusal.file(
        db.session(), current_user(), args["staff_username"], args["relative_id_number"], args["relation"]
    )


@blp.route("/<int:filing_id>/withdraw", methods=["POST"])
@blp.arguments(WithdrawArgs)
@blp.response(200, FilingSchema)
@blp.doc(security=[BEARER])
@login_required
def withdraw_near_relative(args: dict[str, Any], filing_id: int) -> Any:
    """Supervisors of the staff member's unit: withdraw a filing (audited, with its reason)."""
    return recusal.withdraw(db.session(), current_user(), filing_id, args["reason"])
