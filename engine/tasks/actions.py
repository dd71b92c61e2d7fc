"""What a user does to a task: claim, unclaim, assign, complete (validate the form, run the workflow on),
and keep a draft."""

from __future__ import annotations

import copy
import functools
from typing import Any

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import formstore, procedures
from engine.audit import service as audit
from engine.audit.models import AuditAction
from engine.bpmn import messaging, runtime
from engine.bpmn.parsing import declared_outputs
from engine.db import utcnow
from engine.errors import Conflict, Forbidden, Invalid, NotFound
from engine.forms import validate_submission
from engine.formversions import service as formversions
from engine.incidents import service as incidents
from engine.instances import optimistic, rehearsal
from engine.instances import service as instances
from engine.kernel import bus
from engine.tasks.access import (
    _check_recusal,
    _flush_assignee,
    _locked,
    _locked_with_open,
    _require_open,
    can_claim,
    get_visible,
    may_work_on,
)
from engine.tasks.models import HumanTask, TaskStatus
from engine.users import service as users
from engine.users.models import User


def claim(session: Session, user: User, task_id: int) -> HumanTask:
    row, instance = _locked(session, user, task_id)
    _require_open(row)
    instances.ensure_running(instance)
    if row.state == TaskStatus.CLAIMED:
        if row.assignee_id == user.id:
            return row
        raise Conflict("任务已被他人认领 / task already claimed by another user")
    if not can_claim(session, user, row):
        raise Forbidden("您没有该任务所需的角色 / you do not hold the role this task needs")
    _check_recusal(instance, user)
    row.state, row.assignee_id, row.claimed_at = TaskStatus.CLAIMED, user.id, utcnow()
    audit.record(
        session, AuditAction.TASK_CLAIMED, actor_id=user.id, instance_id=row.instance_id, task_id=row.id
    )
    _flush_assignee(session, row)
    return row


def unclaim(session: Session, user: User, task_id: int) -> HumanTask:
    row, _instance = _locked(session, user, task_id)
    _require_open(row)
    if row.state != TaskStatus.CLAIMED:
        raise Conflict("任务尚未被认领 / task is not claimed")
    if row.assignee_id != user.id and not users.supervises(session, user, row):
        raise Forbidden("只能退回自己认领的任务 / you can only unclaim your own tasks")
    previous = row.assignee_id
    row.state, row.assignee_id, row.claimed_at = TaskStatus.READY, None, None
    audit.record(
        session,
        AuditAction.TASK_UNCLAIMED,
        actor_id=user.id,
        instance_id=row.instance_id,
        task_id=row.id,
        details={"previous_assignee_id": previous},
    )
    _flush_assignee(session, row)
    return row


def assign(session: Session, user: User, task_id: int, username: str) -> HumanTask:
    row, instance = _locked(session, user, task_id)
    _require_open(row)
    instances.ensure_running(instance)
    if not users.supervises(session, user, row):
        raise Forbidden("只有主管可以分派任务 / only supervisors may assign tasks")
    try:
        target = users.by_username(session, username)
    except NotFound as err:
        raise Invalid.on("username", err.message) from err
    _check_recusal(instance, target, field="username")
    if not can_claim(session, target, row):
        message = "该用户没有该任务所需的角色或不在该机构 / user lacks the task's role in this org unit"
        raise Invalid.on("username", message)
    previous = row.assignee_id
    row.state, row.assignee_id, row.claimed_at = TaskStatus.CLAIMED, target.id, utcnow()
    audit.record(
        session,
        AuditAction.TASK_ASSIGNED,
        actor_id=user.id,
        instance_id=row.instance_id,
        task_id=row.id,
        details={"assignee": target.username, "previous_assignee_id": previous},
    )
    _flush_assignee(session, row)
    bus.emit(bus.TASK_ASSIGNED, session, row=row, actor_id=user.id)
    return row


def complete(session: Session, user: User, task_id: int, data: Any) -> HumanTask:
    """Validate ``data`` against the task's form and run the workflow on, under the instance lock."""
    return complete_step(session, user, task_id, data)[0]


