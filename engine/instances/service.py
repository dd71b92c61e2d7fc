"""Starting, locking, loading and saving process instances."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, bindparam, func, select, update
from sqlalchemy.orm import Session, joinedload, lazyload, selectinload, undefer

from engine.bpmn import messaging, runtime
from engine.bpmn.parsing import CompiledDefinition
from engine.decisions import service as decisions
from engine.definitions import service as definitions
from engine.definitions.models import ProcessDefinition
from engine.errors import Conflict, Forbidden, NotFound
from engine.instances import newcase, optimistic, rehearsal, startdata
from engine.instances.models import STATUS_WORDS, InstanceStatus, ProcessInstance, case_missing
from engine.instances.state import Due as Due
from engine.instances.state import Loaded as Loaded
from engine.instances.state import prepare_deadlines as prepare_deadlines
from engine.instances.state import prepare_people as prepare_people
from engine.instances.state import ready_to_save as ready_to_save
from engine.instances.state import save as save
from engine.instances.state import throw_ahead as throw_ahead
from engine.orgs import service as orgs
from engine.orgs.models import OrgUnit
from engine.recusal import service as recusal
from engine.scope import visible_clause
from engine.users import service as users
from engine.users.models import User

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

    ``deferred`` (stepping operations wrapped in ``rehearsal.stepping``, which retries them): on SQLite, read the row
    without the write lock and take the lock, checking the version, just before the first write — so
    that user expressions are evaluated without the database's write lock (engine.instances.optimistic).
    """
    if deferred and optimistic.can_defer(session):
        return optimistic.lock(session, key, target)
    stmt = _lock_statement(session.get_bind().dialect.name, target)
    instance = session.scalars(stmt, {"lock_key": key}).one_or_none()
    if instance is None:
        raise NotFound(case_missing(key))
    return instance


def load_spec(session: Session, instance: ProcessInstance) -> CompiledDefinition:
    """The parsed definition an instance runs on (from the spec cache)."""
    return definitions.compiled(session, instance.definition_id)


def load(session: Session, instance: ProcessInstance) -> Loaded:
    compiled = load_spec(session, instance)
    if compiled.decision_refs:  # the decision tables this case keeps, read before any step runs
        decisions.ensure_loaded(session, compiled.decision_refs, instance.data or {})
    return Loaded(instance, compiled, runtime.load_state(instance.state, compiled))


@rehearsal.stepping  # SQLite: what it throws as it starts is worked out before the write lock (item 10)
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
        raise NotFound(case_missing(instance_id))
    if not (users.in_scope(session, user, instance) or users.is_admin(user)):
        raise Forbidden("您无权查看该案件 / you may not see this case")
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
        zh, en = STATUS_WORDS[instance.status]
        raise Conflict(f"案件{zh}，不能继续办理 / the case is {en}: it cannot go on")


def waiting_timers(session: Session, user: User, instance_id: int) -> list[dict[str, Any]]:
    instance = get_visible(session, user, instance_id)
    if instance.status != InstanceStatus.RUNNING:
        return []
    wf = load(session, instance).wf
    return [
        {"bpmn_id": task.task_spec.bpmn_id, "name": task.task_spec.bpmn_name, "due_at": due}
        for task, due in runtime.waiting_timers(wf)
    ]
