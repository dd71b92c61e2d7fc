"""Deadlines and the three-colour SLA of human tasks, BPMN timers, and the scheduler's wake-ups.

Each instance row carries ``next_wakeup_at``: the earliest of its waiting BPMN timers and the next SLA
threshold of its open tasks. A scheduler claims due instances one at a time under the same
per-instance lock a task completion takes, fires what is due (timers first, then SLA levels in
order) and recomputes the wake-up, all in one transaction: each timer and each level happens exactly
once however many schedulers run, and a scheduler killed mid-work leaves nothing half done.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from engine import expressions
from engine.audit import service as audit
from engine.audit.models import AuditAction
from engine.bpmn import runtime
from engine.db import utcnow
from engine.deadlines import calendar, schedules
from engine.deadlines.models import StartSchedule
from engine.instances.models import InstanceStatus, ProcessInstance
from engine.kernel import bus
from engine.notifications import service as notifications
from engine.notifications.models import NotificationKind
from engine.orgs.models import OrgLevel, OrgUnit
from engine.tasks.models import OPEN_STATUSES, HumanTask, SlaLevel, TaskStatus, open_clause
from engine.users.models import Role, RoleGrant, User

log = logging.getLogger("assistflow.scheduler")

# The role one level up that takes over a red task, and the supervisor told when a task is overdue.
_SUPERVISOR = {
    OrgLevel.STREET: Role.STREET_HEAD,
    OrgLevel.DISTRICT: Role.DISTRICT_HEAD,
    OrgLevel.CITY: Role.CITY_OFFICER,
}
_ESCALATE_TO = {OrgLevel.STREET: Role.DISTRICT_OFFICER, OrgLevel.DISTRICT: Role.CITY_OFFICER}


@dataclass
class SlaPolicy:
    reminder_working_days: int = 1
    red_after_working_days: int = 3


POLICY = SlaPolicy()


def configure(reminder_working_days: int | None = None, red_after_working_days: int | None = None) -> None:
    if reminder_working_days is not None:
        POLICY.reminder_working_days = reminder_working_days
    if red_after_working_days is not None:
        POLICY.red_after_working_days = red_after_working_days


# --- deadlines ---------------------------------------------------------------------------------


def deadline_for(
    properties: dict[str, str], data: dict[str, Any], start: dt.datetime
) -> tuple[dt.datetime | None, str | None]:
    """A task's due time from its BPMN ``deadline`` property, or from task data.

    ``deadline`` is a duration text ('10 working days', '10个工作日', '30 days', 'PT48H'). If it is not,
    it is read as a safe expression over the task data giving a date, a datetime or a duration text
    (e.g. ``deadline = "follow_up_due"``). ``deadline_field`` names a data field holding the same.
    """
    text = properties.get("deadline")
    if not text and properties.get("deadline_field"):
        text = properties["deadline_field"]
    if not text:
        return None, None
    try:
        return calendar.due_after(start, text), text
    except calendar.DeadlineError:
        pass
    try:
        value = expressions.evaluate(text, data)
    except expressions.ExpressionError:
        log.warning("deadline %r cannot be evaluated; task has no due time", text)
        return None, text
    return _as_due(value, start), text


def _as_due(value: Any, start: dt.datetime) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=calendar.SHANGHAI)
    if isinstance(value, dt.date):
        return calendar.end_of_day(value)
    if isinstance(value, str):
        try:
            return calendar.due_after(start, value)
        except calendar.DeadlineError:
            try:
                return _as_due(dt.datetime.fromisoformat(value), start)
            except ValueError:
                return None
    return None


def _offset(due_at: dt.datetime, text: str | None, default_working_days: int, sign: int) -> dt.datetime:
    if text:
        try:
            return calendar.shift(due_at, text, sign)
        except calendar.DeadlineError:  # refused at deploy; an older version falls back to the policy
            log.warning("SLA offset %r cannot be read; the policy default applies", text)
    return calendar.shift_working_days(due_at, sign * default_working_days)


def set_due(row: HumanTask, due_at: dt.datetime | None, properties: dict[str, str] | None = None) -> None:
    """Fix a task's due time and SLA thresholds; the levels start again from green.

    The task's BPMN properties may set its own ``reminder`` (how long before the due time the reminder
    goes out) and ``escalation`` (how long after it the task is escalated); otherwise the policy's
    working days apply.
    """
    props = properties or {}
    due_at = due_at.astimezone(dt.UTC) if due_at is not None else None
    row.due_at = due_at
    row.sla_level = SlaLevel.GREEN
    if due_at is None:
        row.warn_at = row.escalate_at = None
        return
    row.warn_at = _offset(due_at, props.get("reminder"), POLICY.reminder_working_days, -1)
    row.escalate_at = _offset(due_at, props.get("escalation"), POLICY.red_after_working_days, 1)


def thresholds(row: HumanTask) -> list[dt.datetime | None]:
    """When each level after green begins: [yellow, orange, red]."""
    return [row.warn_at, row.due_at, row.escalate_at]


def colour(row: HumanTask, now: dt.datetime | None = None) -> str:
    if row.due_at is None or row.state not in OPEN_STATUSES:
        return "green" if row.state in OPEN_STATUSES else "none"
    now = now or utcnow()
    if row.escalate_at and row.escalate_at <= now:
        return "red"
    if row.due_at <= now:
        return "orange"
    if row.warn_at and row.warn_at <= now:
        return "yellow"
    return "green"


def next_sla_at(row: HumanTask) -> dt.datetime | None:
    if row.state not in OPEN_STATUSES or row.due_at is None or row.sla_level >= SlaLevel.RED:
        return None
    return thresholds(row)[row.sla_level]


def next_wakeup(wf: Any, open_rows: list[HumanTask]) -> dt.datetime | None:
    try:
        candidates = [due for _task, due in runtime.waiting_timers(wf)]
    except runtime.EngineError:  # an unreadable timer: wake at once, the wake-up opens its incident
        candidates = [utcnow()]
    candidates += [at for at in (next_sla_at(r) for r in open_rows) if at is not None]
    return min(candidates) if candidates else None


# --- firing SLA levels ---------------------------------------------------------------------------


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
    return [
        u
        for u in session.scalars(stmt)
        if any(g.role.value == role and scope.grant_covers(session, g, row) for g in u.grants)
    ]


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
    details: dict[str, Any] = {}
    if level == SlaLevel.YELLOW:
        assignee = session.get(User, row.assignee_id) if row.assignee_id else None
        users = [assignee] if assignee else role_holders(session, row.candidate_role, row)
        kind, action = NotificationKind.REMINDER, AuditAction.TASK_REMINDED
        title = f"任务即将到期：{row.name} / Task due soon"
        body = f"任务「{row.name}」（流程实例 {instance_id}）将于 {due} 到期，请及时办理。"
    elif level == SlaLevel.ORANGE:
        role = _SUPERVISOR.get(_level_of(session, row), Role.CITY_OFFICER)
        users = role_holders(session, role.value, row)
        kind, action = NotificationKind.OVERDUE, AuditAction.TASK_OVERDUE
        title = f"任务已逾期：{row.name} / Task overdue"
        body = f"任务「{row.name}」（流程实例 {instance_id}）已于 {due} 到期未办结，请督办。"
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
        title = f"任务升级督办：{row.name} / Task escalated"
        body = f"任务「{row.name}」（流程实例 {instance_id}）逾期未办结，已升级督办（{target or '无'}）。"
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


# --- the scheduler's unit of work --------------------------------------------------------------


@dataclass
class WakeResult:
    instance_id: int
    timers: list[str] = field(default_factory=list)
    sla: list[tuple[int, int]] = field(default_factory=list)
    started_by_schedule: int | None = None


BATCH_SIZE = 20


def _due(now: dt.datetime) -> Any:
    """Running instances whose wake-up time has come, most overdue first."""
    return (
        select(ProcessInstance)
        .where(ProcessInstance.next_wakeup_at <= now, ProcessInstance.status == InstanceStatus.RUNNING)
        .order_by(ProcessInstance.next_wakeup_at, ProcessInstance.id)
    )


def claim_batch(session: Session, now: dt.datetime, size: int) -> list[ProcessInstance]:
    """Lock up to ``size`` due instances (PostgreSQL; SQLite takes one at a time)."""
    if session.get_bind().dialect.name != "postgresql":
        single = claim_due(session, now)
        return [single] if single is not None else []
    return list(session.scalars(_due(now).limit(size).with_for_update(skip_locked=True)))


def claim_due(session: Session, now: dt.datetime) -> ProcessInstance | None:
    """Lock the most overdue instance that needs attention, skipping any another worker holds."""
    stmt = _due(now).limit(1)
    if session.get_bind().dialect.name == "postgresql":
        return session.scalars(stmt.with_for_update(skip_locked=True)).one_or_none()
    from engine.instances import service as instances

    candidate = session.scalars(stmt.with_only_columns(ProcessInstance.id)).one_or_none()
    if candidate is None:
        return None
    instance = instances.lock(session, candidate)  # SQLite: the write lock; one scheduler per database
    if instance.next_wakeup_at is None or instance.next_wakeup_at > now:
        return None
    return instance


def wake(session: Session, instance: ProcessInstance, now: dt.datetime) -> WakeResult:
    """Fire the instance's due timers and SLA levels; the caller holds its lock and commits."""
    from engine.instances import service as instances

    result = WakeResult(instance.id)
    loaded = instances.load(session, instance)
    failed = False
    try:
        fired = runtime.fire_due_timers(loaded.wf)
    except runtime.EngineError as err:  # the timer fired, a step after it failed: keep both, open an incident
        from engine.incidents import service as incidents

        fired, failed = getattr(err, "fired", []), True
        incidents.record(session, instance, err, origin="timer")
    for bpmn_id, due in fired:
        audit.record(
            session,
            AuditAction.TIMER_FIRED,
            instance_id=instance.id,
            details={"bpmn_id": bpmn_id, "due_at": due, "fired_at": utcnow()},
        )
    if fired or failed:
        result.timers = [bpmn_id for bpmn_id, _due in fired]
        bus.emit(bus.TIMER_DUE, session, instance=instance, fired=fired)
        instances.save(session, loaded, actor_id=None)  # projects tasks, recomputes the wake-up
    open_rows = list(
        session.scalars(
            select(HumanTask)
            .where(HumanTask.instance_id == instance.id, open_clause())
            .order_by(HumanTask.id)
        )
    )
    for row in open_rows:
        meta = loaded.compiled.task_meta(row.bpmn_id)
        for level in fire_sla_levels(session, row, now, meta.properties if meta else None):
            result.sla.append((row.id, int(level)))
    wakeup = next_wakeup(loaded.wf, open_rows) if instance.status == InstanceStatus.RUNNING else None
    if wakeup is not None and wakeup <= now and failed:
        wakeup = now + dt.timedelta(minutes=1)  # an incident was opened: its timer is retried in a minute
    elif wakeup is not None and wakeup <= now and not fired and not result.sla:
        wakeup = now + dt.timedelta(seconds=1)  # nothing moved: never spin on one instance
    instance.next_wakeup_at = wakeup
    session.flush()
    return result


