from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from api.extensions import db
from api.notifications.schemas import (
    NotificationListArgs,
    NotificationPageSchema,
    NotificationSchema,
    ReadAllSchema,
)
from api.security import BEARER, current_user, login_required
from engine.notifications import service as notifications

blp = Blueprint(
    "notifications", __name__, url_prefix="/api/v1/notifications", description="通知 / notifications"
)


@blp.route("", methods=["GET"])
@blp.arguments(NotificationListArgs, location="query")
@blp.response(200, NotificationPageSchema)
@blp.doc(security=[BEARER])
@login_required
def list_notifications(args: dict[str, Any]) -> Any:
    """My notifications, unread first, with the unread count."""
    rows, total, unread = notifications.list_mine(
        db.session(),
        current_user().id,
        unread_only=args["unread_only"],
        page=args["page"],
        per_page=args["per_page"],
    )
    meta = {"page": args["page"], "per_page": args["per_page"], "total": total, "unread": unread}
    return {"items": rows, "meta": meta}


@blp.route("/<int:notification_id>/read", methods=["POST"])
@blp.response(200, NotificationSchema)
@blp.doc(security=[BEARER])
@login_required
def mark_read(notification_id: int) -> Any:
    """Mark one of my notifications read."""
    return notifications.mark_read(db.session(), current_user().id, notification_id)


@blp.route("/read-all", methods=["POST"])
@blp.response(200, ReadAllSchema)
@blp.doc(security=[BEARER])
@login_required
def mark_all_read() -> Any:
    """Mark all my notifications read."""
    return {"marked": notifications.mark_all_read(db.session(), current_user().id)}
