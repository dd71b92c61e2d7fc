"""A supervisor changes a task's due time (set or extend, with a reason), audited and notified."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from engine.audit import service as audit
from engine.audit.models import AuditAction
from engine.db import utcnow
from engine.errors import Forbidden, Invalid
from engine.instances import rehearsal
from engine.instances import service as instances
from engine.tasks.access import _flush_assignee, _locked_with_open, _require_open
from engine.tasks.models import HumanTask
from engine.tasks.queries import open_tasks_of
from engine.users import service as users
from engine.users.models import User

# A deadline further ahead than this is a typing mistake or an attack (year 9999), never a plan.
MAX_DEADLINE_AHEAD = dt.timedelta(days=10 * 366)
_TOO_FAR = "新的到期时间不能晚于十年以后 / the new due time must be within ten years"


@rehearsal.stepping  # SQLite: the workflow is loaded before the write lock is taken (issue 18 item 10)
def change_deadline(
    session: Session,
    user: User,
    task_id: int,
    *,
    reason: str,
    due_at: dt.datetime | None = None,
    extend_by: str | None = None,
) -> HumanTask:
    """Supervisors set a new due time, or extend the current one, with a reason (audited)."""
    from engine.deadlines import calendar
    from engine.deadlines import sla as deadlines
    from engine.notifications import service as notifications
    from engine.notifications.models import NotificationKind

    row, instance, _open = _locked_with_open(session, user, task_id, deferred=True)
    _require_open(row)
    instances.ensure_running(instance)
    if not users.supervises(session, user, row):
        raise Forbidden("只有主管可以调整期限 / only supervisors may change deadlines")
    if (due_at is None) == (extend_by is None):
        message = "请给出新的到期时间或延长时长（二选一）/ give either due_at or extend_by"
        raise Invalid(message, {"due_at": [message], "extend_by": [message]})
    if extend_by is not None:
        try:
            new_due = (
                calendar.extend(row.due_at, extend_by)
                if row.due_at
                else calendar.due_after(utcnow(), extend_by)
            )
        except calendar.DeadlineError as err:
            raise Invalid.on("extend_by", str(err)) from err
        except OverflowError as err:  # e.g. P999999999D: past the last representable date
            raise Invalid.on("extend_by", _TOO_FAR) from err
    else:
        assert due_at is not None
        new_due = due_at if due_at.tzinfo else due_at.replace(tzinfo=calendar.SHANGHAI)
    field = "due_at" if due_at is not None else "extend_by"
    if new_due <= utcnow():
        message = "新的到期时间必须在将来 / the new due time must be in the future"
        raise Invalid(message, {field: [message]})
    if new_due > utcnow() + MAX_DEADLINE_AHEAD:  # reminders and escalations are computed from it
        raise Invalid(_TOO_FAR, {field: [_TOO_FAR]})
    previous = row.due_at
    meta = instances.load_spec(session, instance).task_meta(row.bpmn_id)
    deadlines.set_due(row, new_due, meta.properties if meta else None)
    row.escalated_role = None
    with session.no_autoflush:  # the workflow is loaded before the first write (a deferred lock)
        loaded = instances.load(session, instance)
        instance.next_wakeup_at = deadlines.wakeup_at(
            instance, loaded.wf, open_tasks_of(session, instance.id, display=False)
        )
    audit.record(
        session,
        AuditAction.TASK_DEADLINE_CHANGED,
        actor_id=user.id,
        instance_id=row.instance_id,
        task_id=row.id,
        details={"previous_due_at": previous, "due_at": new_due, "reason": reason},
    )
    if row.assignee_id is not None:
        notifications.notify(
            session,
            [session.get(User, row.assignee_id)],
            NotificationKind.DEADLINE_CHANGED,
            f"任务期限已调整：{row.name} / Deadline changed",
            f"任务「{row.name}」的到期时间已调整为 {calendar.local_day(new_due)}。原因：{reason}",
            row,
        )
    _flush_assignee(session, row)
    return row
