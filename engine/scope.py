"""SQL filters that restrict rows to what a user's grants cover."""

from __future__ import annotations

from typing import Any

from sqlalchemy import false, or_, true
from sqlalchemy.orm import Session

from engine.orgs import service as orgs
from engine.orgs.models import OrgLevel, OrgUnit
from engine.users.models import User


def unit_clause(unit: OrgUnit, model: Any) -> Any:
    if unit.level == OrgLevel.CITY:
        return true()
    if unit.level == OrgLevel.DISTRICT:
        return model.district_id == unit.id
    if unit.level == OrgLevel.STREET:
        return model.street_id == unit.id
    return model.org_unit_id == unit.id


def visible_clause(session: Session, user: User, model: Any, roles: set[str] | None = None) -> Any:
    """Rows inside any org unit the user holds a grant for (limited to ``roles`` when given)."""
    units = {g.org_unit_id for g in user.grants if roles is None or g.role.value in roles}
    clauses = [unit_clause(orgs.get(session, unit_id), model) for unit_id in sorted(units)]
    return or_(*clauses) if clauses else false()


def role_branches(session: Session, user: User, model: Any) -> list[Any]:
    """Tasks whose candidate (or escalated) role the user holds, inside the unit of that grant, as plain
    conjunctions — ``unit AND candidate_role IN …`` and ``unit AND escalated_role IN …`` per unit — so
    each can run on an index led by its own columns."""
    by_unit: dict[int, set[str]] = {}
    for g in user.grants:
        by_unit.setdefault(g.org_unit_id, set()).add(g.role.value)
    branches = []
    for unit_id, roles in sorted(by_unit.items()):
        unit, names = unit_clause(orgs.get(session, unit_id), model), sorted(roles)
        branches += [unit & model.candidate_role.in_(names), unit & model.escalated_role.in_(names)]
    return branches


def role_clause(session: Session, user: User, model: Any) -> Any:
    """Tasks whose candidate (or escalated) role the user holds, inside the unit of that grant."""
    branches = role_branches(session, user, model)
    return or_(*branches) if branches else false()


def sees_everything(session: Session, user: User, roles: set[str]) -> bool:
    """Whether one of the user's grants with one of ``roles`` is at city level (covers every row)."""
    return any(
        g.role.value in roles and orgs.get(session, g.org_unit_id).level == OrgLevel.CITY for g in user.grants
    )
