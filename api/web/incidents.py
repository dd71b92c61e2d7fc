"""The case page's incidents panel (admins): failed automatic steps of the case, with a retry button."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, url_for

from api.web import bp
from api.web.i18n import MESSAGES, t
from api.web.views import EVENT_NAMES, _db, login_required, user
from engine.incidents import rerun
from engine.incidents import service as incidents
from engine.incidents.service import IncidentOpened
from engine.instances.models import ProcessInstance
from engine.users import service as users

MESSAGES.update(
    {
        "incidents_panel": ("事件（失败的自动步骤）", "Incidents (failed automatic steps)"),
        "incident_element": ("环节", "Step"),
        "incident_error": ("错误", "Error"),
        "incident_attempts": ("尝试次数", "Attempts"),
        "incident_retry": ("修复后重试", "Retry after the fix"),
        "incident_resolved": ("已重试成功，流程继续", "Retried: the case moved on"),
        "incident_failed_again": (
            "重试仍然失败，事件保持未处理",
            "The retry failed again: the incident stays open",
        ),
        "incident_help": (
            "先修正原因（修改数据或迁移到修正后的版本），再重试。",
            "Fix the cause first (edit the case data or migrate to a corrected version), then retry.",
        ),
    }
)
EVENT_NAMES.update(
    {
        "incident.opened": ("自动步骤失败：登记事件", "Automatic step failed: incident opened"),
        "incident.retried": ("重试事件（仍失败）", "Incident retried (failed again)"),
        "incident.resolved": ("事件已解决", "Incident resolved"),
    }
)


@bp.app_context_processor
def _incident_globals() -> dict[str, Any]:
    return {"case_incidents": case_incidents}


def case_incidents(instance: ProcessInstance) -> list[Any]:
    """The case's open incidents, for admins only (others see none)."""
    current = user()
    if current is None or not users.is_admin(current):
        return []
    return incidents.open_of(_db(), instance.id)


@bp.post("/cases/<int:instance_id>/incidents/<int:incident_id>/retry")
@login_required
def case_incident_retry(instance_id: int, incident_id: int) -> Any:
    session = _db()
    try:
        rerun.retry(session, user(), incident_id)
    except IncidentOpened:
        flash(t("incident_failed_again"), "error")  # the attempt is committed with its audit event
    else:
        flash(t("incident_resolved"), "success")
    return redirect(url_for("web.case_page", instance_id=instance_id))
