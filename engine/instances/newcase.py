"""New cases in two phases: worked out from data, then written (issue 18 item 10).

:func:`prepare` does everything a new case needs that evaluates user expressions — the procedure's
start rules, the workflow run to its first wait (scripts, gateway conditions), a message its start
event catches and the steps after it, the first tasks' ``deadline`` expressions — and writes nothing.
:func:`insert` writes what was prepared: the case row, its audit events, its state and tasks.

A rule of a step that starts cases (the Bridge Plan's district confirmation opening one household case
per family, the community-assistance application referring a project case, special care's period
review) runs inside a completion whose lock is deferred on SQLite (engine.instances.optimistic): the
first INSERT would take the whole database's write lock, and everything evaluated after it — the other
new cases, the completed step's own scripts and conditions — would be evaluated while every other
writer waits. :func:`start` therefore, while the lock is deferred, only prepares the case, reserves
its id (the rule hands the id on in the step's data) and keeps the write for
``optimistic.write_later``, which the completion calls once its own step is worked out: every new
case, then the step, are computed before the first row is written. Elsewhere (PostgreSQL, a
transaction that has written already) :func:`start` writes at once, as before.

Reserved ids: on SQLite the next ids after the largest one in the table (an ``INTEGER PRIMARY KEY``
takes ``max(rowid) + 1``); when the lock is taken the table's largest id is checked to be still below
the first reserved one, else a case was started meanwhile and the completion runs again from a fresh
read (``optimistic.StaleStep``), nothing written.
"""

from __future__ import annotations

import copy
import functools
import re
from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from sqlalchemy.orm import Session

from engine import procedures
from engine.audit import service as audit
from engine.audit.models import AuditAction
from engine.bpmn import dmn_task, messaging, runtime
from engine.bpmn.parsing import CompiledDefinition
from engine.db import dumps
from engine.decisions import service as decisions
from engine.definitions import service as definitions
from engine.definitions.models import ProcessDefinition
from engine.errors import Invalid
from engine.instances import optimistic, rehearsal
from engine.instances import state as instances
from engine.instances.models import InstanceStatus, ProcessInstance
from engine.orgs.models import OrgUnit
from engine.policy import service as policy
from engine.users.models import User


@dataclass
class Message:
    """A message a new case's start event catches (engine.messages): handed over before it is written."""

    kind: str
    name: str
    payload: Any
    key: str | None
    sender_id: int | None


@dataclass
class Prepared:
    """A new case worked out in memory: nothing of it is written yet."""

    definition: ProcessDefinition
    unit: OrgUnit
    actor_id: int | None
    business_key: str | None
    origin: str
    parent_id: int | None
    initial: dict[str, Any]
    compiled: CompiledDefinition
    wf: BpmnWorkflow
    failure: runtime.EngineError | None
    due: instances.Due
    # a message start: the state saved before the message (as a delivery would find it), the message,
    # whether the workflow caught it, and a failure of the steps after it (an incident)
    before: tuple[str, instances.Due, list[Any]] | None = None
    message: Message | None = None
    caught: bool = False
    after_failure: runtime.EngineError | None = None
    id: int | None = None
    waiting: list[Any] | None = None  # the catches it waits at (their correlation keys evaluated)
    people: dict[str, Any] | None = None  # whom its first tasks are for (multi-instance expressions)
    thrown: list[Any] | None = None  # what it threw, taken when it is kept for later (start)


