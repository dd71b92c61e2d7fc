"""Rebuild a case's serialized workflow state on another version of its procedure (version migration).

Finished tasks stay (a finished task whose element is gone is kept as a finished placeholder on the
target's start task), the predicted part of the tree (tasks not yet reached) is dropped and predicted
again from the target's flows, and every active task (ready, waiting, started) must find its BPMN element
in the target with the same type, or the state cannot move and the reasons name the elements. Works on
the runtime's serialized form only: no database, no case row.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.bpmn.specs.mixins.unstructured_join import UnstructuredJoin
from SpiffWorkflow.util.task import TaskState

from engine.bpmn import runtime
from engine.bpmn.parsing import CompiledDefinition


def kind(spec: Any) -> tuple[Any, ...]:
    """What must stay the same for a task to carry on on another version's element."""
    event = getattr(spec, "event_definition", None)
    sub = getattr(spec, "spec", None) if isinstance(spec, SubWorkflowTask) else None
    return (type(spec), type(event) if event is not None else None, sub)


def kind_name(spec: Any) -> str:
    event = getattr(spec, "event_definition", None)
    name = type(spec).__name__
    return f"{name}({type(event).__name__})" if event is not None else name


def rebuild_dict(
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
        elif old is not None and kind(old) != kind(new):
            reasons.append(
                f"{label}: 元素类型已变更（{kind_name(old)} → {kind_name(new)}）/ element type changed"
            )
        else:
            active.append(UUID(tid))
    for tid in drop:
        tasks.pop(tid)
    for t in tasks.values():
        t["children"] = [c for c in t["children"] if c not in drop]
    return active


def rebuild(
    state: str, old: CompiledDefinition, new: CompiledDefinition, reasons: list[str]
) -> BpmnWorkflow | None:
    """The workflow of ``state`` (serialized on ``old``) rebuilt on ``new`` and advanced, or ``None`` with
    ``reasons`` saying why it cannot move. A dry run and the real migration both call this, so what the
    dry run says is what execution does."""
    if old.spec.name != new.spec.name:
        reasons.append(f"流程主进程标识不同（{old.spec.name} → {new.spec.name}）/ main process id differs")
        return None
    dct = json.loads(state)
    runtime._SERIALIZER.migrate(dct)
    actives: list[tuple[str | None, list[UUID]]] = [
        (None, rebuild_dict(dct, old.spec, new.spec, "", reasons))
    ]
    for sp_id, sp in dct.get("subprocesses", {}).items():
        name = sp.get("spec")
        old_sp, new_sp = old.subprocess_specs.get(name), new.subprocess_specs.get(name)
        if old_sp is None or new_sp is None:
            reasons.append(f"{name}: 子流程在目标版本中不存在 / sub-process missing in the target version")
            continue
        actives.append((sp_id, rebuild_dict(sp, old_sp, new_sp, f"{name}/", reasons)))
    if reasons:
        return None
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
        reasons.append(f"无法在目标版本上重建流程状态 / cannot rebuild the state on the target: {err}")
        return None
    return wf