@rehearsal.stepping  # SQLite: the step is evaluated before the write lock is taken (issue 18 item 10)
def complete_step(session: Session, user: User, task_id: int, data: Any) -> tuple[HumanTask, list[HumanTask]]:
    """:func:`complete`, also returning the case's open tasks after the step (the next ones to do)."""
    row, instance, open_rows = _locked_with_open(session, user, task_id, deferred=True)
    _require_open(row)
    instances.ensure_running(instance)
    if row.state == TaskStatus.CLAIMED and row.assignee_id != user.id:
        raise Conflict("任务已被他人认领 / task is claimed by another user")
    if row.state == TaskStatus.READY and not can_claim(session, user, row):
        raise Forbidden("您没有该任务所需的角色 / you do not hold the role this task needs")
    loaded = instances.load(session, instance)
    loaded.open_rows = open_rows
    spiff_task = runtime.find_task(loaded.wf, row.spiff_task_id)
    if spiff_task is None or spiff_task.state != TaskState.READY:
        raise Conflict("任务已失效（流程已前进）/ task is stale: the process has moved on")
    _check_recusal(instance, user)
    clean = _validated(session, row, data, spiff_task.data)
    _check_recusal(instance, user, data=clean)  # the submission may name the person (the application)
    bus.emit(bus.TASK_COMPLETING, session, row=row, instance=instance, data=clean, context=spiff_task.data)
    with session.no_autoflush:  # (the materials' household set just above is written with the step)
        derived = procedures.run_before_complete(session, instance, row, clean)
    # a copy: SpiffWorkflow merges data into task data in place (DeepMerge at joins), and the submission
    # itself must stay as entered for the step record and the audit event (a loop's second run kept the
    # first run's table rows otherwise)
    payload = copy.deepcopy({**_outputs(loaded, row, clean), **derived})
    if rehearsal.needed(session):  # a start that wrote first: the step is worked out before the write lock
        failure = _rehearsed_step(session, loaded, row, open_rows, payload)
    else:
        spiff_task.set_data(**payload)
        failure = incidents.advance(loaded.wf, spiff_task.run)  # a failing automatic step: an incident below
    # the step's expressions were evaluated; so are now its next tasks' deadlines and whom they are for
    # (the step record below is the first write, SQLite's write lock), and on SQLite what it throws and
    # the waiting cases that reach (engine.messages.ahead). Then the cases its rules started and the
    # ledger rows they counted, worked out before any write (SQLite: engine.instances.newcase,
    # engine.procedures.counting), are written.
    instances.ready_to_save(loaded, frozenset(r.spiff_task_id for r in open_rows))
    if optimistic.has_later(session) or optimistic.deferring(session):
        instances.throw_ahead(session, loaded)
    optimistic.write_later(session)
    now = utcnow()
    if row.state == TaskStatus.READY:
        row.claimed_at = now
    row.state, row.assignee_id = TaskStatus.COMPLETED, user.id
    row.completed_at, row.completed_by_id = now, user.id
    loaded.events.add(
        AuditAction.TASK_COMPLETED,
        actor_id=user.id,
        instance_id=row.instance_id,
        task_id=row.id,
        details={"bpmn_id": row.bpmn_id, "data": clean, "derived": derived},
    )
    bus.emit(bus.TASK_COMPLETED, session, row=row, loaded=loaded, data=clean, derived=derived, actor=user)
    open_after = instances.save(session, loaded, user.id)
    _flush_assignee(session, row)
    if failure is not None:  # the completion is kept; the incident is recorded and answered as a 409
        raise incidents.IncidentOpened(
            incidents.record(session, instance, failure, origin="task", actor_id=user.id)
        )
    return row, sorted(open_after, key=lambda r: r.id)


def _outputs(loaded: instances.Loaded, row: HumanTask, clean: dict[str, Any]) -> dict[str, Any]:
    """What a step hands on to the case's data: its declared outputs (BPMN property ``outputs``), or all
    it submitted when it declares none. The whole submission stays in the step's record either way, so a
    field another step also has (a visit date) is not overwritten by a step that does not declare it."""
    meta = loaded.compiled.task_meta(row.bpmn_id)
    declared = declared_outputs(meta.properties) if meta else None
    return clean if declared is None else {k: v for k, v in clean.items() if k in declared}


def _validate(row: HumanTask, data: Any, context: dict[str, Any]) -> dict[str, Any]:
    if row.form_key is None:
        if data in (None, {}):
            return {}
        raise Invalid(
            "该任务没有表单，不接受数据 / this task has no form and takes no data", {"_form": ["no form"]}
        )
    form = form_of(row)
    if form is None:
        raise Conflict(f"表单 '{row.form_key}' 不存在 / form '{row.form_key}' is missing")
    return _check_form(form, data, context)


def _check_form(form: Any, data: Any, context: dict[str, Any]) -> dict[str, Any]:
    clean, errors = validate_submission(form, data, context=context)
    if errors:
        raise Invalid("表单校验失败 / form validation failed", errors)
    return clean


