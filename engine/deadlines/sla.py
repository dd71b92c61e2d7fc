"""The pure SLA arithmetic of human tasks: a task's due time from its BPMN properties, its three-colour
thresholds (yellow at the reminder, orange at the due time, red at the escalation), its colour at a
moment, its next SLA time, and the instance's next wake-up (waiting timers and SLA thresholds)."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from engine import expressions
from engine.bpmn import runtime
from engine.db import utcnow
from engine.deadlines import calendar
from engine.instances.models import InstanceStatus, ProcessInstance
from engine.tasks.models import OPEN_STATUSES, HumanTask, SlaLevel

log = logging.getLogger("assistflow.scheduler")


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
    if isinstance(value, str):  # a duration from the data (a policy parameter): the task keeps its words
        try:
            calendar.parse_duration(value)
            return _as_due(value, start), value[:100]
        except calendar.DeadlineError:
            pass
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
    """The earliest of the workflow's waiting BPMN timers and the next SLA threshold of its open tasks."""
    try:
        candidates = [due for _task, due in runtime.waiting_timers(wf)]
    except runtime.EngineError:  # an unreadable timer: wake at once, the wake-up opens its incident
        candidates = [utcnow()]
    candidates += [at for at in (next_sla_at(r) for r in open_rows) if at is not None]
    return min(candidates) if candidates else None


def wakeup_at(instance: ProcessInstance, wf: Any, open_rows: list[HumanTask]) -> dt.datetime | None:
    """The instance's ``next_wakeup_at``: when the scheduler must next look at it (``next_wakeup``), and
    never while it is not running. Every place that recomputes the wake-up calls this."""
    if instance.status != InstanceStatus.RUNNING:
        return None
    return next_wakeup(wf, open_rows)
