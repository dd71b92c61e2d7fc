"""Service organisations and their members: admins register an organisation and add or remove its member
users (each change audited); a 3A case's matching names one, and the referral and service steps then
belong to that organisation's members only (engine.tasks.access, engine.scope).

The 3A guidance (浦东新区 服务型社会救助指导意见, seed 001) refers a case to the matched service
organisation; who inside an agency may accept it is not written there: our default is the members an
admin recorded for that organisation, and nobody else — an agency role held for the unit is not enough.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from engine.audit import service as audit
from engine.audit.models import AuditAction
from engine.db import utcnow
from engine.errors import Conflict, Invalid, NotFound
from engine.orgs import service as orgs
from engine.orgs.models import OrgLevel, OrgUnit
from engine.serviceorgs.models import ServiceOrganisation, ServiceOrganisationMember
from engine.users.models import User

CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{1,31}$")
FIELD_PROPERTY = "service_org_field"  # BPMN property: the case data field naming the step's organisation


def list_all(session: Session) -> list[ServiceOrganisation]:
    stmt = select(ServiceOrganisation).order_by(ServiceOrganisation.code)
    return list(session.scalars(stmt.options(selectinload(ServiceOrganisation.members))))


def by_code(session: Session, code: str) -> ServiceOrganisation:
    found = session.scalar(select(ServiceOrganisation).where(ServiceOrganisation.code == code))
    if found is None:
        raise NotFound(f"服务机构不存在 / no service organisation '{code[:40]}'")
    return found


def _name(name: str | None) -> str:
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise Invalid.on("name", "机构名称不能为空，最多 200 字 / name: 1–200 characters")
    return name


def _district(session: Session, district_code: str | None) -> OrgUnit | None:
    """The district an organisation serves, by code; none (empty) means anywhere."""
    if not district_code:
        return None
    try:
        district = orgs.by_code(session, district_code)
    except NotFound as err:
        raise Invalid.on("district", err.message) from err
    if district.level != OrgLevel.DISTRICT:
        raise Invalid.on("district", "应为区级单位 / must be a district")
    return district


def create(
    session: Session, *, code: str, name: str, district_code: str | None = None, actor_id: int | None = None
) -> ServiceOrganisation:
    """Register an organisation (audited). ``district_code``: the district it serves (none: anywhere)."""
    code = (code or "").strip()
    if not CODE.match(code):
        raise Invalid.on(
            "code", "机构编码应为 2–32 位字母、数字、- 或 _ / code: 2–32 letters, digits, - or _"
        )
    name = _name(name)
    district = _district(session, district_code)
    if session.scalar(select(ServiceOrganisation.id).where(ServiceOrganisation.code == code)) is not None:
        raise Conflict(
            f"机构编码已存在 / code '{code}' already exists",
            {"code": ["机构编码已存在 / code already exists"]},
        )
    row = ServiceOrganisation(
        code=code,
        name=name,
        district_id=district.id if district else None,
        created_at=utcnow(),
        created_by_id=actor_id,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        AuditAction.SERVICE_ORG_CREATED,
        actor_id=actor_id,
        details={"code": code, "name": name, "district": district.code if district else None},
    )
    return row


UNCHANGED: Any = object()  # an argument of :func:`update` left as it is


def update(
    session: Session,
    code: str,
    *,
    name: str | None = None,
    district_code: str | None = UNCHANGED,
    active: bool | None = None,
    reason: str = "",
    actor_id: int | None = None,
) -> tuple[ServiceOrganisation, dict[str, list[Any]]]:
    """Rename an organisation, change the district it serves (``None`` or empty: anywhere), deactivate or
    reactivate it; one audit event names each change with its value before and after (nothing changed:
    nothing written). Deactivating needs a reason. A deactivated organisation cannot be matched with a
    new case (:func:`check_match`); the referrals it already has stay with its members to finish.
    Returns the organisation and the changes: each field changed, with its value before and after
    (empty: nothing changed)."""
    organisation = by_code(session, code)
    reason = (reason or "").strip()[:500]
    changes: dict[str, list[Any]] = {}
    renamed = _name(name) if name is not None else organisation.name
    if renamed != organisation.name:
        changes["name"] = [organisation.name, renamed]
        organisation.name = renamed
    if district_code is not UNCHANGED:
        district = _district(session, district_code)
        if (district.id if district else None) != organisation.district_id:
            before = organisation.district.code if organisation.district is not None else None
            changes["district"] = [before, district.code if district else None]
            organisation.district_id = district.id if district else None
    if active is not None and active != organisation.active:
        if not active and not reason:
            raise Invalid.on("reason", "停用服务机构须说明原因 / say why the organisation is deactivated")
        changes["active"] = [organisation.active, active]
        organisation.active = active
    if not changes:
        return organisation, changes
    session.flush()
    session.expire(organisation, ["district"])
    audit.record(
        session,
        AuditAction.SERVICE_ORG_UPDATED,
        actor_id=actor_id,
        details={"organisation": organisation.code, "changes": changes, "reason": reason},
    )
    return organisation, changes


def open_referrals(session: Session) -> dict[int, int]:
    """Open tasks (not yet completed) per organisation they belong to."""
    from engine.tasks.models import HumanTask, open_clause  # tasks read this package; import late

    rows = session.execute(
        select(HumanTask.service_org_id, func.count())
        .where(HumanTask.service_org_id.is_not(None), open_clause())
        .group_by(HumanTask.service_org_id)
    )
    return {org_id: count for org_id, count in rows if org_id is not None}


def _user(session: Session, username: str) -> User:
    found = session.scalar(select(User).where(User.username == (username or "").strip()))
    if found is None:
        raise Invalid.on("username", f"用户不存在 / no user '{str(username)[:64]}'")
    return found


def add_member(
    session: Session, code: str, username: str, *, actor_id: int | None = None, reason: str = ""
) -> ServiceOrganisationMember:
    """Make a user a member of the organisation (audited); a deactivated user or a member twice is refused."""
    organisation = by_code(session, code)
    user = _user(session, username)
    if not user.is_active:
        raise Invalid.on("username", "该用户已停用 / the user is deactivated")
    if any(m.user_id == user.id for m in organisation.members):
        raise Conflict(
            "该用户已是本机构成员 / the user is already a member",
            {"username": ["该用户已是本机构成员 / already a member"]},
        )
    member = ServiceOrganisationMember(user_id=user.id, added_at=utcnow(), added_by_id=actor_id)
    organisation.members.append(member)
    session.flush()
    audit.record(
        session,
        AuditAction.SERVICE_ORG_MEMBER_ADDED,
        actor_id=actor_id,
        details={
            "organisation": organisation.code,
            "username": user.username,
            "reason": (reason or "")[:500],
        },
    )
    return member


def remove_member(
    session: Session, code: str, username: str, *, actor_id: int | None = None, reason: str = ""
) -> None:
    """Remove a member (audited). One who holds a claimed open task of the organisation must hand it back
    first (409): the task would otherwise sit with someone no longer allowed to complete it."""
    from engine.tasks.models import HumanTask, TaskStatus  # tasks read this package; import late

    organisation = by_code(session, code)
    user = _user(session, username)
    member = next((m for m in organisation.members if m.user_id == user.id), None)
    if member is None:
        raise NotFound(f"该用户不是本机构成员 / '{user.username}' is not a member of {organisation.code}")
    held = session.scalar(
        select(func.count()).where(
            HumanTask.service_org_id == organisation.id,
            HumanTask.assignee_id == user.id,
            HumanTask.state == TaskStatus.CLAIMED,
        )
    )
    if held:
        raise Conflict(
            f"该成员仍认领着本机构的 {held} 项任务，请先退回或改派 / the member holds {held} open task(s) of "
            "this organisation: unclaim or reassign them first",
            {"username": [f"仍认领着 {held} 项任务 / holds {held} open task(s)"]},
        )
    organisation.members.remove(member)
    session.flush()
    audit.record(
        session,
        AuditAction.SERVICE_ORG_MEMBER_REMOVED,
        actor_id=actor_id,
        details={
            "organisation": organisation.code,
            "username": user.username,
            "reason": (reason or "")[:500],
        },
    )


def organisation_ids_of(session: Session, user: User) -> list[int]:
    """The organisations the user is a member of."""
    return list(
        session.scalars(
            select(ServiceOrganisationMember.organisation_id).where(
                ServiceOrganisationMember.user_id == user.id
            )
        )
    )


def member_ids(session: Session, org_id: int) -> list[int]:
    """The users who are members of the organisation."""
    return list(
        session.scalars(
            select(ServiceOrganisationMember.user_id).where(
                ServiceOrganisationMember.organisation_id == org_id
            )
        )
    )


def admits(session: Session, user: User, row: Any) -> bool:
    """May the user act on a task as far as its organisation goes (none, or one they are a member of)?"""
    org_id = getattr(row, "service_org_id", None)
    if org_id is None:
        return True
    return (
        session.scalar(
            select(ServiceOrganisationMember.id).where(
                ServiceOrganisationMember.organisation_id == org_id,
                ServiceOrganisationMember.user_id == user.id,
            )
        )
        is not None
    )


def name_of(session: Session, org_id: int | None) -> str | None:
    found = session.get(ServiceOrganisation, org_id) if org_id is not None else None
    return found.name if found else None


def of_step(session: Session, properties: dict[str, str], data: dict[str, Any]) -> int | None:
    """The organisation a step belongs to: the BPMN property ``service_org_field`` names the case data
    field holding its code (a 3A referral to the matched organisation)."""
    field = properties.get(FIELD_PROPERTY)
    code = data.get(field) if field else None
    if not field or not isinstance(code, str) or not code:
        return None
    with session.no_autoflush:  # read while a step is computed: no write before the lock
        found = session.scalar(select(ServiceOrganisation.id).where(ServiceOrganisation.code == code))
    if found is None:  # the matching step checked it; an organisation removed since leaves no one
        raise Invalid.on(field, f"服务机构不存在 / no service organisation '{code[:40]}'")
    return found


def _unmatchable(organisation: ServiceOrganisation, district_id: int | None) -> str | None:
    """Why a case of ``district_id`` cannot be matched with this organisation (None: it can): it must be
    active, serve that district or anywhere, and have a member to take the referral."""
    if not organisation.active:
        return f"服务机构已停用：{organisation.name} / the organisation is inactive"
    if organisation.district_id is not None and organisation.district_id != district_id:
        return f"{organisation.name} 不服务本区 / {organisation.code} does not serve this district"
    if not organisation.members:
        return (
            f"{organisation.name} 尚无成员用户，无法接收转介 / "
            f"{organisation.code} has no member users to take the referral"
        )
    return None


def matchable(session: Session, district_id: int | None) -> list[ServiceOrganisation]:
    """The organisations a case of ``district_id`` may be matched with (those :func:`check_match`
    accepts), by name."""
    found = [o for o in list_all(session) if _unmatchable(o, district_id) is None]
    return sorted(found, key=lambda o: (o.name, o.code))


def check_match(session: Session, code: str, instance: Any, field: str) -> ServiceOrganisation:
    """The organisation a case is matched with: registered, and one :func:`matchable` lists for the
    case's district (422 on ``field`` otherwise, saying why not)."""
    found = session.scalar(select(ServiceOrganisation).where(ServiceOrganisation.code == code))
    if found is None:
        raise Invalid.on(field, f"服务机构不存在：{code[:40]} / no service organisation '{code[:40]}'")
    refused = _unmatchable(found, instance.district_id)
    if refused is not None:
        raise Invalid.on(field, refused)
    return found
