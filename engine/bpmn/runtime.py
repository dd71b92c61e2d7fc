"""Running SpiffWorkflow safely and persisting its state compactly.

* :class:`SafeScriptEngine` evaluates every condition, timer and loop expression with the safe
  evaluator in :mod:`engine.expressions`; script tasks may only assign safe expressions; service tasks
  call host functions registered in :data:`SERVICES`.
* State is serialized *without* the spec (the spec is cached per definition version), and task data
  may hold ``Decimal`` and ``date`` values.
* :func:`advance` runs engine steps and prunes the finished part of the task tree, so the live state
  of a case stays the same size however many times a step repeats (history lives in the
  ``human_task`` and ``audit_event`` tables), and gateway loops never hit SpiffWorkflow's depth limit.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.bpmn.specs.mixins.unstructured_join import UnstructuredJoin
from SpiffWorkflow.exceptions import TaskNotFoundException
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from engine import errors, expressions
from engine.bpmn import errorevents, joins, messaging, multiinstance, timers
from engine.bpmn.dmn_task import DecisionTask, DecisionTaskConverter
from engine.bpmn.parsing import CompiledDefinition

logging.getLogger("spiff").setLevel(logging.WARNING)
logging.getLogger("SpiffWorkflow").setLevel(logging.WARNING)

# Host-side implementations of BPMN service tasks: operation name -> function(task_data, **params).
SERVICES: dict[str, Callable[..., Any]] = {}

MAX_ENGINE_STEPS = 10_000
# Wall-clock budget of one ``advance`` (issue 18 item 11): automatic steps run under the case's lock,
# so a loop of cheap steps must stop long before it blocks other writers for seconds.
MAX_ENGINE_SECONDS = 2.0


@errors.family(errors.Invalid)
class EngineError(RuntimeError):
    """The workflow could not advance (an expression failed, a loop ran away).

    ``element`` is the BPMN id of the step that failed, when known.
    """

    def __init__(self, message: str, element: str | None = None):
        super().__init__(message)
        self.element = element


class _SafeEnvironment(TaskDataEnvironment):
    """What SpiffWorkflow evaluates without a task (process conditions, message correlations): the same
    safe evaluator; never ``eval``/``exec``."""

    def evaluate(self, expression: str, context: Any, external_context: Any = None) -> Any:
        names = {**(external_context or {}), **(context if isinstance(context, dict) else {})}
        try:
            return expressions.evaluate(expression, names)
        except expressions.ExpressionError as err:
            raise EngineError(str(err)) from err

    def execute(self, script: str, context: Any, external_context: Any = None) -> bool:
        raise EngineError("scripts run only in script tasks / scripts run only in script tasks")


class SafeScriptEngine(PythonScriptEngine):
    """A script engine that never runs ``eval``/``exec`` on definition text."""

    def __init__(self) -> None:
        super().__init__(environment=_SafeEnvironment())

    def evaluate(self, task: Task, expression: str, external_context: dict[str, Any] | None = None) -> Any:
        names = {**(external_context or {}), **task.data}
        names.update(multiinstance.completion_names(task, expression) or {})
        try:
            value = expressions.evaluate(expression, names)
        except expressions.ExpressionError as err:
            raise EngineError(f"{task.task_spec.bpmn_id}: {err}", task.task_spec.bpmn_id) from err
        definition = getattr(task.task_spec, "event_definition", None)
        if isinstance(definition, TimerEventDefinition) and definition.expression == expression:
            # a timer text computed from case data: bounded before SpiffWorkflow reads it
            kind = (
                "timeCycle"
                if isinstance(definition, CycleTimerEventDefinition)
                else "timeDuration"
                if isinstance(definition, DurationTimerEventDefinition)
                else "timeDate"
            )
            refused = timers.problem(kind, value) if isinstance(value, str) else None
            if refused is not None:
                raise EngineError(f"{task.task_spec.bpmn_id}: {refused}", task.task_spec.bpmn_id)
        return value

    def execute(self, task: Task, script: str, external_context: dict[str, Any] | None = None) -> bool:
        try:
            expressions.execute_script(script, task.data)
        except expressions.ExpressionError as err:
            raise EngineError(f"{task.task_spec.bpmn_id}: {err}", task.task_spec.bpmn_id) from err
        return True

    def call_service(self, task: Task, **kwargs: Any) -> Any:
        operation = kwargs.pop("operation_name", None)
        fn = SERVICES.get(str(operation))
        if fn is None:
            raise EngineError(
                f"{task.task_spec.bpmn_id}: unknown service operation {operation!r}", task.task_spec.bpmn_id
            )
        params = {name: param["value"] for name, param in (kwargs.get("operation_params") or {}).items()}
        return json.dumps(fn(task.data, **params), default=str)


SCRIPT_ENGINE = SafeScriptEngine()


class _SpeclessWorkflowConverter(BpmnWorkflowConverter):
    """Serializes a workflow without its spec; the spec is supplied again on restore."""

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        dct = super(BpmnWorkflowConverter, self).to_dict(workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct: dict[str, Any], spec: Any = None, subprocess_specs: Any = None) -> BpmnWorkflow:
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def _make_registry() -> Any:
    registry = BpmnWorkflowSerializer.configure({**SPIFF_CONFIG, DecisionTask: DecisionTaskConverter})
    registry.register(Decimal, lambda v: {"value": str(v)}, lambda d: Decimal(d["value"]))
    registry.register(
        dt.date, lambda v: {"value": v.isoformat()}, lambda d: dt.date.fromisoformat(d["value"])
    )
    _SpeclessWorkflowConverter(BpmnWorkflow, registry)
    return registry


_SERIALIZER = BpmnWorkflowSerializer(_make_registry())


def new_workflow(compiled: CompiledDefinition, data: dict[str, Any] | None = None) -> BpmnWorkflow:
    wf = BpmnWorkflow(compiled.spec, compiled.subprocess_specs, script_engine=SCRIPT_ENGINE)
    if data:
        start = wf.task_tree
        start.data.update(data)
        for task in wf.get_tasks(state=TaskState.READY):
            task.data.update(data)
    return wf


def dump_state(wf: BpmnWorkflow) -> str:
    return _SERIALIZER.serialize_json(wf)


def load_state(state: str, compiled: CompiledDefinition) -> BpmnWorkflow:
    dct = json.loads(state)
    _SERIALIZER.migrate(dct)
    wf = _SERIALIZER.registry.restore(dct, spec=compiled.spec, subprocess_specs=compiled.subprocess_specs)
    wf.script_engine = SCRIPT_ENGINE
    return wf


def _collapsible(wf: BpmnWorkflow, task: Task) -> bool:
    if not task.has_state(TaskState.FINISHED_MASK) or len(task._children) != 1:
        return False
    if task.has_state(TaskState.ERROR):  # a failed step waits for its incident to be retried
        return False
    if task is wf.last_task or task.id in wf.subprocesses or isinstance(task.task_spec, SubWorkflowTask):
        return False
    child = wf.tasks.get(task._children[0])
    # A join reads its direct parent (its incoming branch) and that parent's data: keep it.
    return child is not None and not isinstance(child.task_spec, UnstructuredJoin)


def prune(wf: BpmnWorkflow) -> int:
    """Drop finished single-child tasks from the task tree; return how many were removed.

    A finished task with one child carries nothing the engine still needs: its child holds a full copy
    of the data. The chain at the top is cut off (the new root keeps its data) and finished links
    inside branches are spliced out, except the direct parent of a join, which the join still reads.
    Every unfinished task, every fork and every branch a join waits on stays. The audit and human-task
    tables keep the history, so the live state stays small however long a case runs.
    """
    removed = 0
    node = wf.task_tree
    while node.parent is None and _collapsible(wf, node):
        child = wf.tasks[node._children[0]]
        del wf.tasks[node.id]
        child._parent = None
        wf.task_tree = node = child
        removed += 1
    for task in list(wf.tasks.values()):
        parent = task.parent
        if parent is None or not parent.has_state(TaskState.FINISHED_MASK) or not _collapsible(wf, task):
            continue
        child = wf.tasks[task._children[0]]
        parent._children[parent._children.index(task.id)] = child.id
        child._parent = parent.id
        del wf.tasks[task.id]
        removed += 1
    return removed


def failed_element(wf: BpmnWorkflow, err: BaseException) -> str | None:
    """The BPMN id of the step an engine error came from."""
    element = getattr(err, "element", None)
    if element:
        return str(element)
    for attr in ("task", "task_spec"):
        found = getattr(err, attr, None)
        bpmn_id = getattr(getattr(found, "task_spec", found), "bpmn_id", None)
        if bpmn_id:
            return str(bpmn_id)
    return next((str(t.task_spec.bpmn_id) for t in failed_tasks(wf) if t.task_spec.bpmn_id), None)


def advance(wf: BpmnWorkflow) -> None:
    """Run engine steps until only human tasks or waiting events remain, pruning as it goes.

    More than ``MAX_ENGINE_STEPS`` automatic steps or ``MAX_ENGINE_SECONDS`` in one call is taken for a
    runaway loop and stopped with :class:`EngineError`; so is every failure of an automatic step
    (an expression error, a gateway with no true condition and no default, SpiffWorkflow's own errors
    and its recursion on deep task trees). The error names the failing element; the failed task is
    left in ERROR state, so the caller may keep the state as an incident and :func:`retry` it later.
    """
    steps = 0
    deadline = time.monotonic() + MAX_ENGINE_SECONDS

    def count(task: Task) -> None:
        nonlocal steps
        steps += 1
        messaging.note(wf, task)  # a message or signal thrown: delivered to other cases after the save
        if steps > MAX_ENGINE_STEPS or time.monotonic() > deadline:
            what = "steps" if steps > MAX_ENGINE_STEPS else "time"
            raise EngineError(
                f"流程自动步骤超过上限（{MAX_ENGINE_STEPS} 步 / {MAX_ENGINE_SECONDS} 秒），可能存在无限循环 / "
                f"automatic steps exceeded the {what} limit (runaway loop?)",
                task.task_spec.bpmn_id,
            )

    while True:
        before = steps
        try:
            wf.do_engine_steps(did_complete_task=count)
        except EngineError as err:
            if err.element is None:
                err.element = failed_element(wf, err)
            raise
        except RecursionError as err:
            raise EngineError(
                "流程结构过深，无法继续 / the process recursed too deeply (a loop of automatic steps?)",
                failed_element(wf, err),
            ) from err
        except Exception as err:  # SpiffWorkflow's own errors: no true gateway condition, bad timer...
            if errorevents.route_failure(wf, err):  # a business failure caught by an error boundary event
                continue
            element = failed_element(wf, err)
            message = str(err).strip() or type(err).__name__
            raise EngineError(f"{element or '?'}: {type(err).__name__}: {message}"[:2000], element) from err
        prune(wf)
        ready = [t for t in wf.get_tasks(state=TaskState.READY) if not t.task_spec.manual]
        if not ready:
            for sp in wf.subprocesses.values():
                ready.extend(t for t in sp.get_tasks(state=TaskState.READY) if not t.task_spec.manual)
        if not ready:
            return
        if steps == before:
            raise EngineError("流程无法继续执行 / engine steps stalled: ready tasks that cannot run")
        if time.monotonic() > deadline:
            raise EngineError(
                f"流程自动步骤超过时间上限（{MAX_ENGINE_SECONDS} 秒）/ automatic steps exceeded the time limit",
                next((str(t.task_spec.bpmn_id) for t in ready if t.task_spec.bpmn_id), None),
            )


def failed_tasks(wf: BpmnWorkflow) -> list[Task]:
    """Tasks left in ERROR by a failed automatic step (subprocesses included)."""
    found = list(wf.get_tasks(state=TaskState.ERROR))
    for sp in wf.subprocesses.values():
        found.extend(sp.get_tasks(state=TaskState.ERROR))
    return found


def retry(wf: BpmnWorkflow, data: dict[str, Any] | None = None) -> None:
    """Run the failed automatic steps again (after a fix), then advance; raises :class:`EngineError`
    again if they still fail. ``data`` (a fix of the case data) is merged into every live task first,
    as an admin's data edit is."""
    workflows = [wf, *wf.subprocesses.values()]
    if data:
        for workflow in workflows:
            for task in workflow.get_tasks():
                if not task.has_state(TaskState.FINISHED_MASK) or task.has_state(TaskState.ERROR):
                    task.data.update(data)
    for workflow in workflows:  # waiting tasks inherit their finished parent's data again: keep any fix
        for task in workflow.get_tasks(state=TaskState.WAITING | TaskState.FUTURE):
            if task.parent is not None and task.parent.has_state(TaskState.COMPLETED):
                task.parent.data.update(task.data)
    for task in failed_tasks(wf):
        if task.parent is not None:  # joins and gateways read their incoming branch again
            task.parent.data.update(task.data)
        task._set_state(TaskState.READY)
    # A step that failed while its predecessor completed (a timer text evaluated as the task before it
    # finished) is left FUTURE under a finished parent: update it again so it is evaluated anew.
    for workflow in workflows:
        for task in list(workflow.get_tasks(state=TaskState.FUTURE)):
            parent = task.parent
            if parent is not None and parent.has_state(TaskState.COMPLETED) and task.workflow is workflow:
                task.task_spec._update(task)
    advance(wf)