def run_due(session_factory: Any, *, limit: int = 10_000, now: dt.datetime | None = None) -> list[WakeResult]:
    """Drain due work — schedule occurrences, then instance wake-ups.

    A schedule occurrence is one transaction; instance wake-ups are claimed in small batches (each
    under its own savepoint) so that commits are shared, and the locks are held only for the batch.
    """
    done: list[WakeResult] = []
    while len(done) < limit:
        with session_factory() as session:
            moment = now or utcnow()
            schedule = schedules.claim_due(session, moment)
            if schedule is not None:
                try:
                    started = schedules.run(session, schedule)
                    session.commit()
                except Exception:
                    session.rollback()
                    log.exception("schedule %s failed; retried in a minute", schedule.id)
                    _postpone_schedule(session_factory, schedule.id)
                    continue
                done.append(WakeResult(started.id, started_by_schedule=schedule.id))
                continue
            batch = claim_batch(session, moment, BATCH_SIZE)
            if not batch:
                session.rollback()
                break
            failed = []
            for instance in batch:
                try:
                    with session.begin_nested():  # one failing instance does not undo the others
                        done.append(wake(session, instance, moment))
                except Exception:
                    log.exception("wake-up of instance %s failed; postponed", instance.id)
                    failed.append(instance.id)
            session.commit()
            for instance_id in failed:
                _postpone(session_factory, instance_id)
    return done


def _postpone_schedule(session_factory: Any, schedule_id: int) -> None:
    with session_factory() as session:
        row = session.get(StartSchedule, schedule_id)
        if row is not None and row.next_run_at is not None:
            row.next_run_at = max(row.next_run_at, utcnow()) + dt.timedelta(minutes=1)
            session.commit()


def _postpone(session_factory: Any, instance_id: int) -> None:
    """After a failing wake-up, try again in a minute instead of at once."""
    with session_factory() as session:
        row = session.get(ProcessInstance, instance_id)
        if row is not None:
            row.next_wakeup_at = utcnow() + dt.timedelta(minutes=1)
            session.commit()