def _validated(session: Session, row: HumanTask, data: Any, context: dict[str, Any]) -> dict[str, Any]:
    """:func:`_validate`; a form's rules are user expressions: in an operation holding the write lock
    already they are evaluated before it (engine.instances.rehearsal)."""
    if row.form_key is None or not rehearsal.needed(session):
        return _validate(row, data, context)
    form = form_of(row)
    if form is None:
        return _validate(row, data, context)  # the 409 for a missing form
    key = ("form", row.form_key, row.form_version, repr(data), repr(context))
    kept = rehearsal.recall(session, key)
    if kept is None:
        work = functools.partial(_check_form, form, copy.deepcopy(data), copy.deepcopy(context))
        rehearsal.refuse(session, key, work)
        return _check_form(form, data, context)
    return copy.deepcopy(kept)


def _rehearsed_step(
    session: Session,
    loaded: instances.Loaded,
    row: HumanTask,
    open_rows: list[HumanTask],
    payload: dict[str, Any],
) -> runtime.EngineError | None:
    """Run the workflow on from the completed task, or take the run worked out before the write lock for
    exactly this state and data (engine.instances.rehearsal); its new tasks' deadlines come with it."""
    state, compiled = loaded.instance.state, loaded.compiled
    opened = frozenset(r.spiff_task_id for r in open_rows)
    key = ("step", state, row.spiff_task_id, repr(payload))
    kept = rehearsal.recall(session, key)
    if kept is None:
        work = functools.partial(_step, compiled, state, row.spiff_task_id, copy.deepcopy(payload), opened)
        rehearsal.refuse(session, key, work)
        kept = work()  # (results of other evaluations were kept, but no write lock is held: run it now)
    after, failure, due, people, waiting = kept
    loaded.wf, loaded.due, loaded.people, loaded.waiting = (
        runtime.load_state(after, compiled),
        due,
        people,
        waiting,
    )
    return failure


def _step(
    compiled: Any, state: str, spiff_id: str, payload: dict[str, Any], opened: frozenset[str]
) -> tuple[str, runtime.EngineError | None, instances.Due, dict[str, Any], list[Any] | None]:
    wf = runtime.load_state(state, compiled)
    task = runtime.find_task(wf, spiff_id)
    assert task is not None  # the state it was found in
    task.set_data(**payload)
    failure = incidents.advance(wf, task.run)
    # what the save evaluates (instances.ready_to_save): next deadlines, whom the tasks are for, catches
    due, people = (
        instances.prepare_deadlines(compiled, wf, opened),
        instances.prepare_people(compiled, wf, opened),
    )
    return runtime.dump_state(wf), failure, due, people, [] if wf.is_completed() else messaging.waiting(wf)


def form_of(row: HumanTask) -> Any:
    """The form the task was created with (its saved version, or the file), not the latest one."""
    if not row.form_key:
        return None
    session = Session.object_session(row)
    if session is None or row.form_version is None:
        return formstore.get(row.form_key)
    return formversions.form_at(session, row.form_key, row.form_version)


def current_data(session: Session, row: HumanTask) -> dict[str, Any]:
    """The data the task would start from (the instance's latest data)."""
    instance = session.get(instances.ProcessInstance, row.instance_id)
    return dict(instance.data) if instance is not None else {}


def save_draft(session: Session, user: User, task_id: int, data: dict[str, Any]) -> HumanTask:
    """Keep the user's unfinished form input (not validated) as an audited draft of the task."""
    row = get_visible(session, user, task_id)
    _require_open(row)
    if not may_work_on(session, user, row):
        raise Forbidden("只能为自己可办理的任务保存草稿 / you may only save drafts of tasks you can work on")
    audit.record(
        session,
        AuditAction.TASK_DRAFT_SAVED,
        actor_id=user.id,
        instance_id=row.instance_id,
        task_id=row.id,
        details={"data": data},
    )
    session.flush()
    return row


def draft_of(session: Session, user: User, row: HumanTask) -> dict[str, Any] | None:
    """The user's latest draft of an open task, if any."""
    from engine.audit.models import AuditEvent

    details = session.scalar(
        select(AuditEvent.details)
        .where(
            AuditEvent.instance_id == row.instance_id,
            AuditEvent.task_id == row.id,
            AuditEvent.actor_id == user.id,
            AuditEvent.action == AuditAction.TASK_DRAFT_SAVED.value,
        )
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )
    return dict(details.get("data") or {}) if details else None
