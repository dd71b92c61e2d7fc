"""A case's parent and child cases (a Bridge Plan project and its household cases), as one user may see
them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import JSON, func, literal, select, type_coerce
from sqlalchemy.orm import Session, defer

from engine.crypto import is_personal_key
from engine.instances.models import InstanceStatus, ProcessInstance
from engine.scope import visible_clause
from engine.users import service as users
from engine.users.models import User


def parent_of(session: Session, user: User, instance: ProcessInstance) -> ProcessInstance | None:
    """The case this one was opened from, if the user may see it."""
    if instance.parent_id is None:
        return None
    # the link needs its id, business key and scope: its data (a project's every household, their ID
    # numbers decrypted) is left to load if something reads it
    parent = session.get(ProcessInstance, instance.parent_id, options=[defer(ProcessInstance.data)])
    if parent is None or not (users.is_admin(user) or users.in_scope(session, user, parent)):
        return None
    return parent


class Child(NamedTuple):
    id: int
    business_key: str | None
    status: InstanceStatus
    data: dict[str, Any]


def _without_personal(data: Any) -> Any:
    """A copy of stored case data with every personal value (ID and phone numbers, at any depth) left
    out: nothing to decrypt, nothing encrypted to show."""
    if isinstance(data, dict):
        return {k: _without_personal(v) for k, v in data.items() if not is_personal_key(str(k))}
    if isinstance(data, list):
        return [_without_personal(v) for v in data]
    return data


def _picked(session: Session, stored: Any, keys: list[str]) -> Any:
    """The stored JSON's top-level values of ``keys`` as one JSON array (in their order, null where
    unset), the stored text parsed once a row: SQLite's json_extract with several paths (one call per key
    parses the whole text each time), PostgreSQL's json_build_array of each key's value."""
    if session.get_bind().dialect.name == "sqlite":
        paths = [literal('$."' + k.replace('"', "") + '"') for k in keys]
        # with one path json_extract returns the value itself, with two or more an array: ask twice
        return type_coerce(func.json_extract(stored, *(paths * 2 if len(paths) < 2 else paths)), JSON).label(
            "picked"
        )
    return func.json_build_array(*[stored[k] for k in keys], type_=JSON).label("picked")


def children_of(
    session: Session, user: User, instance: ProcessInstance, *, keys: Sequence[str] | None = None
) -> list[Child]:
    """The cases opened from this one that the user may see, in the order they were opened: rows with
    ``id``, ``business_key``, ``status`` and ``data`` without its personal values (a project lists
    hundreds of household cases; decrypting their ID numbers for a table that does not show them was
    most of the page's time). With ``keys``, ``data`` holds only those of its top-level values that are
    set (each read by the database from the stored JSON; no personal key is ever read)."""
    stored = type_coerce(ProcessInstance.data, JSON)
    wanted = [k for k in keys if not is_personal_key(k)] if keys is not None else None
    if wanted is None:
        columns = [stored.label("data")]
    else:
        columns = [_picked(session, stored, wanted)] if wanted else []
    stmt = select(ProcessInstance.id, ProcessInstance.business_key, ProcessInstance.status, *columns).where(
        ProcessInstance.parent_id == instance.id
    )
    if not users.is_admin(user):
        stmt = stmt.where(visible_clause(session, user, ProcessInstance))
    out = []
    for row in session.execute(stmt.order_by(ProcessInstance.id)):
        if wanted is None:
            data = _without_personal(row.data or {})
        else:
            data = {
                k: v
                for k, v in zip(wanted, (row[3] if wanted else None) or (), strict=False)
                if v is not None
            }
        out.append(Child(row.id, row.business_key, row.status, data))
    return out
