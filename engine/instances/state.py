"""A case's state in memory and its save: the workflow, the deadlines and catches worked out for it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from sqlalchemy.orm import Session

from engine.audit import service as audit
from engine.audit.models import AuditAction
from engine.bpmn import messaging, multiinstance, runtime
from engine.bpmn.parsing import CompiledDefinition
from engine.db import utcnow
from engine.forms import jsonable
from engine.instances import optimistic
from engine.instances.models import InstanceStatus, ProcessInstance
from engine.kernel import bus


@dataclass
class Loaded:
    instance: ProcessInstance
    compiled: CompiledDefinition
    wf: BpmnWorkflow
    # The instance's open task rows, when the caller read them under the lock already (saves a query).
    open_rows: list[Any] | None = None
    # This step's audit events, written in one INSERT when the step is saved.
    events: audit.Batch = field(default_factory=audit.Batch)
    # The deadlines of the human tasks the step opens, evaluated before the write lock (issue 18 item 10):
    # see :func:`prepare_deadlines`; the task projection evaluates any it lacks itself.
    due: Due | None = None
    # The message and signal catches it waits at (their correlation keys may be user expressions),
    # worked out before the write lock where the step's writes come first: see :func:`ready_to_save`.
    waiting: list[Any] | None = None
    # Whom each human task the step opens is for (a multi-instance task's role, assignee and label: user
    # expressions), worked out before the write lock like the deadlines: see :func:`prepare_people`.
    people: dict[str, multiinstance.Instance] | None = None
    # The messages and signals the step threw (their correlation keys may be user expressions), taken
    # before the write lock where the cases they reach are worked out first: see :func:`throw_ahead`.
    thrown: list[Any] | None = None


# When the deadlines were worked out, and per new task (its id in the workflow) its due time and text.
Due = tuple[dt.datetime, dict[str, tuple[dt.datetime | None, str | None]]]


def prepare_deadlines(compiled: CompiledDefinition, wf: BpmnWorkflow, opened: Collection[str] = ()) -> Due:
    """Evaluate now the ``deadline`` of every ready human task of ``wf`` whose row is not open yet (ids
    in ``opened`` have one): a deadline may be a user expression, and this runs before the write lock."""
    from engine.deadlines import sla

    now = utcnow()
    due = {}
    for task in runtime.ready_human_tasks(wf):
        if str(task.id) not in opened:
            meta = compiled.task_meta(task.task_spec.bpmn_id)
            due[str(task.id)] = sla.deadline_for(meta.properties if meta else {}, task.data, now)
    return now, due


def prepare_people(
    compiled: CompiledDefinition, wf: BpmnWorkflow, opened: Collection[str] = ()
) -> dict[str, multiinstance.Instance]:
    """Evaluate now the role, assignee and label (``role_field``, ``assignee_field``, ``instance_label``:
    user expressions) of every ready human task of ``wf`` whose row is not open yet (ids in ``opened``)."""
    people = {}
    for task in runtime.ready_human_tasks(wf):
        if str(task.id) not in opened:
            meta = compiled.task_meta(task.task_spec.bpmn_id)
            people[str(task.id)] = multiinstance.instance_of(meta.properties if meta else {}, task.data)
    return people


def ready_to_save(loaded: Loaded, opened: Collection[str] = ()) -> None:
    """Evaluate now what :func:`save` would evaluate after its first write: the new tasks' deadlines, whom
    they are for, and the correlation keys of the catches the case waits at (a step that writes other rows
    before its save: its step record, the cases its rules started: engine.instances.newcase)."""
    if loaded.due is None:
        loaded.due = prepare_deadlines(loaded.compiled, loaded.wf, opened)
    if loaded.people is None:
        loaded.people = prepare_people(loaded.compiled, loaded.wf, opened)
    if loaded.waiting is None:
        loaded.waiting = [] if loaded.wf.is_completed() else messaging.waiting(loaded.wf)


def throw_ahead(session: Session, loaded: Loaded) -> None:
    """Take what the step threw; while the operation's write lock is deferred (SQLite), the cases
    already waiting for it are worked out now, before any write (engine.messages.ahead), and delivered
    after the save as before."""
    if loaded.thrown is None:
        loaded.thrown = messaging.take_thrown(loaded.wf)
        if (loaded.thrown or loaded.waiting) and optimistic.deferring(session):  # (or a kept message)
            bus.emit(bus.THROWN_AHEAD, session, loaded=loaded)


def save(session: Session, loaded: Loaded, actor_id: int | None) -> list[Any]:
    """Write the workflow state back and project its human tasks (same transaction); returns the
    instance's open task rows after the step. The projection is the task layer's (subscribed at engine
    start-up: ``engine.wiring``); a case that ended is announced."""
    instance, wf = loaded.instance, loaded.wf
    throw_ahead(session, loaded)
    thrown, loaded.thrown = loaded.thrown or [], None  # not stored with the state: delivered below
    instance.state = runtime.dump_state(wf)
    instance.data = jsonable(runtime.current_data(wf))
    instance.updated_at = utcnow()
    if wf.is_completed() and instance.status == InstanceStatus.RUNNING:
        instance.status = InstanceStatus.COMPLETED
        instance.ended_at = utcnow()
        loaded.events.add(AuditAction.INSTANCE_COMPLETED, actor_id=actor_id, instance_id=instance.id)
        bus.emit(bus.CASE_ENDED, session, instance=instance, actor_id=actor_id)
    # the task projection also sets next_wakeup_at, writes the row and the events
    open_rows: list[Any] = bus.call(bus.PROJECT, session, loaded, actor_id)
    bus.emit(bus.STATE_SAVED, session, loaded=loaded, actor_id=actor_id, thrown=thrown)
    return open_rows
