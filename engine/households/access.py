"""Who may see and change a household: a household role in the unit it lives in, or a visible case of it.
Unknown ids, and ids outside the caller's units, are 404: a household the caller may not see does not
exist for them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from engine import scope
from engine.errors import Forbidden, Invalid, NotFound
from engine.households.models import CaseHousehold, Household, Person
from engine.instances.models import ProcessInstance
from engine.orgs import service as orgs
from engine.orgs.models import OrgLevel, OrgUnit
from engine.scope import visible_clause
from engine.users import service as users
from engine.users.models import Role, User


def street_unit(session: Session, code: str, field: str) -> OrgUnit:
    try:
        unit = orgs.by_code(session, code)
    except NotFound:
        raise Invalid.on(field, f"机构不存在 / unknown org unit {code}") from None
    if unit.level not in (OrgLevel.STREET, OrgLevel.COMMITTEE):
        raise Invalid.on(field, "应为街镇或居村委 / must be a street, town or committee")
    return unit


# Roles that work with households directly — register, find and read them — in their units: the street
# and district assistance staff and the city. Others (agencies, the foundation, the Gansu side, the
# experts) see a household only through a case of it they may see (engine.scope: procedure and contract).
HOUSEHOLD_ROLES = frozenset(
    {
        Role.ADVISOR,
        Role.STREET_OFFICER,
        Role.STREET_HEAD,
        Role.REVIEW_PANEL,
        Role.FINANCE,
        Role.DISTRICT_OFFICER,
        Role.DISTRICT_HEAD,
        Role.CITY_OFFICER,
    }
)


def holds_household_role(session: Session, user: User, household: Household) -> bool:
    return users.is_admin(user) or any(
        g.role in HOUSEHOLD_ROLES and scope.grant_covers(session, g, household) for g in user.grants
    )


def require_household_role(session: Session, user: User, household: Household) -> None:
    """Changing a household needs a household role for its unit; seeing one of its cases is not enough."""
    if not holds_household_role(session, user, household):
        raise Forbidden("您无权修改该家庭档案 / you may not change this household")


def may_see(session: Session, user: User, household: Household) -> bool:
    if holds_household_role(session, user, household):
        return True
    if household.id is None:
        return False
    visible_case = (
        select(CaseHousehold.instance_id)
        .join(ProcessInstance, ProcessInstance.id == CaseHousehold.instance_id)
        .where(CaseHousehold.household_id == household.id, visible_clause(session, user, ProcessInstance))
        .limit(1)
    )
    return session.scalar(visible_case) is not None


def not_found(household_id: int) -> NotFound:
    return NotFound(f"家庭不存在或您无权查看 / household {household_id} not found")


def get(session: Session, user: User, household_id: int) -> Household:
    household = session.get(Household, household_id, options=[selectinload(Household.members)])
    if household is None or not may_see(session, user, household):
        raise not_found(household_id)
    return household


def get_person(session: Session, user: User, person_id: int) -> Person:
    person = session.get(Person, person_id)
    if person is None or not may_see(session, user, session.get_one(Household, person.household_id)):
        raise NotFound(f"人员不存在或您无权查看 / person {person_id} not found")
    return person