def ready_human_tasks(wf: BpmnWorkflow) -> list[Task]:
    return list(wf.get_tasks(state=TaskState.READY, manual=True))


def find_task(wf: BpmnWorkflow, task_id: str) -> Task | None:
    try:
        return wf.get_task_from_id(UUID(task_id))
    except (ValueError, TypeError, AttributeError, TaskNotFoundException):  # not a UUID, or no such task
        return None


def current_data(wf: BpmnWorkflow) -> dict[str, Any]:
    """The process data as it stands: the last finished task's, the ready or waiting tasks' and the
    ended branches' data (engine.bpmn.joins.ended_branches), parallel branches merged by what each
    changed (engine.bpmn.joins). To be read: it may share values with the tasks' data (copy before
    changing)."""
    if wf.is_completed():
        return dict(wf.data or (wf.last_task.data if wf.last_task else {}))
    found = wf.get_tasks(state=TaskState.READY | TaskState.WAITING | TaskState.CANCELLED)
    tasks = [t for t in found if not t.has_state(TaskState.CANCELLED)]
    tasks.extend(joins.ended_branches(t for t in found if t.has_state(TaskState.CANCELLED)))
    if wf.last_task is not None:
        tasks.insert(0, wf.last_task)
    return joins.in_flight(tasks)


