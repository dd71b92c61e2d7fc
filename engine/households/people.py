"""A person's fields: checked together (every problem at once, per field), set with their blind
indexes, and an ID number refused when another person holds it already (409)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import crypto
from engine.errors import Conflict, Invalid
from engine.households.access import may_see
from engine.households.checks import birth_date_of, check_id_number, check_phone
from engine.households.models import Household, Person, Relation
from engine.users.models import User

UNKNOWN_NAME = "待补登"  # a person known by ID number only, name to be completed
PERSON_FIELDS = ("name", "relation", "id_number", "phone", "birth_date")


def checked_person(values: dict[str, Any]) -> dict[str, Any]:
    """Validated person fields (every problem at once, per field)."""
    out: dict[str, Any] = {}
    problems: dict[str, list[str]] = {}
    for key in PERSON_FIELDS:
        if key not in values:
            continue
        value = values[key]
        try:
            if key == "id_number" and value:
                out[key] = check_id_number(value)
            elif key == "phone" and value:
                out[key] = check_phone(value)
            elif key == "relation":
                out[key] = Relation(value)
            else:
                out[key] = value or None
        except Invalid as err:
            problems.update(err.fields)
    if problems:
        raise Invalid("人员信息有误 / invalid person data", problems)
    return out


def refuse_duplicate(session: Session, user: User, number: str, person_id: int | None = None) -> None:
    """409 when another person already holds this ID number, naming their household if in scope."""
    found = session.scalars(select(Person).where(Person.id_index == crypto.blind_index(number))).first()
    if found is None or found.id == person_id:
        return
    household = session.get_one(Household, found.household_id)
    if may_see(session, user, household):
        raise Conflict(
            f"该身份证号已登记在家庭 {household.id} / this ID number is already registered in household "
            f"{household.id}",
            {"id_number": [f"已登记 / already registered: household {household.id}"]},
        )
    raise Conflict(
        "该身份证号已由其他机构登记 / this ID number is already registered by another org unit",
        {"id_number": ["已登记 / already registered"]},
    )


def set_person(person: Person, values: dict[str, Any]) -> dict[str, Any]:
    changed: dict[str, Any] = {}
    for key, value in values.items():
        if key == "id_number":
            person.id_number = value
            person.id_index = crypto.blind_index(value)
            person.id_last4 = value[-4:] if value else None
            if value and "birth_date" not in values:
                person.birth_date = birth_date_of(value)
            changed[key] = value  # sealed in the audit log (a personal key)
        elif key == "phone":
            person.phone, person.phone_index = value, crypto.blind_index(value)
            changed[key] = value
        else:
            setattr(person, key, value)
            changed[key] = value.value if isinstance(value, Relation) else value
    return changed
