"""Registering households and their people, finding them by ID number, and naming a case's household.

Every change is audited; every read or write is limited to the org units the user holds a grant for
(a household is placed by its residence street, like a case). Unknown ids, and ids outside the caller's
units, are 404: a household the caller may not see does not exist for them.

The parts live beside this module: ``checks`` (ID, phone and account numbers), ``access`` (who may
see and change a household), ``people`` (a person's fields), ``links`` (a case's household and
applicant), ``views`` (households and people as shown). This module changes households and people,
and keeps every name callers import from it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import crypto
from engine.audit import service as audit
from engine.audit.models import AuditAction
from engine.errors import Invalid, NotFound
from engine.households.access import HOUSEHOLD_ROLES as HOUSEHOLD_ROLES
from engine.households.access import get as get
from engine.households.access import get_person as get_person
from engine.households.access import holds_household_role, may_see, require_household_role, street_unit
from engine.households.checks import birth_date_of as birth_date_of
from engine.households.checks import check_bank_account
from engine.households.checks import check_id_number as check_id_number
from engine.households.checks import check_phone as check_phone
from engine.households.checks import mask_account as mask_account
from engine.households.links import applicant_names as applicant_names
from engine.households.links import cases_of as cases_of
from engine.households.links import link_by_id_number as link_by_id_number
from engine.households.links import link_case as link_case
from engine.households.links import parties as parties
from engine.households.links import parties_of as parties_of
from engine.households.links import party_of as party_of
from engine.households.models import Hardship, Household, Person
from engine.households.people import PERSON_FIELDS as PERSON_FIELDS
from engine.households.people import UNKNOWN_NAME as UNKNOWN_NAME
from engine.households.people import checked_person, refuse_duplicate, set_person
from engine.households.views import HARDSHIP_LABELS as HARDSHIP_LABELS
from engine.households.views import RELATION_LABELS as RELATION_LABELS
from engine.households.views import household_view as household_view
from engine.households.views import person_view as person_view
from engine.users.models import User

HOUSEHOLD_FIELDS = (
    "registered_address",
    "registered_street",
    "residence_address",
    "residence_street",
    "hardship_category",
    "bank_name",
    "bank_account_holder",
    "bank_account",
)


def _apply_household(session: Session, household: Household, values: dict[str, Any]) -> dict[str, Any]:
    """Set the given fields; returns what changed, as the audit records it (account masked)."""
    changed: dict[str, Any] = {}
    for key in HOUSEHOLD_FIELDS:
        if key not in values:
            continue
        value = values[key]
        if key == "residence_street":
            unit = street_unit(session, value, key)
            household.org_unit_id, household.district_id = unit.id, unit.district_id
            household.street_id = unit.street_id
            changed[key] = unit.code
        elif key == "registered_street":
            household.registered_street_id = None if value is None else street_unit(session, value, key).id
            changed[key] = value
        elif key == "hardship_category":
            household.hardship_category = Hardship(value)
            changed[key] = value
        elif key == "bank_account":
            household.bank_account = None if not value else check_bank_account(value)
            changed[key] = mask_account(household.bank_account)
        else:
            setattr(household, key, value or None)
            changed[key] = value
    return changed


def create_household(
    session: Session, user: User, values: dict[str, Any], members: Iterable[dict[str, Any]] = ()
) -> Household:
    """Register a household (its residence street inside the caller's units) with its members."""
    if "residence_street" not in values:
        raise Invalid.on("residence_street", "必填 / required")
    household = Household(created_by_id=user.id)
    changed = _apply_household(session, household, values)
    if not holds_household_role(session, user, household):
        raise Invalid.on("residence_street", "不在您的辖区内 / outside your org units")
    checked = [checked_person(m) for m in members]
    numbers = [m["id_number"] for m in checked if m.get("id_number")]
    if len(numbers) != len(set(numbers)):
        raise Invalid.on("members", "成员身份证号重复 / two members have the same ID number")
    for number in numbers:
        refuse_duplicate(session, user, number)
    session.add(household)
    session.flush()
    audit.record(
        session,
        AuditAction.HOUSEHOLD_CREATED,
        actor_id=user.id,
        details={"household_id": household.id, **changed},
    )
    for m in checked:
        _add(session, user, household, m)
    return household


def _add(session: Session, user: User, household: Household, checked: dict[str, Any]) -> Person:
    for key in ("name", "relation"):
        if not checked.get(key):
            raise Invalid.on(key, "必填 / required")
    person = Person(household_id=household.id)
    changed = set_person(person, checked)
    session.add(person)
    session.flush()
    audit.record(
        session,
        AuditAction.PERSON_ADDED,
        actor_id=user.id,
        details={"household_id": household.id, "person_id": person.id, **changed},
    )
    return person


def add_person(session: Session, user: User, household_id: int, values: dict[str, Any]) -> Person:
    household = get(session, user, household_id)
    require_household_role(session, user, household)
    checked = checked_person(values)
    if checked.get("id_number"):
        refuse_duplicate(session, user, checked["id_number"])
    return _add(session, user, household, checked)


def update_household(session: Session, user: User, household_id: int, values: dict[str, Any]) -> Household:
    household = get(session, user, household_id)
    require_household_role(session, user, household)
    changed = _apply_household(session, household, values)
    if not holds_household_role(session, user, household):
        raise Invalid.on("residence_street", "不在您的辖区内 / outside your org units")
    if changed:
        household.updated_at = dt.datetime.now(dt.UTC)
        audit.record(
            session,
            AuditAction.HOUSEHOLD_UPDATED,
            actor_id=user.id,
            details={"household_id": household.id, **changed},
        )
        session.flush()
    return household


def update_person(session: Session, user: User, person_id: int, values: dict[str, Any]) -> Person:
    person = get_person(session, user, person_id)
    require_household_role(session, user, session.get_one(Household, person.household_id))
    checked = checked_person(values)
    for key in ("name", "relation"):
        if key in checked and not checked[key]:
            raise Invalid.on(key, "必填 / required")
    if checked.get("id_number"):
        refuse_duplicate(session, user, checked["id_number"], person.id)
    changed = set_person(person, checked)
    if changed:
        audit.record(
            session,
            AuditAction.PERSON_UPDATED,
            actor_id=user.id,
            details={"household_id": person.household_id, "person_id": person.id, **changed},
        )
        session.flush()
    return person


# --- reads --------------------------------------------------------------------------------------------


def find_by_id_number(session: Session, user: User, id_number: str, *, channel: str) -> Person:
    """The person holding an ID number, inside the caller's units (404 otherwise); an audited read."""
    number = check_id_number(id_number)
    person = session.scalars(select(Person).where(Person.id_index == crypto.blind_index(number))).first()
    if person is None or not may_see(session, user, session.get_one(Household, person.household_id)):
        raise NotFound("未找到该身份证号的人员 / no person with this ID number in your org units")
    audit.record(
        session,
        AuditAction.PERSONAL_DATA_READ,
        actor_id=user.id,
        details={"lookup": "id_number", "id_number": number, "person_id": person.id, "channel": channel},
    )
    return person
