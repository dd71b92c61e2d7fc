"""A case's parent and child cases (a Bridge Plan project and its household cases), as one user may see
them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.instances.models import ProcessInstance
from engine.scope import visible_clause
from engine.users import service as users
from engine.users.models import User


def parent_of(session: Session, user: User, instance: ProcessInstance) -> ProcessInstance | None:
    """The case this one was opened from, if the user may see it."""
    if instance.parent_id is None:
        return None
    parent = session.get(ProcessInstance, instance.parent_id)
    if parent is None or not (users.is_admin(user) or users.in_scope(session, user, parent)):
        return None
    return parent


def children_of(session: Session, user: User, instance: ProcessInstance) -> list[ProcessInstance]:
    """The cases opened from this one that the user may see, in the order they were opened."""
    stmt = select(ProcessInstance).where(ProcessInstance.parent_id == instance.id)
    if not users.is_admin(user):
        stmt = stmt.where(visible_clause(session, user, ProcessInstance))
    return list(session.scalars(stmt.order_by(ProcessInstance.id)))
