"""A case's audit events as staff page through them (newest first), and the latest event of a kind."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.audit.models import AuditAction, AuditEvent


def page(session: Session, instance_id: int, *, page: int, per_page: int) -> tuple[list[AuditEvent], int]:
    """One page of the case's events, newest first, and how many there are in all."""
    where = (AuditEvent.instance_id == instance_id,)
    total = session.scalar(select(func.count()).select_from(AuditEvent).where(*where)) or 0
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
