"""Writing and reading audit events (append-only; hash-chained after commit, see ``engine.audit.chain``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from engine.audit import signing
from engine.audit.models import AuditAction, AuditEvent
from engine.db import utcnow
from engine.forms import jsonable

if TYPE_CHECKING:
    from engine.tasks.models import HumanTask


def _fields(
    action: AuditAction,
    actor_id: int | None,
    instance_id: int | None,
    task_id: int | None,
    definition_id: int | None,
    details: dict[str, Any] | None,
) -> dict[str, Any]:
    """An event's columns as written, whether as an ORM object (``record``) or a plain row (``Batch``);
    signed (``engine.audit.signing``) once every column is known."""
    return {
        "at": utcnow(),
        "action": action.value,
        "actor_id": actor_id,
        "instance_id": instance_id,
        "task_id": task_id,
        "definition_id": definition_id,
        "details": jsonable(details or {}),
    }


def record(
    session: Session,
    action: AuditAction,
    *,
    actor_id: int | None = None,
    instance_id: int | None = None,
    task_id: int | None = None,
    definition_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add one event to the session (flushed with the rest; sealed into the hash chain after commit)."""
    event = AuditEvent(
        **signing.sign(_fields(action, actor_id, instance_id, task_id, definition_id, details))
    )
    session.add(event)
    return event


_INSERT = insert(cast(Table, AuditEvent.__table__))  # built once: its cache key is kept with it


class Batch:
    """The events of one engine step, written together in one INSERT once the step's rows are flushed.

    A completion writes a handful of events; as plain rows, not ORM objects, they cost the unit of work
    nothing. Events for a task created in the same step name the task row; its id is read at writing.
    """

    def __init__(self) -> None:
        self._events: list[tuple[dict[str, Any], HumanTask | None]] = []

    def add(
        self,
        action: AuditAction,
        *,
        actor_id: int | None,
        instance_id: int | None,
        task_id: int | None = None,
        task: HumanTask | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self._events.append((_fields(action, actor_id, instance_id, task_id, None, details), task))

    def write(self, session: Session) -> None:
        """Insert the events in the order they were added (call after the flush that gave tasks ids)."""
        if not self._events:
            return
        rows = [
            signing.sign({**row, "task_id": task.id} if task is not None else row)
            for row, task in self._events
        ]
        self._events.clear()
        session.execute(_INSERT, rows)


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
