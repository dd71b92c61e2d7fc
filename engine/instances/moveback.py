"""Move a case's token back to a user task completed earlier in it; ``rewind`` is the move itself, shared
with the holder's send-back for correction (engine/sendback)."""

from __future__ import annotations

import copy
from typing import Any

from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.audit import service as audit
from engine.audit.models import AuditAction
from engine.bpmn import runtime
from engine.definitions import service as definitions
from engine.errors import Conflict, Invalid
from engine.instances import rehearsal
from engine.instances import service as instances
from engine.instances.guard import _ACTIVE, _locked
from engine.instances.models import STATUS_WORDS, InstanceStatus, ProcessInstance
from engine.tasks.models import HumanTask, TaskStatus
from engine.users.models import User


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
        task_spec = spec.task_specs[name]
        inner = getattr(task_spec, "task_spec", None)  # a loop's or multi-instance's own instances
        nexts = [out.name for out in task_spec.outputs] + ([inner] if isinstance(inner, str) else [])
        for out_name in nexts:
            if out_name not in found and out_name in spec.task_specs:
                found.add(out_name)
                todo.append(out_name)
    return found


def _finished_anchor(task: Any) -> Any:
    """The deepest of ``task`` and its ancestors that, with all its own ancestors, is finished: a step
    finished inside an activity still running (one signature of a multi-instance step) is not a place to
    restart from — the activity itself is dropped with its other instances."""
    chain = []
    while task is not None:
        chain.append(task)
        task = task.parent
    for i, node in enumerate(chain):
        if all(a.has_state(TaskState.FINISHED_MASK) for a in chain[i:]):
            return node
    return chain[-1]


@rehearsal.stepping  # SQLite: the rewound steps run before the write lock is taken (issue 18 item 10)
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
    instance, text = _locked(session, user, instance_id, reason, deferred=True)
    if instance.status != InstanceStatus.RUNNING:
        raise Conflict(
            f"只能回退在办的案件（该案件{STATUS_WORDS[instance.status][0]}）/ only a case in progress can be "
            f"moved back (this one is {STATUS_WORDS[instance.status][1]})"
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
    anchor = _finished_anchor(anchor)
    if not anchor.has_state(TaskState.FINISHED_MASK) and isinstance(anchor.task_spec, LoopTask):
        raise Conflict(
            "多实例环节已有部分实例办结，不能回退 / cannot move back while a multi-instance step is partly done"
        )
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
