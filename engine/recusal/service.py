"""Filing near relatives and finding who must step aside from a case (回避)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, event, select
from sqlalchemy.orm import Session

from engine import crypto
from engine.audit import service as audit
from engine.audit.models import AuditAction
from engine.db import per_transaction
from engine.errors import Conflict, Forbidden, Invalid, NotFound
from engine.forms import valid_id_number
from engine.orgs.models import OrgLevel, OrgUnit
from engine.recusal.models import NearRelativeFiling
from engine.users import service as users
from engine.users.models import SUPERVISOR_ROLES, User

RELATIONS = {
    "spouse": "配偶",
    "parent": "父母",
    "child": "子女",
    "sibling": "兄弟姐妹",
    "grandparent": "祖父母、外祖父母",
    "grandchild": "孙子女、外孙子女",
    "other_close": "其他近亲属",
}


def _contains(outer: OrgUnit, inner: OrgUnit) -> bool:
    if outer.level == OrgLevel.CITY:
        return True
    if outer.level == OrgLevel.DISTRICT:
        return inner.district_id == outer.id
    if outer.level == OrgLevel.STREET:
        return inner.street_id == outer.id
    return inner.id == outer.id


def supervises_staff(actor: User, staff: User) -> bool:
    """Does one of the actor's supervising grants contain a unit the staff member works in? (A Pudong
    street head files for Pudong staff of that street, not for a Putuo officer.)"""
    return any(
        g.role in SUPERVISOR_ROLES and _contains(g.org_unit, s.org_unit)
        for g in actor.grants
        for s in staff.grants
    )


def _not_theirs() -> Forbidden:
    return Forbidden(
        "只能为本单位人员登记或撤回近亲属备案 / you may file or withdraw near relatives only for staff of your unit"
    )


def file(
    session: Session, actor: User, staff_username: str, relative_id_number: str, relation: str
) -> NearRelativeFiling:
    """Record that a staff or committee member has a near relative with this ID number (supervisors, for
    staff inside their own unit)."""
    if not any(g.role in SUPERVISOR_ROLES for g in actor.grants):
        raise Forbidden("只有主管可以登记近亲属备案 / only supervisors may file near relatives")
    problems: dict[str, list[str]] = {}
    number = relative_id_number.strip().upper()
    if not valid_id_number(number):
        problems["relative_id_number"] = ["身份证号码无效 / invalid resident ID number"]
    if relation not in RELATIONS:
        problems["relation"] = [
            f"关系必须是 {', '.join(RELATIONS)} 之一 / relation must be one of {', '.join(RELATIONS)}"
        ]
    try:
        staff = users.by_username(session, staff_username)
    except NotFound:  # only a missing user; a database outage propagates (503)
        problems["staff_username"] = [f"用户不存在 / user '{staff_username}' not found"]
        staff = None
    if problems or staff is None:
        raise Invalid("近亲属备案信息无效 / invalid filing", problems)
    if not supervises_staff(actor, staff):
        raise _not_theirs()
    row = NearRelativeFiling(
        staff_user_id=staff.id,
        relative_id_number=number,
        relative_id_index=crypto.blind_index(number),
        relation=relation,
        filed_by_id=actor.id,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        AuditAction.NEAR_RELATIVE_FILED,
        actor_id=actor.id,
        details={"filing_id": row.id, "staff": staff.username, "relation": relation},
    )
    return row


def withdraw(session: Session, actor: User, filing_id: int, reason: str) -> NearRelativeFiling:
    """Withdraw an active filing (a supervisor of the staff member's unit), with the reason audited."""
    row = session.get(NearRelativeFiling, filing_id)
    staff = session.get(User, row.staff_user_id) if row is not None else None
    if row is None or staff is None or not any(g.role in SUPERVISOR_ROLES for g in actor.grants):
        raise NotFound(f"备案不存在 / filing {filing_id} not found")
    if not supervises_staff(actor, staff):
        raise _not_theirs()
    reason = (reason or "").strip()
    if not reason:
        raise Invalid.on("reason", "请填写撤回原因 / a reason is required")
    if not row.active:
        raise Conflict("该备案已撤回 / this filing was already withdrawn")
    row.active = False
    session.flush()
    audit.record(
        session,
        AuditAction.NEAR_RELATIVE_WITHDRAWN,
        actor_id=actor.id,
        details={"filing_id": row.id, "staff": staff.username, "reason": reason},
    )
    return row


def staff_related_to(session: Session, id_number: str | None) -> list[str]:
    """Usernames of staff with this person on file as a near relative."""
    if not id_number:
        return []
    rows = session.scalars(
        select(User.username)
        .join(NearRelativeFiling, NearRelativeFiling.staff_user_id == User.id)
        .where(
            NearRelativeFiling.relative_id_index == crypto.blind_index(id_number),
            NearRelativeFiling.active.is_(True),
        )
        .order_by(User.username)
    )
    return list(dict.fromkeys(rows))


# Fields of a case or a step's form that name the person the case is about (the applicant, the Bridge
# Plan household's head, the person cared for or found on the street).
PERSON_FIELDS = ("applicant_id_number", "head_id_number", "person_id_number")

RECUSAL_MESSAGE = (
    "近亲属回避：该用户不能办理或评议此案 / recusal: this user may not handle or review this case"
)


def _numbers(*sources: Any) -> set[str]:
    found: set[str] = set()
    for source in sources:
        for name in PERSON_FIELDS:
            value = (source or {}).get(name)
            if isinstance(value, str) and value.strip():
                found.add(value.strip().upper())
    return found


def must_step_aside(session: Session, instance: Any, user: User, data: dict[str, Any] | None = None) -> bool:
    """Must ``user`` step aside from this case (回避)? Yes when named at the application (the case's
    ``excluded_users``), and — checked live, at every step — when the person the case is about (from
    the case's data or the step's submission, the application itself included) is on file as the user's
    near relative, whenever that filing was made."""
    if user.username in ((instance.data if instance is not None else None) or {}).get("excluded_users", []):
        return True
    numbers = _numbers(instance.data if instance is not None else None, data)
    return bool(numbers) and user_related_to(session, user, numbers)


# session.info, for one transaction: user id -> blind indexes of the user's active filings
_FILED = per_transaction("assistflow_near_relative_indexes")
# Built once (every completion asks): the blind indexes of one staff member's active filings.
_FILINGS_OF = select(NearRelativeFiling.relative_id_index).where(
    NearRelativeFiling.staff_user_id == bindparam("staff_user_id"), NearRelativeFiling.active.is_(True)
)


def user_related_to(session: Session, user: User, numbers: set[str]) -> bool:
    """Has ``user`` an active filing for one of these ID numbers? (The user's filings are read once per
    transaction: a completion asks at its permission check and again with the submitted data.)"""
    filed = session.info.setdefault(_FILED, {})
    if _filing_changed_here(session):
        filed.clear()  # a filing made or withdrawn here, not flushed yet
    indexes = filed.get(user.id)
    if indexes is None:
        indexes = filed[user.id] = frozenset(session.scalars(_FILINGS_OF, {"staff_user_id": user.id}))
    return any(crypto.blind_index(n) in indexes for n in numbers)


def _filing_changed_here(session: Session) -> bool:
    return any(isinstance(o, NearRelativeFiling) for o in (*session.new, *session.dirty))


@event.listens_for(Session, "before_flush")
def _filing_changed(session: Session, _context: Any, _instances: Any) -> None:
    """A filing made or withdrawn in this transaction: read them afresh."""
    if _filing_changed_here(session):
        session.info.pop(_FILED, None)


def check(
    session: Session, instance: Any, user: User, data: dict[str, Any] | None = None, field: str | None = None
) -> None:
    """Refuse (403, or 422 on ``field``) when ``user`` must step aside from the case."""
    if must_step_aside(session, instance, user, data):
        if field:
            raise Invalid.on(field, RECUSAL_MESSAGE)
        raise Forbidden(RECUSAL_MESSAGE)