def _timer_due(task: Task) -> dt.datetime | None:
    """When a waiting timer is due; EngineError (naming the timer) if its stored time cannot be read: a
    malformed timer must fail loudly (the wake-up opens an incident), not silently never fire."""
    value = task.internal_data.get("event_value")
    if value is None:
        return None
    try:
        if isinstance(value, dict):  # cycle: {'cycles': n, 'next': iso, 'duration': s}
            if value.get("cycles") == 0 or not value.get("next"):
                return None
            due = dt.datetime.fromisoformat(value["next"])
        elif str(value).strip().upper().startswith("P"):  # Spiff would parse a duration, not a moment
            raise ValueError("a duration where a date and time was expected")
        else:
            due = TimerEventDefinition.parse_time_or_duration(str(value))
    except (AttributeError, KeyError, TypeError, ValueError, OverflowError) as err:
        element = task.task_spec.bpmn_id
        raise EngineError(
            f"定时器“{element}”的时间无法识别 / the timer '{element}' has an unreadable time {value!r}: {err}"[
                :2000
            ],
            element,
        ) from err
    if not isinstance(due, dt.datetime):
        raise EngineError(
            f"定时器“{task.task_spec.bpmn_id}”的时间无法识别 / unreadable timer", task.task_spec.bpmn_id
        )
    return due


