"""What every administrative operation on a case shares: who may operate (admins anywhere, district
heads inside their district), the required reason, and the per-instance lock taken after both checks."""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.util.task import TaskState
from sqlalchemy.orm import Session

from engine.errors import Conflict, Forbidden, Invalid, NotFound
from engine.instances import service as instances
from engine.instances.models import STATUS_WORDS, InstanceStatus, ProcessInstance, case_missing
from engine.users import service as users
from engine.users.models import Role, User

MAX_REASON = 500


_ALIVE = (InstanceStatus.RUNNING, InstanceStatus.SUSPENDED)


_ACTIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED


def may_operate(session: Session, user: User, instance: ProcessInstance) -> bool:
    """Admins anywhere; district heads for cases inside their district."""
    return users.is_admin(user) or users.holds(session, user, Role.DISTRICT_HEAD.value, instance)


def may_operate_somewhere(user: User) -> bool:
    return any(g.role in (Role.ADMIN, Role.DISTRICT_HEAD) for g in user.grants)


_REFUSED = "只有管理员或本区区民政局负责人可以操作案件 / only admins and the district head may do this"


def _check_reason(reason: Any) -> str:
    text = reason.strip() if isinstance(reason, str) else ""
    if not text:
        raise Invalid.on("reason", "请填写操作原因 / a reason is required")
    if len(text) > MAX_REASON:
        raise Invalid.on("reason", f"原因过长（最多 {MAX_REASON} 字）/ reason too long (max {MAX_REASON})")
    return text


def _visible(session: Session, instance_id: int) -> ProcessInstance:
    instance = session.get(ProcessInstance, instance_id)
    if instance is None:
        raise NotFound(case_missing(instance_id))
    return instance


def _locked(
    session: Session, user: User, instance_id: int, reason: Any, *, deferred: bool = False
) -> tuple[ProcessInstance, str]:
    """Permission first (on the row as it is), then the reason, then the lock and the fresh row.
    ``deferred``: an operation wrapped in ``optimistic.retrying`` (``instances.lock``)."""
    if not may_operate(session, user, _visible(session, instance_id)):
        raise Forbidden(_REFUSED)
    text = _check_reason(reason)
    return instances.lock(session, instance_id, deferred=deferred), text


def _ensure_alive(instance: ProcessInstance) -> None:
    if instance.status not in _ALIVE:
        zh, en = STATUS_WORDS[instance.status]
        raise Conflict(f"案件{zh} / the case is {en}")
