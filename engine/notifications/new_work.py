"""Notices of new work: a task that lands in my personal queue, or in a group queue I serve (a role I
hold for its org unit), is announced to me in-app, and by e-mail where mail is configured and I have an
address (the notification outbox).

Batched per transaction: the kernel's ``task_opened`` and ``task_assigned`` announcements are collected
on the session and delivered once, just before it commits, as one notice per person however many tasks
the step opened (a Bridge Plan project's confirmation opens a case per household). Delivery looks at each
task as it is then: still ready → the role holders of its unit; claimed → its assignee only; already done
or cancelled in the same transaction, or gone with a rolled-back savepoint → nobody. Whoever caused the
work is not told about it.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from engine.deadlines import service as deadlines
from engine.notifications import service as notifications
from engine.notifications.models import NotificationKind
from engine.tasks.models import HumanTask, TaskStatus
from engine.users.models import User

_KEY = "assistflow.new_work"  # session.info: task id -> the user who caused the work (or None)
MAX_NAMES = 5


def _collect(session: Session, task_ids: list[int], actor_id: int | None) -> None:
    pending: dict[int, int | None] = session.info.setdefault(_KEY, {})
    for task_id in task_ids:
        pending.setdefault(task_id, actor_id)


def install() -> None:
    """Deliver the collected notices before every session's commit; forget them on a rollback."""
    if not event.contains(Session, "before_commit", _deliver):
        event.listen(Session, "before_commit", _deliver)
        event.listen(Session, "after_rollback", _forget)


def on_task_opened(session: Session, *, rows: list[Any], actor_id: int | None = None, **_: Any) -> None:
    _collect(session, [r.id for r in rows], actor_id)


def on_task_assigned(session: Session, *, row: Any, actor_id: int | None = None, **_: Any) -> None:
    _collect(session, [row.id], actor_id)


def _forget(session: Session) -> None:
    session.info.pop(_KEY, None)


def _holders(session: Session, row: HumanTask) -> list[User]:
    return deadlines.role_holders(session, row.candidate_role, row)


def _deliver(session: Session) -> None:
    pending: dict[int, int | None] = session.info.pop(_KEY, None) or {}
    if not pending:
        return
    rows = list(
        session.scalars(select(HumanTask).where(HumanTask.id.in_(list(pending))).order_by(HumanTask.id))
    )
    by_user: dict[int, list[HumanTask]] = defaultdict(list)
    people: dict[int, User] = {}
    holders_of: dict[tuple[str, int, int | None, int | None], list[User]] = {}
    for row in rows:
        if row.state == TaskStatus.CLAIMED and row.assignee_id is not None:
            assignee = session.get(User, row.assignee_id)
            recipients = [assignee] if assignee is not None else []
        elif row.state == TaskStatus.READY:
            key = (row.candidate_role, row.org_unit_id, row.street_id, row.district_id)
            if key not in holders_of:
                holders_of[key] = _holders(session, row)
            recipients = holders_of[key]
        else:
            continue
        for person in recipients:
            if person.id == pending[row.id] or not person.is_active:
                continue
            people[person.id] = person
            by_user[person.id].append(row)
    for user_id, tasks in by_user.items():
        names = "、".join(t.name for t in tasks[:MAX_NAMES]) + ("等" if len(tasks) > MAX_NAMES else "")
        if len(tasks) == 1:
            title = f"新待办：{tasks[0].name} / New task"
            mine = tasks[0].assignee_id == user_id
            body = (
                f"「{tasks[0].name}」已进入{'您的待办' if mine else '您所在岗位的待认领'}。 / "
                f'"{tasks[0].name}" is now {"in your tasks" if mine else "to be claimed by your role"}.'
            )
        else:
            title = f"新待办 {len(tasks)} 项 / {len(tasks)} new tasks"
            body = f"有 {len(tasks)} 项新待办：{names}。 / {len(tasks)} new tasks are waiting."
        notifications.notify(
            session,
            [people[user_id]],
            NotificationKind.NEW_TASK,
            title,
            body,
            tasks[0] if len(tasks) == 1 else None,
        )
