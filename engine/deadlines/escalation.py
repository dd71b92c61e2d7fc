"""Firing SLA levels: who is reminded, told of an overdue task or handed an escalated one; each level
notified and audited once."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from engine.audit import service as audit
from engine.audit.models import AuditAction
from engine.deadlines import calendar
from engine.deadlines.sla import thresholds
from engine.instances.models import ProcessInstance
from engine.notifications import service as notifications
from engine.notifications.models import NotificationKind
from engine.orgs.models import OrgLevel, OrgUnit
from engine.tasks.models import OPEN_STATUSES, HumanTask, SlaLevel, TaskStatus
from engine.tasks.names import step_names
from engine.users.models import Role, RoleGrant, User, role_name

# The role one level up that takes over a red task, and the supervisor told when a task is overdue.
_SUPERVISOR = {
    OrgLevel.STREET: Role.STREET_HEAD,
    OrgLevel.DISTRICT: Role.DISTRICT_HEAD,
    OrgLevel.CITY: Role.CITY_OFFICER,
}


_ESCALATE_TO = {OrgLevel.STREET: Role.DISTRICT_OFFICER, OrgLevel.DISTRICT: Role.CITY_OFFICER}


def _level_of(session: Session, row: HumanTask) -> OrgLevel:
    unit = session.get(OrgUnit, row.org_unit_id)
    level = unit.level if unit else OrgLevel.STREET
    return OrgLevel.STREET if level == OrgLevel.COMMITTEE else level


def role_holders(session: Session, role: str, row: HumanTask) -> list[User]:
    """Active users holding ``role`` by a grant that covers the task: its org unit, its procedure and, for
    a grant bound to projects or pairings, its case (engine.scope)."""
    from engine import scope

    units = [u for u in (row.org_unit_id, row.street_id, row.district_id) if u is not None]
    stmt = (
        select(User)
        .join(RoleGrant, RoleGrant.user_id == User.id)
        .join(OrgUnit, OrgUnit.id == RoleGrant.org_unit_id)
        .where(RoleGrant.role == role, User.is_active.is_(True))
        .where(or_(OrgUnit.id.in_(units), OrgUnit.level == OrgLevel.CITY))
        .distinct()
        .order_by(User.id)
    )
    holders = [
        u
        for u in session.scalars(stmt)
        if any(g.role.value == role and scope.grant_covers(session, g, row) for g in u.grants)
    ]
    if row.service_org_id is not None and role == row.candidate_role:  # one organisation's step
        from engine.serviceorgs import service as serviceorgs

        members = set(serviceorgs.member_ids(session, row.service_org_id))
        holders = [u for u in holders if u.id in members]
    return holders


def escalation_target(session: Session, row: HumanTask, properties: dict[str, str] | None) -> str | None:
    """The role a red task goes to: the task's ``escalate_to`` property, else one level up."""
    named = (properties or {}).get("escalate_to", "").strip()
    if named in {r.value for r in Role}:
        return named
    target = _ESCALATE_TO.get(_level_of(session, row))
    return target.value if target else None


def _fire(session: Session, row: HumanTask, level: SlaLevel, properties: dict[str, str] | None) -> None:
    """One SLA level's effect: who is told, what changes on the task; then notify and audit once."""
    instance_id, due = row.instance_id, calendar.local_day(row.due_at) if row.due_at else None
    instance = session.get(ProcessInstance, instance_id)
    case = (instance.business_key if instance is not None else None) or f"#{instance_id}"
    english = step_names(session, "en").task(row)
    step = f"「{row.name}」（案件 {case}）", f'"{english}" (case {case})'
    details: dict[str, Any] = {}
    if level == SlaLevel.YELLOW:
        assignee = session.get(User, row.assignee_id) if row.assignee_id else None
        users = [assignee] if assignee else role_holders(session, row.candidate_role, row)
        kind, action = NotificationKind.REMINDER, AuditAction.TASK_REMINDED
        title = f"待办即将到期：{row.name} / Task due soon"
        body = f"待办{step[0]}将于 {due} 到期，请及时办理。 / The task {step[1]} is due on {due}."
    elif level == SlaLevel.ORANGE:
        role = _SUPERVISOR.get(_level_of(session, row), Role.CITY_OFFICER)
        users = role_holders(session, role.value, row)
        kind, action = NotificationKind.OVERDUE, AuditAction.TASK_OVERDUE
        title = f"待办已逾期：{row.name} / Task overdue"
        body = (
            f"待办{step[0]}已于 {due} 到期未办结，请督办。 / The task {step[1]} was due on {due} and is "
            "not done: please follow it up."
        )
        details["supervisor_role"] = role.value
    else:
        target = escalation_target(session, row, properties)
        details["previous_assignee_id"] = row.assignee_id
        if target is not None:
            # Offered to the target group: released from its assignee so that group can claim it
            # (the original role holders still can too).
            row.escalated_role = target
            row.state, row.assignee_id, row.claimed_at = TaskStatus.READY, None, None
        details["escalated_role"] = row.escalated_role
        users = role_holders(session, target, row) if target else []
        kind, action = NotificationKind.ESCALATION, AuditAction.TASK_ESCALATED
        title = f"待办升级督办：{row.name} / Task escalated"
        body = (
            f"待办{step[0]}逾期未办结，已升级督办（{role_name(target, 'zh') if target else '无人可接'}）。 / "
            f"The task {step[1]} is overdue and has been escalated "
            f"({role_name(target, 'en') if target else 'no one to take it'})."
        )
    notifications.notify(session, users, kind, title, body, row)
    details["notified"] = [u.username for u in users]
    audit.record(session, action, instance_id=instance_id, task_id=row.id, details=details)


def fire_sla_levels(
    session: Session, row: HumanTask, now: dt.datetime, properties: dict[str, str] | None = None
) -> list[SlaLevel]:
    """Fire every SLA level the task has reached and not yet fired, in order (``properties``: the task's
    BPMN properties, for its ``escalate_to``)."""
    fired = []
    while row.state in OPEN_STATUSES and row.sla_level < SlaLevel.RED:
        at = thresholds(row)[row.sla_level]
        if at is None or at > now:
            break
        level = SlaLevel(row.sla_level + 1)
        row.sla_level = level
        _fire(session, row, level, properties)
        fired.append(level)
    return fired
