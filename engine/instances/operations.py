"""Administrative operations on running cases: suspend / resume, terminate, reassign a task, move the
token back to an earlier step, edit the process data, and migrate instances to another version.

Who: admins anywhere, district heads inside their district; everyone else is refused. Every operation
needs a non-empty reason, takes the per-instance lock and writes one audit event with the reason, the
actor and what changed (before / after).

Migration rebuilds the serialized workflow state against the target version's spec: finished tasks stay
(a finished task whose element is gone is kept as a finished placeholder on the target's start task),
the predicted part of the tree (tasks not yet reached) is dropped and predicted again from the target's
flows, and every active task (ready, waiting, started) must find its BPMN element in the target with the
same type, or the instance cannot move and the reasons name the elements. A dry run performs the same
rebuild in memory, so what it says is what execution does.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.bpmn.specs.mixins.unstructured_join import UnstructuredJoin
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.audit import service as audit
from engine.audit.models import AuditAction
from engine.bpmn import runtime
from engine.bpmn.parsing import CompiledDefinition
from engine.db import dumps, utcnow
from engine.definitions import service as definitions
from engine.definitions.models import ProcessDefinition
from engine.errors import Conflict, Forbidden, Invalid, NotFound, ServiceError
from engine.forms import jsonable
from engine.instances import service as instances
from engine.instances.models import InstanceStatus, ProcessInstance
from engine.tasks import service as tasks
from engine.tasks.models import OPEN_STATUSES, HumanTask, TaskStatus
from engine.users import service as users
from engine.users.models import Role, User

MAX_REASON = 500
MAX_EDIT_BYTES = 64 * 1024
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_ALIVE = (InstanceStatus.RUNNING, InstanceStatus.SUSPENDED)
_ACTIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED


# --- permission, reason, lock ----------------------------------------------------------------------


def may_operate(session: Session, user: User, instance: ProcessInstance) -> bool:
    """Admins anywhere; district heads for cases inside their district."""
    return users.is_admin(user) or users.holds(session, user, Role.DISTRICT_HEAD.value, instance)


def may_operate_somewhere(user: User) -> bool:
    return any(g.role in (Role.ADMIN, Role.DISTRICT_HEAD) for g in user.grants)


_REFUSED = "只有管理员或本区区民政局负责人可以操作流程实例 / only admins and the district head may do this"


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
        raise NotFound(f"流程实例不存在 / process instance {instance_id} not found")
    return instance


def _locked(session: Session, user: User, instance_id: int, reason: Any) -> tuple[ProcessInstance, str]:
    """Permission first (on the row as it is), then the reason, then the lock and the fresh row."""
    if not may_operate(session, user, _visible(session, instance_id)):
        raise Forbidden(_REFUSED)
    text = _check_reason(reason)
    return instances.lock(session, instance_id), text


def _ensure_alive(instance: ProcessInstance) -> None:
    if instance.status not in _ALIVE:
        raise Conflict(f"流程实例已{_STATUS_ZH[instance.status]} / instance is {instance.status.value}")


_STATUS_ZH = {
    InstanceStatus.RUNNING: "在办",
    InstanceStatus.SUSPENDED: "挂起",
    InstanceStatus.COMPLETED: "办结",
    InstanceStatus.TERMINATED: "终止",
}


def _wakeup(session: Session, instance: ProcessInstance) -> None:
    from engine.deadlines import service as deadlines

    if instance.status != InstanceStatus.RUNNING:
        instance.next_wakeup_at = None
        return
    wf = instances.load(session, instance).wf
    instance.next_wakeup_at = deadlines.next_wakeup(
        wf, tasks.open_tasks_of(session, instance.id, display=False)
    )


# --- suspend / resume / terminate ------------------------------------------------------------------


def suspend(session: Session, user: User, instance_id: int, reason: Any) -> ProcessInstance:
    """While suspended no task can be claimed, assigned or completed and no timer or SLA level fires."""
    instance, text = _locked(session, user, instance_id, reason)
    if instance.status != InstanceStatus.RUNNING:
        raise Conflict(
            f"只能挂起在办的流程实例 / only running instances can be suspended ({instance.status.value})"
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


def resume(session: Session, user: User, instance_id: int, reason: Any) -> ProcessInstance:
    """Back to running; timers and SLA levels that fell due meanwhile fire at the scheduler's next pass."""
    instance, text = _locked(session, user, instance_id, reason)
    if instance.status != InstanceStatus.SUSPENDED:
        raise Conflict(
            f"只能恢复已挂起的流程实例 / only suspended instances can be resumed ({instance.status.value})"
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


# --- reassign --------------------------------------------------------------------------------------


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


# --- move back -------------------------------------------------------------------------------------


def move_back_targets(session: Session, instance: ProcessInstance) -> list[tuple[str, str]]:
    """(BPMN id, name) of the user tasks completed earlier in this case that exist in its version."""
    compiled = definitions.compiled(session, instance.definition_id)
    rows = session.scalars(
        select(HumanTask)
        .where(HumanTask.instance_id == instance.id, HumanTask.state == TaskStatus.COMPLETED)
        .order_by(HumanTask.completed_at, HumanTask.id)
    )
    seen: dict[str, str] = {}
    for row in rows:
        meta = compiled.task_meta(row.bpmn_id)
        if meta is not None:
            seen[row.bpmn_id] = meta.name or row.bpmn_id
    return list(seen.items())


def _reachable(spec: Any, start: str) -> set[str]:
    found, todo = set(), [start]
    while todo:
        name = todo.pop()
        for out in spec.task_specs[name].outputs:
            if out.name not in found:
                found.add(out.name)
                todo.append(out.name)
    return found


def move_back(
    session: Session, user: User, instance_id: int, task_element_id: Any, reason: Any
) -> ProcessInstance:
    """Cancel the current open tasks and make an earlier user task ready again with the case's data.

    The finished part of the workflow tree is pruned as a case runs, so this does not rewind the tree:
    it drops every unfinished task and places a new ready task for the chosen element under the last
    finished one; the engine predicts its way forward from there. The element must have been completed
    before in this case (``human_task`` history) and must lead, along the diagram's flows, to every
    currently active element — so the move is backwards and no parallel branch is left dangling.
    """
    instance, text = _locked(session, user, instance_id, reason)
    if instance.status != InstanceStatus.RUNNING:
        raise Conflict(
            f"只能回退在办的流程实例 / only running instances can be moved back ({instance.status.value})"
        )
    if not isinstance(task_element_id, str) or not task_element_id:
        raise Invalid.on("task_element_id", "请选择要回退到的环节 / choose the step to move back to")
    targets = dict(move_back_targets(session, instance))
    if task_element_id not in targets:
        raise Invalid.on(
            "task_element_id",
            "只能回退到本案此前已完成的人工环节 / only user tasks completed earlier in this case can be chosen",
        )
    loaded, before = rewind(session, instance, task_element_id)
    audit.record(
        session,
        AuditAction.INSTANCE_MOVED_BACK,
        actor_id=user.id,
        instance_id=instance.id,
        details={"reason": text, "before": {"active": before}, "after": {"active": [task_element_id]}},
    )
    instances.save(session, loaded, user.id)
    return instance


def rewind(
    session: Session, instance: ProcessInstance, task_element_id: str, *, field: str = "task_element_id"
) -> tuple[instances.Loaded, list[str]]:
    """The move itself (shared with the holder's send-back for correction): the loaded workflow with every
    open task dropped and ``task_element_id`` ready again, and the elements that were active before.
    The caller holds the instance lock, checked the target, audits and saves."""
    loaded = instances.load(session, instance)
    wf = loaded.wf
    if any(t.has_state(_ACTIVE) for sp in wf.subprocesses.values() for t in sp.get_tasks()):
        raise Conflict("子流程进行中，不能回退 / cannot move back while a sub-process is running")
    active = [t for t in wf.get_tasks(state=_ACTIVE) if t.workflow is wf]
    spec = wf.spec.task_specs.get(task_element_id)
    if spec is None:
        raise Invalid.on(field, "该环节不在本版本中 / that step is not in this version")
    reach = _reachable(wf.spec, task_element_id)
    dangling = sorted(
        {t.task_spec.bpmn_id or t.task_spec.name for t in active if t.task_spec.name not in reach}
    )
    if dangling:
        raise Invalid.on(
            "task_element_id",
            f"该环节不在当前环节之前（{', '.join(dangling)}）/ that step does not lead to the current step(s): "
            f"{', '.join(dangling)}",
        )
    before = sorted(t.task_spec.bpmn_id for t in active if t.task_spec.bpmn_id)
    data = copy.deepcopy(runtime.current_data(wf))
    anchor = wf.last_task if wf.last_task is not None and wf.last_task.id in wf.tasks else wf.task_tree
    if not anchor.has_state(TaskState.FINISHED_MASK):
        raise Conflict("流程状态不支持回退 / the workflow state does not allow moving back")
    for child in list(anchor.children):
        wf._remove_task(child.id)
    for task in [t for t in wf.get_tasks() if t.workflow is wf and not t.has_state(TaskState.FINISHED_MASK)]:
        if task.id in wf.tasks:
            wf._remove_task(task.id)
    anchor.data = copy.deepcopy(data)
    wf.last_task = anchor
    target = anchor._add_child(spec, TaskState.FUTURE)
    target.reset_branch(copy.deepcopy(data))
    # Serialize and restore so that event bookkeeping (waiting timers) is rebuilt from the tree alone.
    loaded.wf = runtime.load_state(runtime.dump_state(wf), loaded.compiled)
    try:
        runtime.advance(loaded.wf)
    except runtime.EngineError as err:
        raise Invalid.on(field, str(err)) from err
    if not any(t.task_spec.name == task_element_id for t in runtime.ready_human_tasks(loaded.wf)):
        raise Conflict("回退失败：目标环节未能就绪 / the chosen step did not become ready")
    return loaded, before


# --- edit data -------------------------------------------------------------------------------------


def _check_edit(set_: Any, unset: Any) -> tuple[dict[str, Any], list[str]]:
    problems: dict[str, list[str]] = {}
    if set_ is None:
        set_ = {}
    if unset is None:
        unset = []
    if not isinstance(set_, dict):
        problems["set"] = ["必须是对象 / must be an object"]
        set_ = {}
    if not isinstance(unset, list) or not all(isinstance(k, str) for k in unset):
        problems["unset"] = ["必须是字段名列表 / must be a list of field names"]
        unset = []
    for key in set_:
        if not isinstance(key, str) or not _NAME.match(key):
            problems[f"set.{key}"] = ["字段名无效 / invalid field name (letters, digits, '_')"]
    for key in unset:
        if not _NAME.match(key):
            problems[f"unset.{key}"] = ["字段名无效 / invalid field name (letters, digits, '_')"]
        elif key in set_:
            problems[f"unset.{key}"] = ["不能同时设置和删除 / cannot both set and unset a field"]
    try:
        size = len(dumps(set_).encode("utf-8"))
        if json.loads(dumps(set_)) != set_:
            raise ValueError
    except (TypeError, ValueError):
        problems["set"] = ["值必须是 JSON 类型 / values must be JSON values"]
    else:
        if size > MAX_EDIT_BYTES:
            problems["set"] = [f"数据过大（最多 {MAX_EDIT_BYTES // 1024} KB）/ too large"]
    if not problems and not set_ and not unset:
        problems["set"] = ["没有要修改的内容 / nothing to change"]
    if problems:
        raise Invalid("数据修改无效 / invalid data edit", problems)
    return dict(set_), list(unset)


def _live_tasks(wf: BpmnWorkflow) -> list[Task]:
    """Tasks whose data later steps will read: the last finished task and every unfinished task."""
    found = [t for t in wf.get_tasks() if not t.has_state(TaskState.FINISHED_MASK)]
    for sp in wf.subprocesses.values():
        found += [t for t in sp.get_tasks() if not t.has_state(TaskState.FINISHED_MASK)]
    if wf.last_task is not None:
        found.append(wf.last_task)
    return found + runtime.failed_tasks(wf)  # a failed step (an incident) runs again with the fix


def edit_data(
    session: Session, user: User, instance_id: int, set_: Any, unset: Any, reason: Any
) -> ProcessInstance:
    """Set or remove process data fields; written into the workflow so later gateways and scripts see it."""
    instance, text = _locked(session, user, instance_id, reason)
    _ensure_alive(instance)
    values, removed = _check_edit(set_, unset)
    loaded = instances.load(session, instance)
    current = runtime.current_data(loaded.wf)
    missing = [k for k in removed if k not in current]
    if missing:
        raise Invalid(
            "数据修改无效 / invalid data edit",
            {f"unset.{k}": ["没有该字段 / no such field"] for k in missing},
        )
    changes = {k: {"old": current.get(k), "new": v} for k, v in values.items()}
    changes.update({k: {"old": current.get(k), "new": None, "removed": True} for k in removed})
    for task in _live_tasks(loaded.wf):
        task.data.update(copy.deepcopy(values))
        for key in removed:
            task.data.pop(key, None)
    audit.record(
        session,
        AuditAction.INSTANCE_DATA_EDITED,
        actor_id=user.id,
        instance_id=instance.id,
        details={
            "reason": text,
            "before": {k: c["old"] for k, c in changes.items()},
            "after": {k: c["new"] for k, c in changes.items() if not c.get("removed")},
            "unset": removed,
        },
    )
    instances.save(session, loaded, user.id)
    return instance


# --- migration -------------------------------------------------------------------------------------


@dataclass
class Plan:
    """The outcome of rebuilding one instance's state on a target version (in memory)."""

    instance_id: int
    reasons: list[str] = field(default_factory=list)
    wf: BpmnWorkflow | None = None

    @property
    def can_migrate(self) -> bool:
        return not self.reasons and self.wf is not None


def _kind(spec: Any) -> tuple[Any, ...]:
    """What must stay the same for a task to carry on on another version's element."""
    event = getattr(spec, "event_definition", None)
    sub = getattr(spec, "spec", None) if isinstance(spec, SubWorkflowTask) else None
    return (type(spec), type(event) if event is not None else None, sub)


def _kind_name(spec: Any) -> str:
    event = getattr(spec, "event_definition", None)
    name = type(spec).__name__
    return f"{name}({type(event).__name__})" if event is not None else name


def _rebuild_dict(
    wdct: dict[str, Any], old_spec: Any, new_spec: Any, where: str, reasons: list[str]
) -> list[UUID]:
    """Rewrite one workflow's task dicts for ``new_spec``; return the active tasks to predict from."""
    tasks: dict[str, dict[str, Any]] = wdct["tasks"]
    finished = {tid for tid, t in tasks.items() if t["state"] & TaskState.FINISHED_MASK}

    def predicted(tid: str) -> bool:
        t = tasks[tid]
        if t["state"] & TaskState.PREDICTED_MASK:
            return True
        return bool(t["state"] == TaskState.FUTURE and t["parent"] and t["parent"] not in finished)

    drop = {tid for tid in tasks if predicted(tid)}
    active: list[UUID] = []
    for tid, t in tasks.items():
        if tid in drop:
            continue
        name = t["task_spec"]
        new = new_spec.task_specs.get(name)
        old = old_spec.task_specs.get(name)
        if tid in finished:
            if new is None:
                parents_of_join = any(
                    c in tasks
                    and c not in drop
                    and isinstance(old_spec.task_specs.get(tasks[c]["task_spec"]), UnstructuredJoin)
                    for c in t["children"]
                )
                if parents_of_join:
                    reasons.append(
                        f"{where}{name}: 已完成的并行分支元素在目标版本中不存在 / a completed branch element a join still waits on is missing"
                    )
                t["task_spec"] = new_spec.start.name  # a finished placeholder; it never runs again
            continue
        label = f"{where}{name}"
        if new is None:
            reasons.append(
                f"{label}: 当前环节在目标版本中不存在 / active element missing in the target version"
            )
        elif old is not None and _kind(old) != _kind(new):
            reasons.append(
                f"{label}: 元素类型已变更（{_kind_name(old)} → {_kind_name(new)}）/ element type changed"
            )
        else:
            active.append(UUID(tid))
    for tid in drop:
        tasks.pop(tid)
    for t in tasks.values():
        t["children"] = [c for c in t["children"] if c not in drop]
    return active


def plan(session: Session, instance: ProcessInstance, target: ProcessDefinition) -> Plan:
    """Rebuild the instance's workflow on ``target`` in memory; the reasons say why it cannot move."""
    result = Plan(instance.id)
    if instance.status not in _ALIVE:
        result.reasons.append(
            f"流程实例已{_STATUS_ZH[instance.status]} / instance is {instance.status.value}"
        )
        return result
    if target.key != instance.process_key:
        result.reasons.append("目标版本属于其他流程 / the target version belongs to another procedure")
        return result
    if target.id == instance.definition_id:
        result.reasons.append("已在目标版本上 / already on the target version")
        return result
    old: CompiledDefinition = definitions.compiled(session, instance.definition_id)
    new: CompiledDefinition = definitions.SPEC_CACHE.get(target)
    if old.spec.name != new.spec.name:
        result.reasons.append(
            f"流程主进程标识不同（{old.spec.name} → {new.spec.name}）/ main process id differs"
        )
        return result
    dct = json.loads(instance.state)
    runtime._SERIALIZER.migrate(dct)
    actives: list[tuple[str | None, list[UUID]]] = [
        (None, _rebuild_dict(dct, old.spec, new.spec, "", result.reasons))
    ]
    for sp_id, sp in dct.get("subprocesses", {}).items():
        name = sp.get("spec")
        old_sp, new_sp = old.subprocess_specs.get(name), new.subprocess_specs.get(name)
        if old_sp is None or new_sp is None:
            result.reasons.append(
                f"{name}: 子流程在目标版本中不存在 / sub-process missing in the target version"
            )
            continue
        actives.append((sp_id, _rebuild_dict(sp, old_sp, new_sp, f"{name}/", result.reasons)))
    if result.reasons:
        return result
    try:
        wf = runtime._SERIALIZER.registry.restore(dct, spec=new.spec, subprocess_specs=new.subprocess_specs)
        wf.script_engine = runtime.SCRIPT_ENGINE
        for sp_id, ids in actives:
            owner = wf if sp_id is None else wf.subprocesses[UUID(sp_id)]
            for tid in ids:
                task = owner.tasks[tid]
                if not task.children:
                    task.task_spec._predict(task, mask=TaskState.NOT_FINISHED_MASK)
        wf = runtime.load_state(runtime.dump_state(wf), new)  # rebuilds the event bookkeeping
        runtime.advance(wf)
    except Exception as err:  # the state cannot be rebuilt on the target: report, never half-migrate
        result.reasons.append(f"无法在目标版本上重建流程状态 / cannot rebuild the state on the target: {err}")
        return result
    result.wf = wf
    return result


def _check_version(version: Any, field_name: str) -> None:
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise Invalid.on(field_name, "版本号必须是正整数 / version must be a positive integer")


def _target(
    session: Session, key: str, version: Any, field_name: str = "target_version"
) -> ProcessDefinition:
    _check_version(version, field_name)
    try:
        return definitions.get_version(session, key, version)
    except NotFound as err:
        raise Invalid.on(field_name, err.message) from err


def _project(
    session: Session, instance: ProcessInstance, new: CompiledDefinition, wf: BpmnWorkflow, actor_id: int
) -> list[dict[str, Any]]:
    """Open task rows keep their ids; name, role, form and (if its text changed) the deadline follow the
    target version."""
    from engine.deadlines import service as deadlines

    ready = {str(t.id): t for t in runtime.ready_human_tasks(wf)}
    changed = []
    for row in tasks.open_tasks_of(session, instance.id, display=False):
        task = ready.get(row.spiff_task_id)
        meta = new.task_meta(row.bpmn_id)
        if task is None or meta is None:
            continue
        before = {
            "name": row.name,
            "role": row.candidate_role,
            "deadline": row.deadline,
            "due_at": row.due_at,
        }
        row.name = meta.name or row.bpmn_id
        row.lane = task.task_spec.lane
        row.candidate_role = meta.role or "admin"
        row.form_key = meta.form_key
        due_at, text = deadlines.deadline_for(meta.properties, task.data, row.created_at)
        if text != row.deadline:
            row.deadline = text
            deadlines.set_due(row, due_at, meta.properties)
            row.escalated_role = None
        if row.state == TaskStatus.CLAIMED and row.assignee_id is not None:
            assignee = session.get(User, row.assignee_id)
            if assignee is None or not tasks.can_claim(session, assignee, row):
                row.state, row.assignee_id, row.claimed_at = TaskStatus.READY, None, None
        after = {"name": row.name, "role": row.candidate_role, "deadline": row.deadline, "due_at": row.due_at}
        if after != before:
            changed.append({"task_id": row.id, "bpmn_id": row.bpmn_id, "before": before, "after": after})
    return changed


def _execute(
    session: Session, user: User, instance: ProcessInstance, target: ProcessDefinition, text: str
) -> None:
    result = plan(session, instance, target)
    if not result.can_migrate or result.wf is None:
        raise Conflict(
            "该流程实例不能迁移 / this instance cannot be migrated: " + "; ".join(result.reasons),
            {"target_version": result.reasons},
        )
    new = definitions.SPEC_CACHE.get(target)
    old_def = session.get(ProcessDefinition, instance.definition_id)
    changed = _project(session, instance, new, result.wf, user.id)
    instance.definition_id = target.id
    audit.record(
        session,
        AuditAction.INSTANCE_MIGRATED,
        actor_id=user.id,
        instance_id=instance.id,
        definition_id=target.id,
        details={
            "reason": text,
            "before": {
                "definition_id": old_def.id if old_def else None,
                "version": old_def.version if old_def else None,
            },
            "after": {"definition_id": target.id, "version": target.version},
            "tasks": changed,
        },
    )
    instances.save(session, instances.Loaded(instance, new, result.wf), user.id)


def migrate(
    session: Session, user: User, instance_id: int, target_version: Any, reason: Any, *, dry_run: bool = False
) -> dict[str, Any]:
    """Move one instance to another version of its procedure (or only say whether it could)."""
    if dry_run:  # nothing is written: no reason needed, no lock taken
        instance = _visible(session, instance_id)
        if not may_operate(session, user, instance):
            raise Forbidden(_REFUSED)
        target = _target(session, instance.process_key, target_version)
        result = plan(session, instance, target)
        return {
            "id": instance.id,
            "can_migrate": result.can_migrate,
            "reasons": result.reasons,
            "migrated": False,
        }
    instance, text = _locked(session, user, instance_id, reason)
    target = _target(session, instance.process_key, target_version)
    _execute(session, user, instance, target, text)
    return {"id": instance.id, "can_migrate": True, "reasons": [], "migrated": True}


def batch_candidates(
    session: Session, user: User, key: str, from_version: int, instance_ids: list[int] | None
) -> list[int]:
    source = _target(session, key, from_version, "from_version")
    stmt = select(ProcessInstance).where(ProcessInstance.definition_id == source.id)
    if instance_ids is None:
        stmt = stmt.where(ProcessInstance.status.in_(_ALIVE))
    else:
        stmt = stmt.where(ProcessInstance.id.in_(instance_ids))
    rows = session.scalars(stmt.order_by(ProcessInstance.id))
    return [r.id for r in rows if may_operate(session, user, r)]


def migrate_batch(
    session: Session,
    user: User,
    key: str,
    from_version: Any,
    to_version: Any,
    reason: Any,
    *,
    instance_ids: list[int] | None = None,
    dry_run: bool = True,
) -> list[dict[str, Any]]:
    """Dry run or migrate the running instances of one version (or the given ones of it) that the user may
    operate on. Each instance moves in its own savepoint: one that cannot move stays as it was."""
    if not may_operate_somewhere(user):
        raise Forbidden(
            "只有管理员或区民政局负责人可以迁移流程实例 / only admins and district heads may migrate"
        )
    text = "" if dry_run else _check_reason(reason)
    _check_version(from_version, "from_version")
    target = _target(session, key, to_version, "to_version")
    ids = batch_candidates(session, user, key, from_version, instance_ids)
    results = []
    if instance_ids is not None:
        for missing in sorted(set(instance_ids) - set(ids)):
            results.append(
                {
                    "id": missing,
                    "can_migrate": False,
                    "migrated": False,
                    "reasons": [
                        "不是该版本的、您可操作的流程实例 / not an instance of this version you may operate on"
                    ],
                }
            )
    for instance_id in ids:
        if dry_run:
            result = plan(session, _visible(session, instance_id), target)
            results.append(
                {
                    "id": instance_id,
                    "can_migrate": result.can_migrate,
                    "reasons": result.reasons,
                    "migrated": False,
                }
            )
            continue
        try:
            with session.begin_nested():
                instance = instances.lock(session, instance_id)
                _execute(session, user, instance, target, text)
            results.append({"id": instance_id, "can_migrate": True, "reasons": [], "migrated": True})
        except ServiceError as err:
            results.append(
                {
                    "id": instance_id,
                    "can_migrate": False,
                    "migrated": False,
                    "reasons": list(err.fields.get("target_version") or [err.message]),
                }
            )
    return sorted(results, key=lambda r: r["id"])


def versions_of(session: Session, key: str) -> list[ProcessDefinition]:
    return list(
        session.scalars(
            select(ProcessDefinition).where(ProcessDefinition.key == key).order_by(ProcessDefinition.version)
        )
    )


def as_dict(instance: ProcessInstance) -> dict[str, Any]:
    return jsonable({"id": instance.id, "status": instance.status.value})
