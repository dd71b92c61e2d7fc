"""Who may see and work on a task, and the lock every task action takes first (the case's row lock)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session

from engine.errors import Conflict, Forbidden, NotFound
from engine.instances import service as instances
from engine.recusal import service as recusal
from engine.serviceorgs import service as serviceorgs
from engine.tasks.models import OPEN_STATUSES, HumanTask, TaskStatus, open_clause
from engine.users import service as users
from engine.users.models import User


def get(session: Session, task_id: int) -> HumanTask:
    row = session.get(HumanTask, task_id)
    if row is None:
        raise NotFound(f"任务不存在 / task {task_id} not found")
    return row


def can_claim(session: Session, user: User, row: HumanTask) -> bool:
    """The user holds the task's role in its scope, or the role it was escalated to; for a step of one
    service organisation (a 3A referral), the user is also one of its members."""
    holds = users.holds(session, user, row.candidate_role, row) or bool(
        row.escalated_role and users.holds(session, user, row.escalated_role, row)
    )
    return holds and serviceorgs.admits(session, user, row)


def _refuse_unseen(session: Session, user: User, row: HumanTask) -> Forbidden:
    """The 403 for a task the user may not see: naming the organisation when that is the reason."""
    if row.service_org_id is not None and not serviceorgs.admits(session, user, row):
        name = serviceorgs.name_of(session, row.service_org_id) or str(row.service_org_id)
        return Forbidden(
            f"该任务已转介给服务机构“{name}”，仅该机构的成员可以接收和办理 / this task is referred to the "
            f"service organisation {name}: only its members may accept and work on it"
        )
    return Forbidden("无权查看该任务 / you may not see this task")


def can_see(session: Session, user: User, row: HumanTask) -> bool:
    return (
        row.assignee_id == user.id
        or can_claim(session, user, row)
        or users.supervises(session, user, row)
        or users.is_admin(user)
    )


def get_visible(session: Session, user: User, task_id: int) -> HumanTask:
    row = get(session, task_id)
    if not can_see(session, user, row):
        raise _refuse_unseen(session, user, row)
    return row


def _locked(session: Session, user: User, task_id: int) -> tuple[HumanTask, Any]:
    row, instance, _open = _locked_with_open(session, user, task_id)
    return row, instance


# The instance of the task ``lock_key``, found inside the locking statement.
_TASK_OWNER = select(HumanTask.instance_id).where(HumanTask.id == bindparam("lock_key")).scalar_subquery()
# A task with its instance's open tasks, read fresh under the lock (built once, like the lock).
_WITH_OPEN = (
    select(HumanTask)
    .where(
        HumanTask.instance_id == bindparam("instance_id"),
        or_(open_clause(), HumanTask.id == bindparam("task_id")),
    )
    .execution_options(populate_existing=True)
)


def _locked_with_open(
    session: Session, user: User, task_id: int, *, deferred: bool = False
) -> tuple[HumanTask, Any, list[HumanTask]]:
    """Lock the task's instance, then read the task — with the instance's other open tasks, in the same
    query — fresh under the lock, and check the user may see it.

    The instance is found from the task inside the locking statement, so an action costs no read of the
    task before the lock. A user who may not see the task holds the lock only until the 403 rolls back.
    """
    try:
        instance = instances.lock(session, task_id, target=_TASK_OWNER, deferred=deferred)
    except NotFound:
        raise NotFound(f"任务不存在 / task {task_id} not found") from None
    rows = session.scalars(_WITH_OPEN, {"instance_id": instance.id, "task_id": task_id}).all()
    row = next((r for r in rows if r.id == task_id), None)
    if row is None:
        raise NotFound(f"任务不存在 / task {task_id} not found")
    if not can_see(session, user, row):
        raise _refuse_unseen(session, user, row)
    return row, instance, [r for r in rows if r.state in OPEN_STATUSES]


def _check_recusal(
    instance: Any, user: User, field: str | None = None, data: dict[str, Any] | None = None
) -> None:
    """Staff whose near relative is the applicant may neither handle nor review the case (engine.recusal)."""
    session = Session.object_session(instance)
    assert session is not None  # a locked, loaded instance
    recusal.check(session, instance, user, data, field)


def _require_open(row: HumanTask) -> None:
    if row.state not in OPEN_STATUSES:
        raise Conflict(f"任务已{_STATE_ZH[row.state]}，不能再操作 / task is already {row.state.value}")


_STATE_ZH = {
    TaskStatus.READY: "待认领",
    TaskStatus.CLAIMED: "被认领",
    TaskStatus.COMPLETED: "完成",
    TaskStatus.CANCELLED: "取消",
}


def _flush_assignee(session: Session, row: HumanTask) -> None:
    session.flush()
    session.expire(row, ["assignee"])


def may_work_on(session: Session, user: User, row: HumanTask) -> bool:
    """Could the user complete the task now (their claim, or a ready task of their role)?"""
    if row.state == TaskStatus.CLAIMED:
        return row.assignee_id == user.id
    return row.state == TaskStatus.READY and can_claim(session, user, row)
