"""Starting, locking, loading and saving process instances."""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from sqlalchemy import Integer, bindparam, func, select, update
from sqlalchemy.orm import Session, joinedload, lazyload, selectinload, undefer

from engine.audit import service as audit
from engine.audit.models import AuditAction
from engine.bpmn import messaging, runtime
from engine.bpmn.parsing import CompiledDefinition
from engine.db import dumps, utcnow
from engine.decisions import service as decisions
from engine.definitions import service as definitions
from engine.definitions.models import ProcessDefinition
from engine.errors import Conflict, Forbidden, Invalid, NotFound
from engine.forms import jsonable
from engine.instances import optimistic, rehearsal, startdata
from engine.instances.models import InstanceStatus, ProcessInstance
from engine.kernel import bus
from engine.orgs import service as orgs
from engine.orgs.models import OrgUnit
from engine.recusal import service as recusal
from engine.scope import visible_clause
from engine.users import service as users
from engine.users.models import User

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
MAX_START_KEYS = 100
MAX_START_BYTES = 64 * 1024  # initial case data as JSON; forms carry the rest, field by field


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


def ready_to_save(loaded: Loaded, opened: Collection[str] = ()) -> None:
    """Evaluate now what :func:`save` would evaluate after its first write: the new tasks' deadlines and
    the correlation keys of the catches the case waits at (a step that writes other rows before its
    save, such as the cases its rules started: engine.instances.newcase)."""
    if loaded.due is None:
        loaded.due = prepare_deadlines(loaded.compiled, loaded.wf, opened)
    if loaded.waiting is None:
        loaded.waiting = [] if loaded.wf.is_completed() else messaging.waiting(loaded.wf)


# The instance to lock, from the bound parameter ``lock_key``: by default its id.
_BY_ID: Any = bindparam("lock_key", type_=Integer)


@functools.cache
def _lock_statement(dialect: str, target: Any) -> Any:
    """Built once per dialect and target (building and cache-keying a statement costs a completion ~0.1 ms)."""
    stmt: Any
    if dialect == "sqlite":  # the UPDATE returns the row it locked, its version raised (see below)
        stmt = (
            update(ProcessInstance)
            .where(ProcessInstance.id == target)
            .values(version=ProcessInstance.version + 1)
            .returning(ProcessInstance)
            .execution_options(synchronize_session=False)
        )
    else:
        stmt = select(ProcessInstance).where(ProcessInstance.id == target).with_for_update()
    # No eager joins here: the lock is on the instance row alone, and the query stays cheap.
    return stmt.options(lazyload("*"), undefer(ProcessInstance.state)).execution_options(
        populate_existing=True
    )


def lock(session: Session, key: int, *, target: Any = _BY_ID, deferred: bool = False) -> ProcessInstance:
    """Take the per-instance lock for the rest of the transaction and return the fresh row.

    ``target`` is the SQL that names the instance from the bound parameter ``lock_key`` (= ``key``): the
    id itself by default; a module-level scalar subquery (the instance of a task, say) is resolved inside
    the locking statement.

    PostgreSQL: ``SELECT … FOR UPDATE`` on the row. SQLite: an ``UPDATE … RETURNING`` of the row raising
    its version takes the database write lock at once (other writers wait on the busy timeout) and
    returns the latest committed state; the raised version tells a stepping operation that read the row
    before (``deferred``) that the case changed under it.

    ``deferred`` (stepping operations wrapped in ``optimistic.retrying``): on SQLite, read the row
    without the write lock and take the lock, checking the version, just before the first write — so
    that user expressions are evaluated without the database's write lock (engine.instances.optimistic).
    """
    if deferred and optimistic.can_defer(session):
        return optimistic.lock(session, key, target)
    stmt = _lock_statement(session.get_bind().dialect.name, target)
    instance = session.scalars(stmt, {"lock_key": key}).one_or_none()
    if instance is None:
        raise NotFound(f"流程实例不存在 / process instance {key} not found")
    return instance


def load_spec(session: Session, instance: ProcessInstance) -> CompiledDefinition:
    """The parsed definition an instance runs on (from the spec cache)."""
    return definitions.compiled(session, instance.definition_id)


def load(session: Session, instance: ProcessInstance) -> Loaded:
    compiled = load_spec(session, instance)
    if compiled.decision_refs:  # the decision tables this case keeps, read before any step runs
        decisions.ensure_loaded(session, compiled.decision_refs, instance.data or {})
    return Loaded(instance, compiled, runtime.load_state(instance.state, compiled))


def save(session: Session, loaded: Loaded, actor_id: int | None) -> list[Any]:
    """Write the workflow state back and project its human tasks (same transaction); returns the
    instance's open task rows after the step. The projection is the task layer's (subscribed at engine
    start-up: ``engine.wiring``); a case that ended is announced."""
    instance, wf = loaded.instance, loaded.wf
    thrown = messaging.take_thrown(wf)  # not stored with the state: delivered below
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