def _has_timer(definition: Any) -> bool:
    """A timer, or an event-based gateway (its events gathered in one definition) waiting on one."""
    if isinstance(definition, MultipleEventDefinition):
        return any(isinstance(d, TimerEventDefinition) for d in definition.event_definitions)
    return isinstance(definition, TimerEventDefinition)


def waiting_timers(wf: BpmnWorkflow) -> list[tuple[Task, dt.datetime]]:
    """Every waiting timer of the workflow (subprocesses included) with its due time, soonest first."""
    found = []
    for task in list(wf.event_manager.tasks.values()):
        definition = getattr(task.task_spec, "event_definition", None)
        if not _has_timer(definition) or not task.has_state(TaskState.WAITING):
            continue
        due = _timer_due(task)
        if due is not None:
            if due.tzinfo is None:
                due = due.replace(tzinfo=dt.UTC)
            found.append((task, due.astimezone(dt.UTC)))
    return sorted(found, key=lambda item: item[1])


def fire_due_timers(wf: BpmnWorkflow) -> list[tuple[str, dt.datetime]]:
    """Fire every timer due now and run the workflow on; return (BPMN id, due time) of what fired.

    Repeats until nothing is due, so a cycle that missed several occurrences while no scheduler ran
    catches up all of them.
    """
    fired: list[tuple[str, dt.datetime]] = []
    for _ in range(MAX_ENGINE_STEPS):
        now = dt.datetime.now(dt.UTC)
        due = [(task.task_spec.bpmn_id, at) for task, at in waiting_timers(wf) if at <= now]
        if not due:
            break
        fired.extend(due)
        wf.refresh_timers()
        try:
            advance(wf)
        except EngineError as err:
            err.fired = fired  # type: ignore[attr-defined]  # what fired before the step failed
            raise
    return fired


def timer_start_events(spec: Any) -> list[Any]:
    """The top-level start events of a process spec that are timers."""
    return [
        s
        for s in spec.task_specs.values()
        if isinstance(s, StartEvent)
        and isinstance(getattr(s, "event_definition", None), TimerEventDefinition)
    ]


def start_now(wf: BpmnWorkflow) -> bool:
    """Make a timer start event fire once, at once: the instance was started by a user or its schedule.

    Call before the first ``advance``. SpiffWorkflow evaluates a timer only while its ``event_value``
    is unset, so setting it to "due now" here means the start event neither waits nor fires again.
    (Recurrence of timer-started processes lives in the ``start_schedule`` table: one instance per
    occurrence.)
    """
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(milliseconds=1)).isoformat()
    armed = False
    for task in wf.get_tasks():
        definition = getattr(task.task_spec, "event_definition", None)
        if task.workflow is not wf or not isinstance(task.task_spec, StartEvent):
            continue
        if isinstance(definition, CycleTimerEventDefinition):
            task.internal_data["event_value"] = {"cycles": 1, "next": past, "duration": 0.0}
            armed = True
        elif isinstance(definition, TimerEventDefinition):
            task.internal_data["event_value"] = past
            armed = True
    return armed