def prepare(
    session: Session,
    definition: ProcessDefinition,
    unit: OrgUnit,
    *,
    actor_id: int | None,
    business_key: str | None = None,
    data: Any = None,
    origin: str = "user",
    parent_id: int | None = None,
    message: Message | None = None,
) -> Prepared:
    """Work out a new case (reads only; every user expression of its start is evaluated here)."""
    with session.no_autoflush:  # nothing pending is flushed (that would take a deferred write lock)
        initial = _check_start_data(data)
        initial.update(procedures.run_on_start(session, definition.key, unit, initial))
        initial.pop(policy.DATA_KEY, None)  # never from the starter: the case's own copy, below
        kept = policy.snapshot(session, definition.key, initial)  # the policy parameters this case keeps
        if kept is not None:
            initial[policy.DATA_KEY] = kept
        compiled = definitions.SPEC_CACHE.get(definition)
        initial.pop(dmn_task.PINS_KEY, None)  # never from the starter: the decision versions it keeps
        if compiled.decision_refs:
            initial[dmn_task.PINS_KEY] = decisions.pins(session, compiled.decision_refs)
        if compiled.initiator_var and actor_id is not None:  # camunda:initiator: the starter's user name
            starter = session.get(User, actor_id)
            initial[compiled.initiator_var] = starter.username if starter is not None else None
        wf, failure, due = _first_steps(session, definition, compiled, initial)
    if failure is not None and origin != "schedule":  # a person starting a case: refused, nothing stored
        raise Invalid.on("data", f"流程无法开始 / the process cannot start: {failure}") from failure
    # (the scheduler's occurrence: the case is kept with an incident for admins)
    prepared = Prepared(
        definition, unit, actor_id, business_key, origin, parent_id, initial, compiled, wf, failure, due
    )
    if message is not None and failure is None:
        _catch(prepared, message)
    prepared.waiting = [] if prepared.wf.is_completed() else messaging.waiting(prepared.wf)
    prepared.people = instances.prepare_people(prepared.compiled, prepared.wf)
    return prepared


def _catch(prepared: Prepared, message: Message) -> None:
    """Hand the new case the message its start event waits for and run it on, in memory."""
    wf = prepared.wf
    prepared.before = (runtime.dump_state(wf), prepared.due, messaging.waiting(wf))
    prepared.message = message
    payload = copy.deepcopy(message.payload)  # SpiffWorkflow merges it into task data
    prepared.caught = bool(messaging.catch(wf, message.kind, message.name, payload, None))
    if not prepared.caught:
        return
    try:
        runtime.advance(wf)
    except runtime.EngineError as err:  # the case caught it; a step after it failed: an incident
        prepared.after_failure = err
    prepared.due = instances.prepare_deadlines(prepared.compiled, wf)


def insert(session: Session, prepared: Prepared) -> ProcessInstance:
    """Write a prepared case: its row, the start (and message) events, its state and first tasks."""
    p = prepared
    instance = ProcessInstance(
        definition_id=p.definition.id,
        process_key=p.definition.key,
        business_key=p.business_key,
        org_unit_id=p.unit.id,
        district_id=p.unit.district_id,
        street_id=p.unit.street_id,
        parent_id=p.parent_id,
        status=InstanceStatus.RUNNING,
        started_by_id=p.actor_id,
        state="",
        data={},
    )
    if p.id is not None:
        instance.id = p.id
    session.add(instance)
    session.flush()
    audit.record(
        session,
        AuditAction.INSTANCE_STARTED,
        actor_id=p.actor_id,
        instance_id=instance.id,
        definition_id=p.definition.id,
        details={
            "process_key": p.definition.key,
            "version": p.definition.version,
            "org_unit": p.unit.code,
            "business_key": p.business_key,
            "origin": p.origin,
            "data": p.initial,
        },
    )
    if p.before is None:
        loaded = instances.Loaded(
            instance, p.compiled, p.wf, due=p.due, waiting=p.waiting, people=p.people, thrown=p.thrown
        )
        instances.save(session, loaded, p.actor_id)
    else:  # saved as it waited for the message, then as it runs on after it (as a delivery does)
        state, due, catches = p.before
        waiting = runtime.load_state(state, p.compiled)
        loaded = instances.Loaded(instance, p.compiled, waiting, due=due, waiting=catches)
        instances.save(session, loaded, p.actor_id)
        if p.caught and p.message is not None:
            _received(session, instance, p)
    if p.failure is not None:
        from engine.incidents import service as incidents

        incidents.record(session, instance, p.failure, origin=p.origin, actor_id=p.actor_id)
    return instance


def _received(session: Session, instance: ProcessInstance, p: Prepared) -> None:
    m = p.message
    assert m is not None
    loaded = instances.Loaded(
        instance, p.compiled, p.wf, due=p.due, waiting=p.waiting, people=p.people, thrown=p.thrown
    )
    loaded.events.add(  # written with the save's other events, in one INSERT
        AuditAction.MESSAGE_RECEIVED,  # only a message starts a case
        actor_id=p.actor_id,
        instance_id=instance.id,
        details={
            "message": m.name,
            "kind": m.kind,
            "bpmn_id": None,
            "correlation": m.key,
            "from": m.sender_id,
        },
    )
    if p.after_failure is not None:
        from engine.incidents import service as incidents

        incidents.record(session, instance, p.after_failure, origin="message", actor_id=p.actor_id)
    instances.save(session, loaded, p.actor_id)


