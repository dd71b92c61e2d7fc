"""The sub-procedures a case's call activities run (issue 19): shown on the calling case's page.

A call activity runs its sub-procedure inside the calling case (the same state, the same tasks, the same
history); this lists each call — the step's name, the procedure it runs and whether it is still running —
from the case's live state.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import CallActivity
from SpiffWorkflow.util.task import TaskState

from engine.bpmn import runtime


class Called(NamedTuple):
    bpmn_id: str
    step: str  # the call activity's name
    procedure: str  # the called process's name
    procedure_key: str  # and its id (the key of its procedure when deployed on its own)
    running: bool
    open_steps: list[tuple[str, str]]  # name and element id of each of its tasks waiting for a person


def has_calls(compiled: Any) -> bool:
    """Whether a procedure has call activities (else there is nothing to list, nothing to load)."""
    return any(
        isinstance(spec, CallActivity)
        for process in (compiled.spec, *compiled.subprocess_specs.values())
        for spec in process.task_specs.values()
    )


def called_of(wf: Any) -> list[Called]:
    """Every call activity of the case that has started, in the order they started."""
    out = []
    for task_id, sub in list(wf.subprocesses.items()):
        task = wf.get_task_from_id(task_id)
        if task is None or not isinstance(task.task_spec, CallActivity):
            continue
        open_steps = [
            (str(t.task_spec.bpmn_name or t.task_spec.bpmn_id), str(t.task_spec.bpmn_id))
            for t in runtime.ready_human_tasks(wf)
            if t.workflow is sub
        ]
        out.append(
            Called(
                bpmn_id=str(task.task_spec.bpmn_id),
                step=str(task.task_spec.bpmn_name or task.task_spec.bpmn_id),
                procedure=str(sub.spec.description or sub.spec.name),
                procedure_key=str(sub.spec.name),
                running=not task.has_state(TaskState.FINISHED_MASK) and not sub.is_completed(),
                open_steps=open_steps,
            )
        )
    return out
