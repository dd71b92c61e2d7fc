"""Recording, listing and retrying incidents (issue 18 item 11).

A failing automatic step — a script error, a gateway with no true condition and no default, a runaway
loop stopped by the step or time limit, an unusable timer text — no longer answers 500 or loops
silently. Whoever ran it (a user completing a task, the scheduler firing a timer or starting a
scheduled case) keeps what it did; the failed step stays in the case's state (SpiffWorkflow's ERROR
state) and an *incident* names the case, the element and the error. Admins see open incidents on the
case page and at ``GET /api/v1/incidents``, fix the cause (edit the case data, migrate the case to a
corrected version) and retry; a retry that fails again keeps the incident open and counts the attempt.
Every step is audited.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.audit import service as audit
from engine.audit.models import AuditAction
from engine.bpmn import runtime
from engine.errors import Conflict, Forbidden, NotFound
from engine.incidents.models import Incident, IncidentStatus
from engine.instances.models import ProcessInstance
from engine.users import service as users
from engine.users.models import User

MAX_MESSAGE = 2000


class IncidentOpened(Conflict):
    """The caller's own step was stored, but an automatic step after it failed and is now an incident.

    The web layer commits the transaction before answering (409): the user's completed form, the
    incident and their audit events are kept together; nothing is half-written.
    """

    code = "incident_opened"
    commit = True

    def __init__(self, incident: Incident):
        self.incident = incident
        element = incident.element or "?"
        super().__init__(
            f"您的操作已保存，但其后的自动步骤“{element}”失败，已登记为事件 #{incident.id}，"
            f"由管理员修复后重试 / your step was saved, but the automatic step '{element}' after it failed: "
            f"incident #{incident.id} was opened for an administrator to fix and retry",
            {"incident": [str(incident.id)], "element": [element], "error": [incident.message[:500]]},
        )


def advance(wf: Any, first: Callable[[], Any] | None = None) -> runtime.EngineError | None:
    """Run ``first`` (a completed task's own run) and the automatic steps after it; return the failure
    instead of raising it, so the caller keeps its own step and records an incident."""
    try:
        if first is not None:
            try:
                first()
            except runtime.EngineError:
                raise
            except Exception as err:  # SpiffWorkflow's own errors in the task's run
                raise runtime.EngineError(
                    f"{type(err).__name__}: {err}"[:MAX_MESSAGE], runtime.failed_element(wf, err)
                ) from err
        runtime.advance(wf)
    except runtime.EngineError as err:
        return err
    return None


def record(
    session: Session,
    instance: ProcessInstance,
    err: runtime.EngineError,
    *,
    origin: str,
    actor_id: int | None = None,
) -> Incident:
    """Open an incident for ``err`` on ``instance`` (or count another attempt of the same open one)."""
    message = str(err)[:MAX_MESSAGE]
    element = (err.element or None) and str(err.element)[:200]
    incident = session.scalars(
        select(Incident).where(
            Incident.instance_id == instance.id,
            Incident.status == IncidentStatus.OPEN,
            Incident.element == element if element is not None else Incident.element.is_(None),
        )
    ).first()
    if incident is None:
        incident = Incident(
            instance_id=instance.id,
            element=element,
            message=message,
            origin=origin,
            status=IncidentStatus.OPEN,
            attempts=1,
            created_by_id=actor_id,
        )
        session.add(incident)
    else:
        incident.attempts += 1
        incident.message = message
    session.flush()
    audit.record(
        session,
        AuditAction.INCIDENT_OPENED,
        actor_id=actor_id,
        instance_id=instance.id,
        details={
            "incident": incident.id,
            "element": element,
            "error": message,
            "origin": origin,
            "attempts": incident.attempts,
        },
    )
    return incident


def _require_admin(user: User) -> None:
    if not users.is_admin(user):
        raise Forbidden("只有管理员可以处理事件 / only admins may see and retry incidents")


def get(session: Session, user: User, incident_id: int) -> Incident:
    _require_admin(user)
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise NotFound(f"事件不存在 / incident {incident_id} not found")
    return incident


def list_incidents(
    session: Session,
    user: User,
    *,
    status: str | None = "open",
    instance_id: int | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[Incident], int]:
    """Incidents, newest first (admins only); ``status`` None lists every status."""
    _require_admin(user)
    stmt = select(Incident)
    if status:
        stmt = stmt.where(Incident.status == IncidentStatus(status))
    if instance_id is not None:
        stmt = stmt.where(Incident.instance_id == instance_id)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(
        stmt.order_by(Incident.created_at.desc(), Incident.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return list(rows), total


def open_of(session: Session, instance_id: int) -> list[Incident]:
    """The open incidents of one case (for its page), oldest first."""
    return list(
        session.scalars(
            select(Incident)
            .where(Incident.instance_id == instance_id, Incident.status == IncidentStatus.OPEN)
            .order_by(Incident.id)
        )
    )