def start(
    session: Session,
    user: User,
    process_key: str,
    org_unit_code: str,
    *,
    business_key: str | None = None,
    data: Any = None,
) -> ProcessInstance:
    """A user starts the latest version of a procedure for an org unit inside their grants. When the
    procedure opens with a form, they must hold that first step's role for the unit (as the web app's
    start page offers); one that opens with a script needs any grant for the unit. Either way the grant
    must cover the procedure (engine.scope). A timer-started one (a monthly report) is started by the
    scheduler or an admin only. Business key and start data are checked (engine.instances.startdata).
    Admins may start anything."""
    definition = definitions.get_version(session, process_key)
    unit = orgs.by_code(session, org_unit_code)
    placed = _Placed(unit.id, unit.district_id, unit.street_id, definition.key, business_key)
    timer_started = bool(runtime.timer_start_events(definitions.SPEC_CACHE.get(definition).spec))
    if not users.is_admin(user):
        if not users.in_scope(session, user, placed):
            raise Forbidden("无权在该机构新建申请 / you may not start procedures for this org unit")
        if timer_started:
            raise Forbidden(
                "定时发起的流程只能由调度程序或管理员发起 / "
                "a timer-started procedure is started by the scheduler or an admin only"
            )
        if messaging.start_messages(definitions.SPEC_CACHE.get(definition).spec):
            raise Forbidden(
                "该流程由消息发起（如项目确认名单），不能直接新建 / "
                "this procedure is started by a message (e.g. its project's confirmed list), not by hand"
            )
        first = definitions.first_task(definition)
        if first is not None and first.role and not users.holds(session, user, first.role, placed):
            raise Forbidden(
                "您没有发起该流程所需的角色（首个环节的办理角色）/ "
                "you do not hold the role of this procedure's first step for this org unit"
            )
    business_key = startdata.check_business_key(business_key)
    if timer_started:  # what the scheduler hands over: the occurrence (the procedure's rules check it)
        data = startdata.check_scheduled_start(data)
    else:
        data = startdata.check_start_data(definition, data)
        recusal.check(session, None, user, data, "data")  # nobody registers their own relative's case
    return create(session, definition, unit, actor_id=user.id, business_key=business_key, data=data)


def create(
    session: Session,
    definition: ProcessDefinition,
    unit: OrgUnit,
    *,
    actor_id: int | None,
    business_key: str | None = None,
    data: Any = None,
    origin: str = "user",
    parent_id: int | None = None,
) -> ProcessInstance:
    """Create and run an instance (no permission check: callers are ``start`` and the scheduler)."""
    from engine.instances import newcase

    prepared = newcase.prepare(
        session,
        definition,
        unit,
        actor_id=actor_id,
        business_key=business_key,
        data=data,
        origin=origin,
        parent_id=parent_id,
    )
    return newcase.insert(session, prepared)


def _first_steps(
    session: Session, definition: ProcessDefinition, compiled: CompiledDefinition, initial: dict[str, Any]
) -> tuple[BpmnWorkflow, runtime.EngineError | None, Due]:
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
) -> tuple[BpmnWorkflow, runtime.EngineError | None, Due]:
    wf = runtime.new_workflow(compiled, initial)
    runtime.start_now(wf)
    failure = None
    try:
        runtime.advance(wf)
    except runtime.EngineError as err:
        failure = err
    return wf, failure, prepare_deadlines(compiled, wf)


def _rehearse_first_steps(
    compiled: CompiledDefinition, initial: dict[str, Any]
) -> tuple[str, runtime.EngineError | None, Due]:
    wf, failure, due = _run_first_steps(compiled, initial)
    return runtime.dump_state(wf), failure, due


@dataclass
class _Placed:
    org_unit_id: int
    district_id: int | None
    street_id: int | None
    process_key: str | None = None
    business_key: str | None = None


def get_visible(session: Session, user: User, instance_id: int) -> ProcessInstance:
    # its version and org unit come in the same query: every view of an instance shows them
    shown = [joinedload(ProcessInstance.definition), joinedload(ProcessInstance.org_unit)]
    instance = session.get(ProcessInstance, instance_id, options=shown)
    if instance is None:
        raise NotFound(f"流程实例不存在 / process instance {instance_id} not found")
    if not (users.in_scope(session, user, instance) or users.is_admin(user)):
        raise Forbidden("无权查看该流程实例 / you may not see this process instance")
    return instance


def list_visible(
    session: Session,
    user: User,
    *,
    process_key: str | None = None,
    status: str | None = None,
    org_unit_code: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[ProcessInstance], int]:
    stmt = select(ProcessInstance)
    if not users.is_admin(user):
        stmt = stmt.where(visible_clause(session, user, ProcessInstance))
    if process_key:
        stmt = stmt.where(ProcessInstance.process_key == process_key)
    if status:
        stmt = stmt.where(ProcessInstance.status == InstanceStatus(status))
    if org_unit_code:
        from engine.scope import unit_clause

        stmt = stmt.where(unit_clause(orgs.by_code(session, org_unit_code), ProcessInstance))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(
        stmt.order_by(ProcessInstance.started_at.desc(), ProcessInstance.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
        .options(
            selectinload(ProcessInstance.definition),
            selectinload(ProcessInstance.org_unit),
            selectinload(ProcessInstance.started_by),
        )
    )
    return list(rows), total


def ensure_running(instance: ProcessInstance) -> None:
    if instance.status != InstanceStatus.RUNNING:
        raise Conflict(
            f"流程实例状态为 {instance.status.value}，不能继续 / instance is {instance.status.value}"
        )


def waiting_timers(session: Session, user: User, instance_id: int) -> list[dict[str, Any]]:
    instance = get_visible(session, user, instance_id)
    if instance.status != InstanceStatus.RUNNING:
        return []
    wf = load(session, instance).wf
    return [
        {"bpmn_id": task.task_spec.bpmn_id, "name": task.task_spec.bpmn_name, "due_at": due}
        for task, due in runtime.waiting_timers(wf)
    ]
