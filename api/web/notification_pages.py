"""消息 (notifications): the list and marking them read."""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, url_for

from api.web import bp
from api.web.common import _db, _int_arg, login_required, step_names, user
from api.web.i18n import locale, pick
from engine.notifications import service as notifications


def _shown(rows: list[Any]) -> list[tuple[Any, str, str]]:
    """Each notice with its title and text in the page's language (in English, the step it quotes named
    in English: notifications.in_english)."""
    bodies = notifications.in_english(_db(), rows, step_names()) if locale() == "en" else {}
    return [(n, pick(n.title), pick(bodies.get(n.id, n.body))) for n in rows]


@bp.get("/notifications")
@login_required
def notification_list() -> Any:
    rows, total, unread = notifications.list_mine(_db(), user().id, page=_int_arg("page", 1), per_page=50)
    return render_template("notifications.html", rows=_shown(rows), total=total, unread=unread)


@bp.post("/notifications/<int:notification_id>/read")
@login_required
def notification_read(notification_id: int) -> Any:
    row = notifications.mark_read(_db(), user().id, notification_id)
    if row.task_id and request.form.get("open"):
        return redirect(url_for("web.task_page", task_id=row.task_id))
    return redirect(url_for("web.notification_list"))


@bp.post("/notifications/read-all")
@login_required
def notification_read_all() -> Any:
    notifications.mark_all_read(_db(), user().id)
    return redirect(url_for("web.notification_list"))