def start(session: Session, prepared: Prepared) -> int:
    """Write ``prepared`` now — or, while the operation's write lock is deferred (SQLite), reserve its id
    and keep the write for ``optimistic.write_later``. Returns the case's id."""
    if not optimistic.deferring(session):
        return insert(session, prepared).id
    prepared.id = optimistic.reserve_instance_id(session)
    # what it throws (to cases already waiting) is worked out now too (engine.messages.ahead)
    holder = instances.Loaded(_Placeholder(prepared), prepared.compiled, prepared.wf)  # type: ignore[arg-type]
    instances.throw_ahead(session, holder)
    prepared.thrown = holder.thrown
    optimistic.later(session, functools.partial(insert, session, prepared))
    return prepared.id


@dataclass
class _Placeholder:
    """The new case as the messages it throws see their sender before it is written (id, business key)."""

    prepared: Prepared

    @property
    def id(self) -> int | None:
        return self.prepared.id

    @property
    def business_key(self) -> str | None:
        return self.prepared.business_key


_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
MAX_START_KEYS = 100
MAX_START_BYTES = 64 * 1024  # initial case data as JSON; forms carry the rest, field by field


def _check_start_data(data: Any) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise Invalid(
            "初始数据必须是对象 / data must be an object", {"data": ["必须是对象 / must be an object"]}
        )
    problems = {}
    if len(dumps(data).encode("utf-8")) > MAX_START_BYTES:
        problems["data"] = [
            f"初始数据过大（最多 {MAX_START_BYTES // 1024} KB）/ data too large (max {MAX_START_BYTES // 1024} KB)"
        ]
    if len(data) > MAX_START_KEYS:
        problems["data"] = [f"字段过多（最多 {MAX_START_KEYS}）/ too many keys (max {MAX_START_KEYS})"]
    for key in data:
        if not isinstance(key, str) or not _NAME.match(key):
            problems[f"data.{key}"] = ["字段名无效 / invalid field name (letters, digits, '_')"]
    if problems:
        raise Invalid("初始数据无效 / invalid data", problems)
    return dict(data)


def _first_steps(
    session: Session, definition: ProcessDefinition, compiled: CompiledDefinition, initial: dict[str, Any]
) -> tuple[BpmnWorkflow, runtime.EngineError | None, instances.Due]:
    """A new case's workflow run to its first wait and its first deadlines. These evaluate user
    expressions: nothing is written before them; in an operation that wrote already (a rule of a step
    starting a case) they are worked out before its write lock (engine.instances.rehearsal)."""
    if not rehearsal.active(session):
        return _run_first_steps(compiled, initial)
    key: Any = ("start", definition.id, definition.sha256, repr(initial))
    key = (*key, rehearsal.occurrence(session, key))
    kept = rehearsal.recall(session, key)
    if kept is None:
        work = functools.partial(_rehearse_first_steps, compiled, dict(initial))
        rehearsal.refuse(session, key, work)
        kept = work()
        rehearsal.keep(session, key, kept)  # the next attempt starts from the same workflow (task ids)
    state, failure, due = kept
    return runtime.load_state(state, compiled), failure, due


def _run_first_steps(
    compiled: CompiledDefinition, initial: dict[str, Any]
) -> tuple[BpmnWorkflow, runtime.EngineError | None, instances.Due]:
    wf = runtime.new_workflow(compiled, initial)
    runtime.start_now(wf)
    failure = None
    try:
        runtime.advance(wf)
    except runtime.EngineError as err:
        failure = err
    return wf, failure, instances.prepare_deadlines(compiled, wf)


def _rehearse_first_steps(
    compiled: CompiledDefinition, initial: dict[str, Any]
) -> tuple[str, runtime.EngineError | None, instances.Due]:
    wf, failure, due = _run_first_steps(compiled, initial)
    return runtime.dump_state(wf), failure, due
