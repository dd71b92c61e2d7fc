"""A case's lifecycle by an operator: suspend, resume, terminate, and reassign one of its open tasks."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from engine.audit import service as audit
from engine.audit.models import AuditAction
from engine.db import utcnow
from engine.errors import Conflict, Invalid, NotFound
from engine.instances import rehearsal
from engine.instances import service as instances
from engine.instances.guard import _ensure_alive, _locked
from engine.instances.models import STATUS_WORDS, InstanceStatus, ProcessInstance
from engine.tasks import service as tasks
from engine.tasks.models import OPEN_STATUSES, HumanTask, TaskStatus
from engine.users import service as users
from engine.users.models import User


def _wakeup(session: Session, instance: ProcessInstance) -> None:
    from engine.deadlines import sla as deadlines

    if instance.status != InstanceStatus.RUNNING:  # nothing to load: a stopped case never wakes
        instance.next_wakeup_at = None
        return
    with session.no_autoflush:  # nothing written before the wake-up is known (a deferred lock)
        wf = instances.load(session, instance).wf
        instance.next_wakeup_at = deadlines.wakeup_at(
            instance, wf, tasks.open_tasks_of(session, instance.id, display=False)
        )


def suspend(session: Session, user: User, instance_id: int, reason: Any) -> ProcessInstance:
    """While suspended no task can be claimed, assigned or completed and no timer or SLA level fires."""
    instance, text = _locked(session, user, instance_id, reason)
    if instance.status != InstanceStatus.RUNNING:
        raise Conflict(
            f"只能挂起在办的案件（该案件{STATUS_WORDS[instance.status][0]}）/ only a case in progress can be "
            f"suspended (this one is {STATUS_WORDS[instance.status][1]})"
        )
    instance.status = InstanceStatus.SUSPENDED
    instance.next_wakeup_at = None
    instance.updated_at = utcnow()
    audit.record(
        session,
        AuditAction.INSTANCE_SUSPENDED,
        actor_id=user.id,
        instance_id=instance.id,
        details={"reason": text, "before": {"status": "running"}, "after": {"status": "suspended"}},
    )
    session.flush()
    return instance


@rehearsal.stepping  # SQLite: the workflow is loaded before the write lock is taken (issue 18 item 10)
def resume(session: Session, user: User, instance_id: int, reason: Any) -> ProcessInstance:
    """Back to running; timers and SLA levels that fell due meanwhile fire at the scheduler's next pass."""
    instance, text = _locked(session, user, instance_id, reason, deferred=True)
    if instance.status != InstanceStatus.SUSPENDED:
        raise Conflict(
            f"只能恢复已挂起的案件（该案件{STATUS_WORDS[instance.status][0]}）/ only a suspended case can be "
            f"resumed (this one is {STATUS_WORDS[instance.status][1]})"
        )
    instance.status = InstanceStatus.RUNNING
    instance.updated_at = utcnow()
    _wakeup(session, instance)
    audit.record(
        session,
        AuditAction.INSTANCE_RESUMED,
        actor_id=user.id,
        instance_id=instance.id,
        details={"reason": text, "before": {"status": "suspended"}, "after": {"status": "running"}},
    )
    session.flush()
    return instance


def terminate(session: Session, user: User, instance_id: int, reason: Any) -> ProcessInstance:
    """End the case for good: its open tasks are cancelled, nothing of it runs again."""
    instance, text = _locked(session, user, instance_id, reason)
    _ensure_alive(instance)
    before = instance.status.value
    now = utcnow()
    cancelled = []
    for row in tasks.open_tasks_of(session, instance.id, display=False):
        row.state, row.completed_at = TaskStatus.CANCELLED, now
        cancelled.append(row.id)
        audit.record(
            session,
            AuditAction.TASK_CANCELLED,
            actor_id=user.id,
            instance_id=instance.id,
            task_id=row.id,
            details={"reason": text, "by": "instance.terminated"},
        )
    instance.status, instance.ended_at, instance.updated_at = InstanceStatus.TERMINATED, now, now
    instance.next_wakeup_at = None
    audit.record(
        session,
        AuditAction.INSTANCE_TERMINATED,
        actor_id=user.id,
        instance_id=instance.id,
        details={
            "reason": text,
            "before": {"status": before},
            "after": {"status": "terminated"},
            "cancelled_tasks": cancelled,
        },
    )
    session.flush()
    return instance


def reassign(session: Session, user: User, task_id: int, username: Any, reason: Any) -> HumanTask:
    """Give an open task to a user who holds its role in its org unit (and is not recused)."""
    row = tasks.get(session, task_id)
    instance, text = _locked(session, user, row.instance_id, reason)
    session.refresh(row)
    if row.state not in OPEN_STATUSES:
        raise Conflict(f"任务已结束，不能改派 / task is already {row.state.value}")
    _ensure_alive(instance)
    if not isinstance(username, str) or not username.strip():
        raise Invalid.on("username", "请填写接收人 / username is required")
    try:
        target = users.by_username(session, username.strip())
    except NotFound as err:
        raise Invalid.on("username", err.message) from err
    if not target.is_active:
        raise Invalid.on("username", "该用户已停用 / this user is inactive")
    tasks._check_recusal(instance, target, field="username")
    if not tasks.can_claim(session, target, row):
        raise Invalid.on(
            "username", "该用户没有该任务所需的角色或不在该机构 / user lacks the task's role in this org unit"
        )
    before = {"state": row.state.value, "assignee_id": row.assignee_id}
    row.state, row.assignee_id, row.claimed_at = TaskStatus.CLAIMED, target.id, utcnow()
    audit.record(
        session,
        AuditAction.TASK_REASSIGNED,
        actor_id=user.id,
        instance_id=row.instance_id,
        task_id=row.id,
        details={
            "reason": text,
            "before": before,
            "after": {"state": "claimed", "assignee_id": target.id, "assignee": target.username},
        },
    )
    session.flush()
    session.expire(row, ["assignee"])
    return row
