"""Registering households and their people, finding them by ID number, and naming a case's household.

Every change is audited; every read or write is limited to the org units the user holds a grant for
(a household is placed by its residence street, like a case). Unknown ids, and ids outside the caller's
units, are 404: a household the caller may not see does not exist for them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from engine import crypto, scope
from engine.audit import service as audit
from engine.audit.models import AuditAction
from engine.errors import Conflict, Forbidden, Invalid, NotFound
from engine.forms.idnumber import with_check_digit
from engine.households.models import CaseHousehold, Hardship, Household, Person, Relation
from engine.instances.models import ProcessInstance
from engine.orgs import service as orgs
from engine.orgs.models import OrgLevel, OrgUnit
from engine.privacy import mask_id_number, mask_phone
from engine.scope import visible_clause
from engine.users import service as users
from engine.users.models import Role, User

_ID_SHAPE = re.compile(r"\d{17}[\dX]")
_MOBILE = re.compile(r"1[3-9]\d{9}")
UNKNOWN_NAME = "待补登"  # a person known by ID number only, name to be completed

HARDSHIP_LABELS = {
    Hardship.DIBAO: ("低保", "Minimum living guarantee"),
    Hardship.DIBAO_EDGE: ("低保边缘", "Marginal (near dibao)"),
    Hardship.LOW_INCOME: ("低收入", "Low income"),
    Hardship.EXPENDITURE: ("支出型", "Rigid expenditure"),
    Hardship.OTHER: ("其他", "Other"),
}
RELATION_LABELS = {
    Relation.HEAD: ("户主", "Head of household"),
    Relation.SPOUSE: ("配偶", "Spouse"),
    Relation.CHILD: ("子女", "Child"),
    Relation.PARENT: ("父母", "Parent"),
    Relation.GRANDCHILD: ("孙子女", "Grandchild"),
    Relation.GRANDPARENT: ("祖父母", "Grandparent"),
    Relation.SIBLING: ("兄弟姐妹", "Sibling"),
    Relation.OTHER: ("其他", "Other"),
}


# --- validation ---------------------------------------------------------------------------------------


def check_id_number(value: str, field: str = "id_number") -> str:
    """A mainland 18-digit resident ID, normalized (upper-case X); 422 per field with why."""
    number = value.strip().upper()
    if not _ID_SHAPE.fullmatch(number) or number[0] == "0":
        raise Invalid.on(field, "应为 18 位身份证号码 / must be an 18-digit resident ID number")
    if with_check_digit(number[:17]) != number:
        raise Invalid.on(field, "校验位错误 / wrong check digit")
    if birth_date_of(number) is None:
        raise Invalid.on(field, "出生日期无效 / the birth date in the number is not a real past date")
    return number


def birth_date_of(number: str) -> dt.date | None:
    """The birth date a resident ID carries (digits 7–14), or None when it is not a real past date."""
    try:
        born = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return None
    return born if dt.date(1900, 1, 1) <= born <= dt.date.today() else None


def check_phone(value: str, field: str = "phone") -> str:
    number = re.sub(r"[\s-]", "", value)
    if not _MOBILE.fullmatch(number):
        raise Invalid.on(field, "应为 11 位手机号 / must be an 11-digit mobile number")
    return number


def _check_bank_account(value: str) -> str:
    number = re.sub(r"\s", "", value)
    if not re.fullmatch(r"\d{12,30}", number):
        raise Invalid.on("bank_account", "应为 12–30 位数字 / must be 12 to 30 digits")
    return number


def mask_account(value: str | None) -> str | None:
    """``6222020200112233445`` → ``**** **** 3445`` (the last four kept)."""
    return None if not value else "**** **** " + value[-4:]


# --- scope --------------------------------------------------------------------------------------------


def _street(session: Session, code: str, field: str) -> OrgUnit:
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


def _holds_household_role(session: Session, user: User, household: Household) -> bool:
    return users.is_admin(user) or any(
        g.role in HOUSEHOLD_ROLES and scope.grant_covers(session, g, household) for g in user.grants
    )


def _require_household_role(session: Session, user: User, household: Household) -> None:
    """Changing a household needs a household role for its unit; seeing one of its cases is not enough."""
    if not _holds_household_role(session, user, household):
        raise Forbidden("您无权修改该家庭档案 / you may not change this household")


def _may_see(session: Session, user: User, household: Household) -> bool:
    if _holds_household_role(session, user, household):
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


def _not_found(household_id: int) -> NotFound:
    return NotFound(f"家庭不存在或您无权查看 / household {household_id} not found")


def get(session: Session, user: User, household_id: int) -> Household:
    household = session.get(Household, household_id, options=[selectinload(Household.members)])
    if household is None or not _may_see(session, user, household):
        raise _not_found(household_id)
    return household


def get_person(session: Session, user: User, person_id: int) -> Person:
    person = session.get(Person, person_id)
    if person is None or not _may_see(session, user, session.get_one(Household, person.household_id)):
        raise NotFound(f"人员不存在或您无权查看 / person {person_id} not found")
    return person


# --- changes ------------------------------------------------------------------------------------------

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
PERSON_FIELDS = ("name", "relation", "id_number", "phone", "birth_date")


def _apply_household(session: Session, household: Household, values: dict[str, Any]) -> dict[str, Any]:
    """Set the given fields; returns what changed, as the audit records it (account masked)."""
    changed: dict[str, Any] = {}
    for key in HOUSEHOLD_FIELDS:
        if key not in values:
            continue
        value = values[key]
        if key == "residence_street":
            unit = _street(session, value, key)
            household.org_unit_id, household.district_id = unit.id, unit.district_id
            household.street_id = unit.street_id
            changed[key] = unit.code
        elif key == "registered_street":
            household.registered_street_id = None if value is None else _street(session, value, key).id
            changed[key] = value
        elif key == "hardship_category":
            household.hardship_category = Hardship(value)
            changed[key] = value
        elif key == "bank_account":
            household.bank_account = None if not value else _check_bank_account(value)
            changed[key] = mask_account(household.bank_account)
        else:
            setattr(household, key, value or None)
            changed[key] = value
    return changed


def _checked_person(values: dict[str, Any]) -> dict[str, Any]:
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


def _refuse_duplicate(session: Session, user: User, number: str, person_id: int | None = None) -> None:
    """409 when another person already holds this ID number, naming their household if in scope."""
    found = session.scalars(select(Person).where(Person.id_index == crypto.blind_index(number))).first()
    if found is None or found.id == person_id:
        return
    household = session.get_one(Household, found.household_id)
    if _may_see(session, user, household):
        raise Conflict(
            f"该身份证号已登记在家庭 {household.id} / this ID number is already registered in household "
            f"{household.id}",
            {"id_number": [f"已登记 / already registered: household {household.id}"]},
        )
    raise Conflict(
        "该身份证号已由其他机构登记 / this ID number is already registered by another org unit",
        {"id_number": ["已登记 / already registered"]},
    )


def _set_person(person: Person, values: dict[str, Any]) -> dict[str, Any]:
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


def create_household(
    session: Session, user: User, values: dict[str, Any], members: Iterable[dict[str, Any]] = ()
) -> Household:
    """Register a household (its residence street inside the caller's units) with its members."""
    if "residence_street" not in values:
        raise Invalid.on("residence_street", "必填 / required")
    household = Household(created_by_id=user.id)
    changed = _apply_household(session, household, values)
    if not _holds_household_role(session, user, household):
        raise Invalid.on("residence_street", "不在您的辖区内 / outside your org units")
    checked = [_checked_person(m) for m in members]
    numbers = [m["id_number"] for m in checked if m.get("id_number")]
    if len(numbers) != len(set(numbers)):
        raise Invalid.on("members", "成员身份证号重复 / two members have the same ID number")
    for number in numbers:
        _refuse_duplicate(session, user, number)
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
    changed = _set_person(person, checked)
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
    _require_household_role(session, user, household)
    checked = _checked_person(values)
    if checked.get("id_number"):
        _refuse_duplicate(session, user, checked["id_number"])
    return _add(session, user, household, checked)


def update_household(session: Session, user: User, household_id: int, values: dict[str, Any]) -> Household:
    household = get(session, user, household_id)
    _require_household_role(session, user, household)
    changed = _apply_household(session, household, values)
    if not _holds_household_role(session, user, household):
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
    _require_household_role(session, user, session.get_one(Household, person.household_id))
    checked = _checked_person(values)
    for key in ("name", "relation"):
        if key in checked and not checked[key]:
            raise Invalid.on(key, "必填 / required")
    if checked.get("id_number"):
        _refuse_duplicate(session, user, checked["id_number"], person.id)
    changed = _set_person(person, checked)
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
    if person is None or not _may_see(session, user, session.get_one(Household, person.household_id)):
        raise NotFound("未找到该身份证号的人员 / no person with this ID number in your org units")
    audit.record(
        session,
        AuditAction.PERSONAL_DATA_READ,
        actor_id=user.id,
        details={"lookup": "id_number", "id_number": number, "person_id": person.id, "channel": channel},
    )
    return person


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
    person = session.scalars(select(Person).where(Person.id_index == crypto.blind_index(number))).first()
    if person is None:
        household = Household(
            org_unit_id=instance.org_unit_id,
            district_id=instance.district_id,
            street_id=instance.street_id,
            created_by_id=actor_id,
        )
        session.add(household)
        session.flush()
        person = Person(household_id=household.id, name=UNKNOWN_NAME, relation=Relation.HEAD)
        _set_person(person, {"id_number": number})
        session.add(person)
        session.flush()
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


def person_view(person: Person, locale: str = "zh") -> dict[str, Any]:
    """A person as every list shows them: ID and phone masked, relation in words."""
    return {
        "id": person.id,
        "household_id": person.household_id,
        "name": person.name,
        "relation": person.relation.value,
        "relation_label": RELATION_LABELS[person.relation][locale == "en"],
        "id_number": mask_id_number(person.id_number) if person.id_number else None,
        "phone": mask_phone(person.phone) if person.phone else None,
        "birth_date": person.birth_date,
    }


def household_view(session: Session, household: Household, locale: str = "zh") -> dict[str, Any]:
    en = locale == "en"
    units = {
        u.id: u for u in session.scalars(
            select(OrgUnit).where(OrgUnit.id.in_({household.org_unit_id, household.registered_street_id or 0}))
        )
    }  # fmt: skip
    residence = units[household.org_unit_id]
    registered = units.get(household.registered_street_id or 0)
    head = next((m for m in household.members if m.relation == Relation.HEAD), None)
    return {
        "id": household.id,
        "head_name": head.name if head else (household.members[0].name if household.members else None),
        "residence_address": household.residence_address,
        "residence_street": residence.code,
        "residence_street_name": residence.name(locale),
        "registered_address": household.registered_address,
        "registered_street": registered.code if registered else None,
        "registered_street_name": registered.name(locale) if registered else None,
        "separated": bool(registered and registered.id != residence.id),  # 人户分离
        "hardship_category": household.hardship_category.value,
        "hardship_label": HARDSHIP_LABELS[household.hardship_category][en],
        "bank_name": household.bank_name,
        "bank_account_holder": household.bank_account_holder,
        "bank_account": mask_account(household.bank_account),
        "members": [person_view(m, locale) for m in household.members],
        "created_at": household.created_at,
    }
