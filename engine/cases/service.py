"""Cases as staff look for them: a case list with filters, and search by ID number, name, phone or case
number; starting a case for a household and its applicant.

Results are scoped exactly as cases are (``engine.scope.visible_clause``; admins see everything). A
search by a person's number (ID number, its tail, a phone) finds the cases of every household that
person belongs to; a search by ID number is an audited read (``case.searched``).
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, and_, exists, or_, select, type_coerce
from sqlalchemy.orm import Session, joinedload

from engine import crypto
from engine.audit import service as audit
from engine.audit.models import AuditAction
from engine.deadlines.calendar import SHANGHAI
from engine.errors import Conflict, Invalid
from engine.households import service as households
from engine.households.models import CaseHousehold, Person
from engine.instances import rehearsal
from engine.instances import service as instances
from engine.instances.models import InstanceStatus, ProcessInstance
from engine.scope import visible_clause
from engine.tasks.models import HumanTask, TaskStatus
from engine.users import service as users
from engine.users.models import User

MIN_NAME = 2  # characters of a name (a prefix)
MIN_CASE_NUMBER = 4  # characters of a case number (a prefix)
EARLIEST, LATEST = dt.date(1900, 1, 1), dt.date(2999, 12, 31)  # of the date filters
MAX_PERSONS = 200  # people a name search looks at (a name is a search term, not a list of everyone)


class CaseStatus(enum.StrEnum):
    ACTIVE = "active"  # 办理中
    CLOSED = "closed"  # 已办结
    REFUSED = "refused"  # 不予受理 / 不予批准 (the case ended with outcome "rejected")
    TERMINATED = "terminated"  # 已终止


STATUS_LABELS = {
    CaseStatus.ACTIVE: ("办理中", "In progress"),
    CaseStatus.CLOSED: ("已办结", "Closed"),
    CaseStatus.REFUSED: ("不予受理", "Refused"),
    CaseStatus.TERMINATED: ("已终止", "Terminated"),
}


def _outcome() -> Any:
    return type_coerce(ProcessInstance.data, JSON)["outcome"].as_string()


def status_of(instance: ProcessInstance) -> CaseStatus:
    if instance.status in (InstanceStatus.RUNNING, InstanceStatus.SUSPENDED):
        return CaseStatus.ACTIVE
    if instance.status == InstanceStatus.TERMINATED:
        return CaseStatus.TERMINATED
    return CaseStatus.REFUSED if (instance.data or {}).get("outcome") == "rejected" else CaseStatus.CLOSED


def _status_clause(status: CaseStatus) -> Any:
    if status == CaseStatus.ACTIVE:
        return ProcessInstance.status.in_([InstanceStatus.RUNNING, InstanceStatus.SUSPENDED])
    if status == CaseStatus.TERMINATED:
        return ProcessInstance.status == InstanceStatus.TERMINATED
    done = ProcessInstance.status == InstanceStatus.COMPLETED
    if status == CaseStatus.REFUSED:
        return and_(done, _outcome() == "rejected")
    return and_(done, or_(_outcome().is_(None), _outcome() != "rejected"))


@dataclass
class Query:
    mine: bool = False
    process_key: str | None = None
    status: str | None = None
    step: str | None = None
    started_from: dt.date | None = None
    started_to: dt.date | None = None
    id_number: str | None = None
    id_tail: str | None = None
    name: str | None = None
    phone: str | None = None
    case_number: str | None = None


def _prefix(column: Any, text: str) -> Any:
    """``column`` starts with ``text``, as a range both databases answer from a plain b-tree index."""
    return and_(column >= text, column < text + "\U0010ffff")


def _check(q: Query) -> None:
    problems: dict[str, list[str]] = {}
    if q.name is not None and len(q.name.strip()) < MIN_NAME:
        problems["name"] = [f"至少 {MIN_NAME} 个字 / at least {MIN_NAME} characters"]
    if q.id_tail is not None:
        if not re.fullmatch(r"\d{3,5}[\dXx]", q.id_tail.strip()):
            problems["id_tail"] = ["应为身份证号后 4–6 位 / the last 4 to 6 characters of an ID number"]
        elif not q.name:
            problems["name"] = ["按证件号后几位查找时须同时填写姓名 / give a name with the last digits"]
    if q.case_number is not None and len(q.case_number.strip()) < MIN_CASE_NUMBER:
        problems["case_number"] = [f"至少 {MIN_CASE_NUMBER} 个字符 / at least {MIN_CASE_NUMBER} characters"]
    if q.id_number is not None:
        try:
            households.check_id_number(q.id_number)
        except Invalid as err:
            problems.update(err.fields)
    if q.phone is not None:
        try:
            households.check_phone(q.phone)
        except Invalid as err:
            problems.update(err.fields)
    if q.status is not None and q.status not in {s.value for s in CaseStatus}:
        problems["status"] = ["未知状态 / unknown status"]
    for key in ("started_from", "started_to"):
        day = getattr(q, key)
        if day is not None and not EARLIEST <= day <= LATEST:
            problems[key] = [f"日期应在 {EARLIEST} 至 {LATEST} 之间 / a date from {EARLIEST} to {LATEST}"]
    if q.started_from and q.started_to and q.started_from > q.started_to:
        problems["started_to"] = ["结束日期早于开始日期 / the end is before the start"]
    if problems:
        raise Invalid("查找条件有误 / invalid search", problems)


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), SHANGHAI).astimezone(dt.UTC)


def _person_households(q: Query) -> Any:
    """A subquery of the household ids the person terms name, or None when there are none."""
    persons = select(Person.household_id)
    if q.id_number:
        return persons.where(Person.id_index == crypto.blind_index(households.check_id_number(q.id_number)))
    if q.phone:
        return persons.where(Person.phone_index == crypto.blind_index(households.check_phone(q.phone)))
    if q.name:
        return persons.where(_prefix(Person.name, q.name.strip()))
    return None


def _cases_of_households(household_ids: Any) -> Any:
    return select(CaseHousehold.instance_id).where(CaseHousehold.household_id.in_(household_ids))


def _tail_households(session: Session, q: Query) -> list[int]:
    """Households of people with this name whose ID number ends with the tail (decrypted to compare)."""
    tail = (q.id_tail or "").strip().upper()
    rows = session.execute(
        select(Person.household_id, Person.id_number)
        .where(_prefix(Person.name, (q.name or "").strip()), Person.id_last4 == tail[-4:])
        .limit(MAX_PERSONS)
    )
    return sorted({h for h, number in rows if number and number.endswith(tail)})


def search(
    session: Session, user: User, q: Query, *, page: int = 1, per_page: int = 50, channel: str = "api"
) -> tuple[list[ProcessInstance], bool]:
    """One page of the cases the caller may see that match ``q``, newest first, and whether more follow."""
    _check(q)
    stmt = select(ProcessInstance)
    if not users.is_admin(user):
        stmt = stmt.where(visible_clause(session, user, ProcessInstance))
    if q.mine:
        worked = exists().where(
            HumanTask.instance_id == ProcessInstance.id,
            or_(HumanTask.completed_by_id == user.id, HumanTask.assignee_id == user.id),
        )
        stmt = stmt.where(or_(ProcessInstance.started_by_id == user.id, worked))
    if q.process_key:
        stmt = stmt.where(ProcessInstance.process_key == q.process_key)
    if q.status:
        stmt = stmt.where(_status_clause(CaseStatus(q.status)))
    if q.step:
        stmt = stmt.where(
            exists().where(
                HumanTask.instance_id == ProcessInstance.id,
                HumanTask.bpmn_id == q.step,
                HumanTask.state.in_([TaskStatus.READY, TaskStatus.CLAIMED]),
            )
        )
    if q.started_from:
        stmt = stmt.where(ProcessInstance.started_at >= _day_start(q.started_from))
    if q.started_to:
        stmt = stmt.where(ProcessInstance.started_at < _day_start(q.started_to + dt.timedelta(days=1)))
    if q.case_number:
        stmt = stmt.where(_prefix(ProcessInstance.business_key, q.case_number.strip()))
    if q.id_tail:
        stmt = stmt.where(ProcessInstance.id.in_(_cases_of_households(_tail_households(session, q) or [0])))
    else:
        named = _person_households(q)
        if named is not None:
            stmt = stmt.where(ProcessInstance.id.in_(_cases_of_households(named)))
    rows = list(
        session.scalars(
            stmt.order_by(ProcessInstance.started_at.desc(), ProcessInstance.id.desc())
            .limit(per_page + 1)
            .offset((page - 1) * per_page)
            .options(joinedload(ProcessInstance.definition), joinedload(ProcessInstance.org_unit))
        )
    )
    if q.id_number or q.id_tail:
        audit.record(
            session,
            AuditAction.CASE_SEARCHED,
            actor_id=user.id,
            details={
                "by": "id_number" if q.id_number else "id_tail",
                "id_number": q.id_number.strip().upper() if q.id_number else None,
                "name": q.name if q.id_tail else None,
                "instance_ids": [r.id for r in rows[:per_page]],
                "channel": channel,
            },
        )
    return rows[:per_page], len(rows) > per_page


def start_case(
    session: Session,
    user: User,
    process_key: str,
    org_unit_code: str,
    *,
    household_id: int | None = None,
    applicant_person_id: int | None = None,
    business_key: str | None = None,
    data: Any = None,
) -> ProcessInstance:
    """Start a case, naming its household and applicant when the procedure has one. The household and
    the applicant (a member of it) are checked before anything is stored."""
    if applicant_person_id is not None and household_id is None:
        household_id = households.get_person(session, user, applicant_person_id).household_id
    if household_id is not None:
        household = households.get(session, user, household_id)
        if applicant_person_id is not None and applicant_person_id not in {m.id for m in household.members}:
            raise Invalid.on(
                "applicant_person_id",
                "申请人须是该家庭的成员 / the applicant must be a member of the household",
            )
    instance = instances.start(
        session, user, process_key, org_unit_code, business_key=business_key, data=data
    )
    if household_id is not None:
        households.link_case(session, user, instance, household_id, applicant_person_id)
    return instance


@rehearsal.rehearsing  # SQLite: the first step is evaluated before the write lock (issue 18 item 10)
def start_with_first_step(
    session: Session,
    user: User,
    process_key: str,
    org_unit_code: str,
    first_step: str,
    data: Any,
    *,
    household_id: int | None = None,
    applicant_person_id: int | None = None,
    business_key: str | None = None,
) -> ProcessInstance:
    """Start a case (:func:`start_case`) and complete its first step ``first_step`` with ``data`` in the
    same transaction: a refused form keeps nothing. Inserting the case comes before the step, so on SQLite
    the step's user expressions (its form's rules, the steps after it, their deadlines) are worked out
    with no write lock held and the operation is run again to write them (engine.instances.rehearsal)."""
    from engine.tasks import service as tasks

    instance = start_case(
        session,
        user,
        process_key,
        org_unit_code,
        household_id=household_id,
        applicant_person_id=applicant_person_id,
        business_key=business_key,
    )
    first = next(
        (r for r in tasks.open_tasks_of(session, instance.id, display=False) if r.bpmn_id == first_step), None
    )
    if first is None:
        raise Conflict("流程没有停在第一步 / the procedure did not stop at its first step")
    tasks.complete(session, user, first.id, data)
    return instance


def rows_view(
    session: Session,
    rows: list[ProcessInstance],
    locale: str = "zh",
    step_name: Callable[[Any], str] | None = None,
) -> list[dict[str, Any]]:
    """What a case list shows per case: number, procedure, applicant, status, current steps (each named
    by ``step_name(row)`` when given, a row of the task's name, form key, procedure key and element id:
    a page's language)."""
    ids = [r.id for r in rows]
    named = households.parties(session, ids)
    steps: dict[int, list[str]] = {}
    if ids:
        for row in session.execute(
            select(
                HumanTask.instance_id,
                HumanTask.name,
                HumanTask.form_key,
                HumanTask.process_key,
                HumanTask.bpmn_id,
            )
            .where(
                HumanTask.instance_id.in_(ids), HumanTask.state.in_([TaskStatus.READY, TaskStatus.CLAIMED])
            )
            .order_by(HumanTask.id)
        ):
            steps.setdefault(row.instance_id, []).append(step_name(row) if step_name else row.name)
    en = locale == "en"
    return [
        {
            "instance": r,
            "case_number": r.business_key or f"#{r.id}",
            "applicant": named.get(r.id, (None, None, None))[2],
            "applicant_person_id": named.get(r.id, (None, None, None))[1],
            "household_id": named.get(r.id, (None, None, None))[0],
            "status": status_of(r).value,
            "status_label": STATUS_LABELS[status_of(r)][en],
            "steps": steps.get(r.id, []),
        }
        for r in rows
    ]
