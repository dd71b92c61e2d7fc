"""A case's audit events as staff page through them (newest first), and the latest event of a kind."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import JSON, func, select, type_coerce
from sqlalchemy.orm import Session

from engine.audit.models import AuditAction, AuditEvent
from engine.crypto import is_personal_key


class Entry(NamedTuple):
    """An event as a timeline shows it: ``details`` holds only the keys asked for."""

    id: int
    at: dt.datetime
    action: str
    actor_id: int | None
    task_id: int | None
    details: dict[str, Any]


def page(
    session: Session,
    instance_id: int,
    *,
    page: int,
    per_page: int,
    detail_keys: Sequence[str] | None = None,
) -> tuple[list[Any], int]:
    """One page of the case's events, newest first, and how many there are in all. With
    ``detail_keys``, plain :class:`Entry` rows whose details hold only those (non-personal) keys, read
    by the database from the stored JSON: an event's details can hold a whole step's data."""
    where = (AuditEvent.instance_id == instance_id,)
    total = session.scalar(select(func.count()).select_from(AuditEvent).where(*where)) or 0
    if detail_keys is not None:
        keys = [k for k in detail_keys if not is_personal_key(k)]
        stored = type_coerce(AuditEvent.details, JSON)
        found = session.execute(
            select(
                AuditEvent.id,
                AuditEvent.at,
                AuditEvent.action,
                AuditEvent.actor_id,
                AuditEvent.task_id,
                *[stored[k].label(f"k{i}") for i, k in enumerate(keys)],
            )
            .where(*where)
            .order_by(AuditEvent.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
        entries = [
            Entry(
                row.id,
                row.at,
                row.action,
                row.actor_id,
                row.task_id,
                {k: v for k, v in zip(keys, row[5:], strict=True) if v is not None},
            )
            for row in found
        ]
        return entries, total
    rows = session.scalars(
        select(AuditEvent)
        .where(*where)
        .order_by(AuditEvent.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return list(rows), total


def latest(session: Session, instance_id: int, action: AuditAction) -> AuditEvent | None:
    return session.scalar(
        select(AuditEvent)
        .where(AuditEvent.instance_id == instance_id, AuditEvent.action == action.value)
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )
