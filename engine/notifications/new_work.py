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

from sqlalchemy import Select, bindparam, event, inspect, or_, select
from sqlalchemy.orm import Session, contains_eager

from engine import scope
from engine.notifications import service as notifications
from engine.notifications.models import NotificationKind
from engine.orgs.models import OrgLevel, OrgUnit
from engine.serviceorgs import service as serviceorgs
from engine.tasks.models import HumanTask, TaskStatus
from engine.users.models import RoleGrant, User

_KEY = "assistflow.new_work"  # session.info: task id -> the user who caused the work (or None)
_ROWS = "assistflow.new_work_rows"  # session.info: task id -> its row (kept: the session holds it weakly)
MAX_NAMES = 5


def _collect(session: Session, rows: list[Any], actor_id: int | None) -> None:
    pending: dict[int, int | None] = session.info.setdefault(_KEY, {})
    kept: dict[int, Any] = session.info.setdefault(_ROWS, {})
    for row in rows:
        pending.setdefault(row.id, actor_id)
        kept[row.id] = row


def install() -> None:
    """Deliver the collected notices before every session's commit; forget them on a rollback."""
    if not event.contains(Session, "before_commit", _deliver):
        event.listen(Session, "before_commit", _deliver)
        event.listen(Session, "after_rollback", _forget)


def on_task_opened(session: Session, *, rows: list[Any], actor_id: int | None = None, **_: Any) -> None:
    _collect(session, rows, actor_id)


def on_task_assigned(session: Session, *, row: Any, actor_id: int | None = None, **_: Any) -> None:
    _collect(session, [row], actor_id)


def _forget(session: Session) -> None:
    session.info.pop(_KEY, None)
    session.info.pop(_ROWS, None)


_GRANTS: list[Select[Any]] = []  # built once: the grants that may make someone a holder


def _grants_stmt() -> Select[Any]:
    if not _GRANTS:
        _GRANTS.append(
            select(RoleGrant)
            .join(User, User.id == RoleGrant.user_id)
            .join(OrgUnit, OrgUnit.id == RoleGrant.org_unit_id)
            .options(contains_eager(RoleGrant.org_unit))
            .where(RoleGrant.role == bindparam("role"), User.is_active.is_(True))
            .where(or_(OrgUnit.id.in_(bindparam("units", expanding=True)), OrgUnit.level == OrgLevel.CITY))
            .order_by(RoleGrant.user_id, RoleGrant.id)
        )
    return _GRANTS[0]


def _holders(session: Session, row: Any, grants: list[RoleGrant]) -> list[int]:
    """Ids of the active users holding the task's role by a grant that covers it, in id order: the same
    people as ``deadlines.role_holders``, checked on the grants of that role in the task's units alone
    (read by one prebuilt statement, shared by the batch's tasks in the same units; no User objects or
    their other grants loaded — a User is loaded only for someone who gets a notice)."""
    out: list[int] = []
    for grant in grants:
        if (not out or out[-1] != grant.user_id) and scope.grant_covers(session, grant, row):
            out.append(grant.user_id)
    return out


_TASKS: list[Any] = []  # built once: the columns delivery reads of the collected tasks


# The columns delivery and the scope check read of a task.
_READ = frozenset(
    (
        "id",
        "name",
        "state",
        "assignee_id",
        "candidate_role",
        "org_unit_id",
        "street_id",
        "district_id",
        "process_key",
        "instance_id",
        "service_org_id",
    )
)


def _held(session: Session, kept: dict[int, Any], task_ids: list[int]) -> list[Any] | None:
    """The collected task rows themselves, in id order, when the session still holds every one of them
    with the columns delivery reads loaded (none expunged or expired by a rolled-back savepoint, none
    deleted): they were opened or assigned in this transaction, and a task row changes only through the
    ORM (the app issues no bulk UPDATE or DELETE of ``human_task``), under its case's lock, so they are
    as the database has them once flushed. None otherwise (they are read)."""
    held = []
    for task_id in sorted(task_ids):
        task = kept.get(task_id)
        if task is None or task.id != task_id:
            return None
        state = inspect(task)
        if (
            state.session_id != session.hash_key
            or state.deleted
            or state.was_deleted
            or task in session.deleted
            or _READ & state.unloaded
        ):
            return None
        held.append(task)
    return held


def _tasks(session: Session, task_ids: list[int], kept: dict[int, Any] | None = None) -> list[Any]:
    """The tasks as they are now, in id order, as plain rows with the columns delivery and the scope
    check read (a task gone with a rolled-back savepoint is not there); the ``kept`` rows themselves when
    the session still holds them as they are (:func:`_held`, no query)."""
    held = _held(session, kept, task_ids) if kept else None
    if held is not None:
        return held
    if not _TASKS:
        t = HumanTask
        _TASKS.append(
            select(
                t.id,
                t.name,
                t.state,
                t.assignee_id,
                t.candidate_role,
                t.org_unit_id,
                t.street_id,
                t.district_id,
                t.process_key,
                t.instance_id,
                t.service_org_id,
            )
            .where(t.id.in_(bindparam("ids", expanding=True)))
            .order_by(t.id)
        )
    return list(session.execute(_TASKS[0], {"ids": task_ids}))


def _deliver(session: Session) -> None:
    pending: dict[int, int | None] = session.info.pop(_KEY, None) or {}
    kept: dict[int, Any] = session.info.pop(_ROWS, None) or {}
    if not pending:
        return
    by_user: dict[int, list[Any]] = defaultdict(list)
    people: dict[int, User] = {}
    grants_of: dict[tuple[str, int, int | None, int | None], list[RoleGrant]] = {}
    for row in _tasks(session, list(pending), kept):
        if row.state == TaskStatus.CLAIMED and row.assignee_id is not None:
            recipients = [row.assignee_id]
        elif row.state == TaskStatus.READY:
            key = (row.candidate_role, row.org_unit_id, row.street_id, row.district_id)
            if key not in grants_of:
                units = [u for u in key[1:] if u is not None]
                grants_of[key] = list(
                    session.scalars(_grants_stmt(), {"role": row.candidate_role, "units": units})
                )
            recipients = _holders(session, row, grants_of[key])
            if row.service_org_id is not None:  # a step of one service organisation: its members only
                members = set(serviceorgs.member_ids(session, row.service_org_id))
                recipients = [u for u in recipients if u in members]
        else:
            continue
        for user_id in recipients:
            if user_id == pending[row.id]:
                continue
            if user_id not in people:
                person = session.get(User, user_id)
                if person is None or not person.is_active:
                    continue
                people[user_id] = person
            by_user[user_id].append(row)
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
