"""Skipping a failed automatic step (issue 20): when the step cannot be fixed and its effect is not
needed (a notification script, a service call made by hand), an admin marks it done *without running
it*, with a reason; the case moves on. Only script and service tasks may be skipped — a gateway or an
event decides the way the case goes, which a skip cannot. Audited with the step and the reason."""

from __future__ import annotations

from sqlalchemy.orm import Session

from engine.audit import service as audit
from engine.audit.models import AuditAction
from engine.bpmn import runtime
from engine.db import utcnow
from engine.errors import Conflict, Invalid
from engine.incidents import service as incidents
from engine.incidents.models import Incident, IncidentStatus
from engine.instances import service as instances
from engine.users.models import User

SKIPPABLE = ("ScriptTask", "ServiceTask")


def skip(session: Session, user: User, incident_id: int, reason: str) -> Incident:
    reason = (reason or "").strip()
    incident = incidents.get(session, user, incident_id)  # admins only
    if not reason:
        raise Invalid("请填写跳过的理由 / give a reason for skipping", {"reason": ["必填 / required"]})
    if len(reason) > 500:
        raise Invalid("理由过长 / reason too long", {"reason": ["最多 500 字 / at most 500 characters"]})
    instance = instances.lock(session, incident.instance_id)
    session.refresh(incident)
    if incident.status != IncidentStatus.OPEN:
        raise Conflict(f"事件 #{incident.id} 已处理 / incident {incident.id} is already resolved")
    instances.ensure_running(instance)
    loaded = instances.load(session, instance)
    failed = [t for t in runtime.failed_tasks(loaded.wf) if str(t.task_spec.bpmn_id) == incident.element]
    if not failed:
        raise Conflict(
            f"环节“{incident.element or '?'}”没有失败的步骤可跳过，请改用重试 / no failed step "
            f"'{incident.element}' to skip: retry instead"
        )
    kinds = {type(t.task_spec).__name__ for t in failed}
    if not kinds <= set(SKIPPABLE):
        raise Conflict(
            "只能跳过脚本或服务步骤；网关和事件决定流程走向，请修复后重试 / only script and service steps "
            "may be skipped: a gateway or event decides the way the case goes — fix it and retry",
            {"element": [incident.element or "?"]},
        )
    for task in failed:
        task.complete()  # done, without running its script
    error = incidents.advance(loaded.wf)
    incident.status = IncidentStatus.RESOLVED
    incident.resolved_at, incident.resolved_by_id = utcnow(), user.id
    audit.record(
        session,
        AuditAction.INCIDENT_SKIPPED,
        actor_id=user.id,
        instance_id=instance.id,
        details={"incident": incident.id, "element": incident.element, "reason": reason},
    )
    if error is not None:  # a later automatic step failed in turn: it becomes an incident of its own
        incidents.record(session, instance, error, origin="retry", actor_id=user.id)
    instances.save(session, loaded, user.id)
    return incident
