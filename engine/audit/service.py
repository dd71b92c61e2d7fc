"""Writing and reading audit events (append-only; hash-chained after commit, see ``engine.audit.chain``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.audit.models import AuditAction, AuditEvent
from engine.forms import jsonable

if TYPE_CHECKING:
    from engine.tasks.models import HumanTask


def record(
    session: Session,
    action: AuditAction,
    *,
    actor_id: int | None = None,
    instance_id: int | None = None,
    task_id: int | None = None,
    definition_id: int | None = None,
    details: dict[str, Any] | None = None,
    task: HumanTask | None = None,
) -> AuditEvent:
    """Add one event to the session (flushed with the rest; sealed into the hash chain after commit).

    ``task`` instead of ``task_id`` names a task row not flushed yet; it is inserted before the event.
    """
    event = AuditEvent(
        action=action.value,
        actor_id=actor_id,
        instance_id=instance_id,
        task_id=task_id,
        definition_id=definition_id,
        details=jsonable(details or {}),
    )
    if task is not None:
        event.task = task
    session.add(event)
    return event


def instance_events(
    session: Session, instance_id: int, *, limit: int = 500, after_id: int = 0
) -> list[AuditEvent]:
    stmt = (
        select(AuditEvent)
        .where(AuditEvent.instance_id == instance_id, AuditEvent.id > after_id)
        .order_by(AuditEvent.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))
