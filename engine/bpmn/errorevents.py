"""BPMN error events thrown by failed automatic steps.

A service operation (``runtime.SERVICES``) that fails for a business reason — a bank transfer refused —
raises :class:`ServiceFailure` with an error code. When the failing step carries an error boundary event
whose error has that code (or a boundary error naming no error, which catches any), the failure is thrown
as that BPMN error: the boundary event interrupts the step and the case follows the boundary's flow
(for example back to finance). Any other failure stays an incident for admins.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import ErrorEventDefinition
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.util.task import TaskState

from engine import errors


@errors.family(errors.Unavailable)  # escaping its step (no boundary, no incident): the service is down
class ServiceFailure(Exception):
    """A service operation failed for a reason the diagram may handle (an error boundary event)."""

    def __init__(self, code: str, message: str = ""):
        super().__init__(message or code)
        self.code = code
        self.message = message or code


def _failure_of(err: BaseException | None) -> ServiceFailure | None:
    seen = 0
    while err is not None and seen < 10:
        if isinstance(err, ServiceFailure):
            return err
        err = err.__cause__ or err.__context__
        seen += 1
    return None


def _boundary_catching(wf: BpmnWorkflow, task: Any, code: str) -> Any:
    """The waiting error boundary event of ``task`` that catches ``code``, if any."""
    for candidate in wf.event_manager.tasks.values():
        definition = getattr(candidate.task_spec, "event_definition", None)
        if not isinstance(definition, ErrorEventDefinition) or not candidate.has_state(TaskState.WAITING):
            continue
        if candidate.parent is None or task.parent is None or candidate.parent.id != task.parent.id:
            continue  # boundary events are siblings of the activity they are attached to
        if definition.code in (None, "", code):
            return candidate
    return None


def route_failure(wf: BpmnWorkflow, err: BaseException) -> bool:
    """Throw a failed step's :class:`ServiceFailure` to its error boundary event; ``True`` when one
    caught it (the step is cancelled and the case goes on along the boundary's flow)."""
    failure = _failure_of(err)
    if failure is None:
        return False
    failed = [t for t in wf.get_tasks(state=TaskState.ERROR)]
    for sp in wf.subprocesses.values():
        failed.extend(sp.get_tasks(state=TaskState.ERROR))
    for task in failed:
        boundary = _boundary_catching(wf, task, failure.code)
        if boundary is None:
            continue
        definition = ErrorEventDefinition(failure.code, code=failure.code)
        payload = {"error_code": failure.code, "error_message": failure.message}
        task.data.update(payload)
        task._set_state(TaskState.CANCELLED)
        boundary.task_spec.catch(boundary, BpmnEvent(definition, payload=payload, target=task.workflow))
        boundary.data.update(payload)
        boundary.task_spec._update(boundary)
        return True
    return False
