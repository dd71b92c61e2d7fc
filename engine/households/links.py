"""A household's cases: the household and applicant a case names (linked by id, or found by the
applicant's ID number), and the cases of a household as one user may see them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from engine import crypto
from engine.audit import service as audit
from engine.audit.models import AuditAction
from engine.errors import Invalid, NotFound
from engine.households.access import get
from engine.households.checks import check_id_number
from engine.households.models import CaseHousehold, Household, Person, Relation
from engine.households.people import UNKNOWN_NAME, set_person
from engine.instances.models import ProcessInstance
from engine.scope import visible_clause
from engine.users import service as users
from engine.users.models import User


def cases_of(session: Session, user: User, household_id: int) -> list[ProcessInstance]:
    """Every case of the household across procedures that the caller may see, newest first."""
    stmt = (
        select(ProcessInstance)
        .join(CaseHousehold, CaseHousehold.instance_id == ProcessInstance.id)
        .where(CaseHousehold.household_id == household_id)
    )
    if not users.is_admin(user):
        stmt = stmt.where(visible_clause(session, user, ProcessInstance))
    stmt = stmt.order_by(ProcessInstance.started_at.desc(), ProcessInstance.id.desc()).options(
        selectinload(ProcessInstance.definition), selectinload(ProcessInstance.org_unit)
    )
    return list(session.scalars(stmt))


def parties(session: Session, instance_ids: Iterable[int]) -> dict[int, tuple[int, int | None, str | None]]:
    """Household id, applicant id and applicant name per case that names them (for lists), one query."""
    ids = set(instance_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(CaseHousehold.instance_id, CaseHousehold.household_id, Person.id, Person.name)
        .outerjoin(Person, Person.id == CaseHousehold.applicant_person_id)
        .where(CaseHousehold.instance_id.in_(ids))
    )
    return {i: (h, p, name) for i, h, p, name in rows}


def applicant_names(session: Session, instance_ids: Iterable[int]) -> dict[int, str]:
    """Applicant name per case that names one."""
    return {i: name for i, (_h, _p, name) in parties(session, instance_ids).items() if name}


def link_case(
    session: Session,
    user: User,
    instance: ProcessInstance,
    household_id: int,
    applicant_person_id: int | None,
) -> None:
    """Name the household (and applicant, a member of it) a case is about; audited."""
    household = get(session, user, household_id)
    if applicant_person_id is not None:
        person = session.get(Person, applicant_person_id)
        if person is None or person.household_id != household.id:
            raise NotFound(
                f"申请人不是该家庭的成员 / person {applicant_person_id} is not a member of household "
                f"{household.id}"
            )
    link = session.get(CaseHousehold, instance.id)
    if link is None:
        session.add(CaseHousehold(instance_id=instance.id, household_id=household.id))
        session.flush()
        link = session.get_one(CaseHousehold, instance.id)
    link.household_id, link.applicant_person_id = household.id, applicant_person_id
    audit.record(
        session,
        AuditAction.CASE_HOUSEHOLD_LINKED,
        actor_id=user.id,
        instance_id=instance.id,
        details={"household_id": household.id, "applicant_person_id": applicant_person_id},
    )
    session.flush()


def link_by_id_number(
    session: Session, instance: ProcessInstance, number: str, *, actor_id: int | None
) -> None:
    """Give a case that names its applicant only by ID number that person's household (registered
    already, or new in the case's unit with the person as head, name to be completed); audited. A case
    that names its household keeps it; a number that is not a valid resident ID is left alone (the
    form's own validation reports it)."""
    if session.get(CaseHousehold, instance.id) is not None:
        return
    try:
        number = check_id_number(number)
    except Invalid:
        return
    by_number = select(Person).where(Person.id_index == crypto.blind_index(number))
    person = session.scalars(by_number).first()
    created = False
    if person is None:
        try:
            with session.begin_nested():  # two first applications of one person at once: one registers
                household = Household(
                    org_unit_id=instance.org_unit_id,
                    district_id=instance.district_id,
                    street_id=instance.street_id,
                    created_by_id=actor_id,
                )
                session.add(household)
                session.flush()
                person = Person(household_id=household.id, name=UNKNOWN_NAME, relation=Relation.HEAD)
                set_person(person, {"id_number": number})
                session.add(person)
                session.flush()
                created = True
        except IntegrityError:  # the other registered the person first (it waited for its commit)
            person = session.scalars(by_number).first()
            if person is None:
                raise
    if created:
        assert person is not None
        audit.record(
            session,
            AuditAction.HOUSEHOLD_CREATED,
            actor_id=actor_id,
            instance_id=instance.id,
            details={"household_id": household.id, "person_id": person.id, "id_number": number},
        )
    session.add(
        CaseHousehold(
            instance_id=instance.id, household_id=person.household_id, applicant_person_id=person.id
        )
    )
    audit.record(
        session,
        AuditAction.CASE_HOUSEHOLD_LINKED,
        actor_id=actor_id,
        instance_id=instance.id,
        details={"household_id": person.household_id, "applicant_person_id": person.id, "by": "id_number"},
    )
    session.flush()


def party_of(session: Session, instance_id: int) -> CaseHousehold | None:
    """The household and applicant of a case, if it names them."""
    return session.get(CaseHousehold, instance_id)


def parties_of(session: Session, instance_id: int) -> tuple[Any, Any] | None:
    """The household and applicant (or None) of a case, if it names them, in one query (a case page's
    header)."""
    found = session.execute(
        select(Household, Person)
        .select_from(CaseHousehold)
        .join(Household, Household.id == CaseHousehold.household_id)
        .outerjoin(Person, Person.id == CaseHousehold.applicant_person_id)
        .where(CaseHousehold.instance_id == instance_id)
    ).first()
    return (found[0], found[1]) if found is not None else None
