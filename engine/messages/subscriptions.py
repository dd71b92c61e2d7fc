"""The ``message_subscription`` rows of a case, kept in step with what its workflow waits for, and the
look-ups of kept (buffered) messages."""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.audit import service as audit
from engine.audit.models import AuditAction
from engine.bpmn import messaging
from engine.db import utcnow
from engine.instances.models import InstanceStatus, ProcessInstance
from engine.messages.models import MESSAGE, BufferedMessage, MessageSubscription


def _catches(compiled: Any) -> bool:
    """Whether a definition has any message or signal catch (else its saves never touch the table)."""
    known = compiled.__dict__.get("_assistflow_catches")
    if known is None:
        known = False
        for spec in [compiled.spec, *compiled.subprocess_specs.values()]:
            for task_spec in spec.task_specs.values():
                definition = getattr(task_spec, "event_definition", None)
                if messaging.kind_of(definition) and isinstance(task_spec, CatchingEvent):
                    known = True
        compiled.__dict__["_assistflow_catches"] = known
    return bool(known)


def resolved(key: Any, instance: ProcessInstance) -> str | None:
    return instance.business_key if key is messaging.BUSINESS_KEY else key


def sync(session: Session, loaded: Any) -> list[tuple[int, int, str]]:
    """Make the case's subscription rows match what its workflow waits for now; returns (buffered
    message id, instance id, BPMN id) for each catch that starts waiting and has a message kept for it."""
    instance, wf = loaded.instance, loaded.wf
    alive = instance.status == InstanceStatus.RUNNING and not wf.is_completed()
    if not alive:
        wanted: list[Any] = []
    else:  # worked out before the write lock where the step wrote first (instances.ready_to_save)
        wanted = loaded.waiting if getattr(loaded, "waiting", None) is not None else messaging.waiting(wf)
    if not wanted and not _catches(loaded.compiled):
        return []
    rows = list(
        session.scalars(select(MessageSubscription).where(MessageSubscription.instance_id == instance.id))
    )
    by_key = {(r.kind, r.name, r.bpmn_id, r.correlation_key): r for r in rows}
    keep: set[int] = set()
    fresh: list[tuple[MessageSubscription, bool]] = []
    for w in wanted:
        key = resolved(w.key, instance)
        row = by_key.get((w.kind, w.name, w.bpmn_id, key))
        if row is None:
            row = MessageSubscription(
                instance_id=instance.id,
                kind=w.kind,
                name=w.name,
                correlation_key=key,
                bpmn_id=w.bpmn_id,
                label=(w.label or None) and str(w.label)[:200],
                waiting=True,
                created_at=utcnow(),
            )
            session.add(row)
            by_key[(w.kind, w.name, w.bpmn_id, key)] = row
            fresh.append((row, w.is_start))
        elif not row.waiting:
            row.waiting = True
            fresh.append((row, w.is_start))
        keep.add(id(row))
    for row in rows:
        if row.waiting and id(row) not in keep:
            row.waiting = False
    session.flush()
    found = []
    for row, is_start in fresh:
        if row.kind == MESSAGE and not is_start:  # a start event's case was opened for its own message
            kept = buffered_for(session, row.name, row.correlation_key)
            if kept is not None:
                found.append((kept.id, instance.id, row.bpmn_id))
    return found


def waiting_for(session: Session, kind: str, name: str, key: str | None) -> list[tuple[int, str]]:
    """(instance id, BPMN id) of every catch waiting for a message (name, key) or a signal, in order."""
    stmt = select(MessageSubscription.instance_id, MessageSubscription.bpmn_id).where(
        MessageSubscription.kind == kind,
        MessageSubscription.name == name,
        MessageSubscription.waiting.is_(True),
    )
    if kind == MESSAGE:
        stmt = stmt.where(key_is(MessageSubscription.correlation_key, key))
    return [(i, b) for i, b in session.execute(stmt.order_by(MessageSubscription.id))]


def buffered_for(session: Session, name: str, key: str | None) -> BufferedMessage | None:
    """The oldest message kept for (name, key) that has not expired (expired ones are dropped here)."""
    now = utcnow()
    for row in session.scalars(
        select(BufferedMessage)
        .where(BufferedMessage.name == name, key_is(BufferedMessage.correlation_key, key))
        .order_by(BufferedMessage.id)
        .limit(20)
    ):
        if row.expires_at <= now:
            drop_expired(session, row)
            continue
        return row
    return None


def key_is(column: Any, key: str | None) -> Any:
    return column.is_(None) if key is None else column == key


def drop_expired(session: Session, row: BufferedMessage) -> None:
    audit.record(
        session,
        AuditAction.MESSAGE_EXPIRED,
        instance_id=row.sender_instance_id,
        details={
            "message": row.name,
            "correlation": row.correlation_key,
            "buffered_at": row.created_at,
            "expired_at": row.expires_at,
        },
    )
    session.delete(row)
    session.flush()
