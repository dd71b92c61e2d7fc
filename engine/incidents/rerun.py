"""Retrying a failed automatic step (kept apart from the incident records: retrying steps the case
through the instances layer, which itself records incidents)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from engine.audit import service as audit
from engine.audit.models import AuditAction
from engine.bpmn import runtime
from engine.db import utcnow
from engine.errors import Conflict
from engine.incidents import service as incidents
from engine.incidents.models import Incident, IncidentStatus
from engine.instances import rehearsal
from engine.instances import service as instances
from engine.users.models import User


@rehearsal.stepping  # SQLite: the step runs before the write lock is taken (issue 18 item 10)
def retry(session: Session, user: User, incident_id: int) -> Incident:
    """Run the failed step again under the case's lock. Success resolves the incident and the case
    moves on; another failure keeps it open (attempt counted, audited) and raises :class:`IncidentOpened`."""
    incident = incidents.get(session, user, incident_id)
    instance = instances.lock(session, incident.instance_id, deferred=True)
    session.refresh(incident)
    if incident.status != IncidentStatus.OPEN:
        raise Conflict(f"事件 #{incident.id} 已处理 / incident {incident.id} is already resolved")
    instances.ensure_running(instance)
    loaded = instances.load(session, instance)
    try:
        runtime.retry(loaded.wf)
    except runtime.EngineError as err:
        incident.attempts += 1
        incident.message = str(err)[: incidents.MAX_MESSAGE]
        session.flush()
        audit.record(
            session,
            AuditAction.INCIDENT_RETRIED,
            actor_id=user.id,
            instance_id=instance.id,
            details={
                "incident": incident.id,
                "ok": False,
                "error": incident.message,
                "attempts": incident.attempts,
            },
        )
        raise incidents.IncidentOpened(incident) from err
    # every failed step of the case ran again and the case moved on: its open incidents are resolved
    for done in incidents.open_of(session, instance.id):
        done.status = IncidentStatus.RESOLVED
        done.resolved_at, done.resolved_by_id = utcnow(), user.id
        audit.record(
            session,
            AuditAction.INCIDENT_RESOLVED,
            actor_id=user.id,
            instance_id=instance.id,
            details={"incident": done.id, "element": done.element, "attempts": done.attempts},
        )
    instances.save(session, loaded, user.id)
    return incident
