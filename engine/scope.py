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
    clauses = [
        unit_clause(orgs.get(session, g.org_unit_id), model)
        for g in user.grants
        if roles is None or g.role.value in roles
    ]
    return or_(*clauses) if clauses else false()


def role_clause(session: Session, user: User, model: Any) -> Any:
    """Tasks whose candidate role the user holds, inside the unit of that grant."""
    clauses = [
        or_(model.candidate_role == g.role.value, model.escalated_role == g.role.value)
        & unit_clause(orgs.get(session, g.org_unit_id), model)
        for g in user.grants
    ]
    return or_(*clauses) if clauses else false()
