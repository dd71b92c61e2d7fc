"""Human tasks: projection from the workflow, inbox queries, claim / unclaim / assign / complete."""

from __future__ import annotations

import datetime as dt
from typing import Any

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import bindparam, false, func, or_, select, union
from sqlalchemy.orm import Session, joinedload, selectinload

from engine import formstore, procedures
from engine.audit import service as audit
from engine.audit.models import AuditAction
from engine.bpmn import runtime
from engine.bpmn.parsing import declared_outputs
from engine.db import utcnow
from engine.errors import Conflict, Forbidden, Invalid, NotFound
from engine.forms import validate_submission
from engine.formversions import service as formversions
from engine.incidents import service as incidents
from engine.instances import service as instances
from engine.kernel import bus
from engine.orgs import service as orgs
from engine.scope import role_branches, sees_everything, unit_clause, visible_clause
from engine.tasks.models import OPEN_STATUSES, HumanTask, TaskStatus, open_clause
from engine.users import service as users
from engine.users.models import SUPERVISOR_ROLES, User

SCOPES = ("mine", "claimable", "all")
SLA_COLOURS = ("green", "yellow", "orange", "red")
COUNT_CAP = 10_000  # inbox totals are exact up to this many tasks
# What task lists show beside each row: its org unit and assignee, loaded in one extra query each.
_DISPLAY = (selectinload(HumanTask.org_unit), selectinload(HumanTask.assignee))
# The same for one case's few open tasks: joined into their own query.
_DISPLAY_JOINED = (joinedload(HumanTask.org_unit), joinedload(HumanTask.assignee))


def sync(session: Session, loaded: instances.Loaded, actor_id: int | None) -> list[HumanTask]:
    """Make the open ``human_task`` rows of an instance match its READY human tasks; return the open rows."""
    from engine.deadlines import service as deadlines

    instance, wf = loaded.instance, loaded.wf
    with session.no_autoflush:  # the instance row is written once, below, with its wake-up time
        candidates = (
            loaded.open_rows
            if loaded.open_rows is not None
            else session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id, open_clause()))
        )
        open_rows = {
            row.spiff_task_id: row
            for row in candidates
            if row.state in OPEN_STATUSES  # a row closed in this transaction is not flushed yet
        }
    ready = {str(t.id): t for t in runtime.ready_human_tasks(wf)}
    now = utcnow()
    for spiff_id, row in open_rows.items():
        if spiff_id not in ready:
            row.state = TaskStatus.CANCELLED
            row.completed_at = now
            loaded.events.add(
                AuditAction.TASK_CANCELLED, actor_id=actor_id, instance_id=instance.id, task_id=row.id
            )
    created = []
    for spiff_id, task in ready.items():
        if spiff_id in open_rows:
            continue
        meta = loaded.compiled.task_meta(task.task_spec.bpmn_id)
        form_key = meta.form_key if meta else None
        due_at, deadline_text = deadlines.deadline_for(meta.properties if meta else {}, task.data, now)
        row = HumanTask(
            instance_id=instance.id,
            process_key=instance.process_key,
            spiff_task_id=spiff_id,
            bpmn_id=task.task_spec.bpmn_id,
            name=(meta.name if meta else task.task_spec.bpmn_name) or task.task_spec.bpmn_id,
            lane=task.task_spec.lane,
            candidate_role=(meta.role if meta and meta.role else "admin"),
            org_unit_id=instance.org_unit_id,
            district_id=instance.district_id,
            street_id=instance.street_id,
            form_key=form_key,
            # the form version it keeps: the latest saved one, looked up inside the INSERT itself
            form_version=formversions.latest_version_expr(form_key) if form_key else None,
            state=TaskStatus.READY,
            created_at=now,
            deadline=deadline_text,
        )
        deadlines.set_due(row, due_at, meta.properties if meta else None)
        session.add(row)
        created.append(row)
        loaded.events.add(
            AuditAction.TASK_CREATED,
            actor_id=actor_id,
            instance_id=instance.id,
            task=row,  # its id is known once the flush below has inserted it
            details={
                "bpmn_id": row.bpmn_id,
                "name": row.name,
                "role": row.candidate_role,
                "due_at": row.due_at.isoformat() if row.due_at else None,
            },
        )
    still_open = [row for spiff_id, row in open_rows.items() if spiff_id in ready] + created
    instance.next_wakeup_at = deadlines.wakeup_at(instance, wf, still_open)
    session.flush()
    loaded.events.write(session)
    if created:
        bus.emit(bus.TASK_OPENED, session, rows=created, loaded=loaded, actor_id=actor_id)
    return still_open


def get(session: Session, task_id: int) -> HumanTask:
    row = session.get(HumanTask, task_id)
    if row is None:
        raise NotFound(f"任务不存在 / task {task_id} not found")
    return row


def can_claim(session: Session, user: User, row: HumanTask) -> bool:
    """The user holds the task's role in its scope, or the role it was escalated to."""
    return users.holds(session, user, row.candidate_role, row) or bool(
        row.escalated_role and users.holds(session, user, row.escalated_role, row)
    )


def can_see(session: Session, user: User, row: HumanTask) -> bool:
    return (
        row.assignee_id == user.id
        or can_claim(session, user, row)
        or users.supervises(session, user, row)
        or users.is_admin(user)
    )


def get_visible(session: Session, user: User, task_id: int) -> HumanTask:
    row = get(session, task_id)
    if not can_see(session, user, row):
        raise Forbidden("无权查看该任务 / you may not see this task")
    return row


def _locked(session: Session, user: User, task_id: int) -> tuple[HumanTask, Any]:
    row, instance, _open = _locked_with_open(session, user, task_id)
    return row, instance


# The instance of the task ``lock_key``, found inside the locking statement.
_TASK_OWNER = select(HumanTask.instance_id).where(HumanTask.id == bindparam("lock_key")).scalar_subquery()
# A task with its instance's open tasks, read fresh under the lock (built once, like the lock).
_WITH_OPEN = (
    select(HumanTask)
    .where(
        HumanTask.instance_id == bindparam("instance_id"),
        or_(open_clause(), HumanTask.id == bindparam("task_id")),
    )
    .execution_options(populate_existing=True)
)


def _locked_with_open(session: Session, user: User, task_id: int) -> tuple[HumanTask, Any, list[HumanTask]]:
    """Lock the task's instance, then read the task — with the instance's other open tasks, in the same
    query — fresh under the lock, and check the user may see it.

    The instance is found from the task inside the locking statement, so an action costs no read of the
    task before the lock. A user who may not see the task holds the lock only until the 403 rolls back.
    """
    try:
        instance = instances.lock(session, task_id, target=_TASK_OWNER)
    except NotFound:
        raise NotFound(f"任务不存在 / task {task_id} not found") from None
    rows = session.scalars(_WITH_OPEN, {"instance_id": instance.id, "task_id": task_id}).all()
    row = next((r for r in rows if r.id == task_id), None)
    if row is None:
        raise NotFound(f"任务不存在 / task {task_id} not found")
    if not can_see(session, user, row):
        raise Forbidden("无权查看该任务 / you may not see this task")
    return row, instance, [r for r in rows if r.state in OPEN_STATUSES]


def _check_recusal(instance: Any, user: User, field: str | None = None) -> None:
    """Staff whose near relative is the applicant may neither handle nor review the case."""
    if user.username in (instance.data or {}).get("excluded_users", []):
        message = (
            "近亲属回避：该用户不能办理或评议此案 / recusal: this user may not handle or review this case"
        )
        if field:
            raise Invalid.on(field, message)
        raise Forbidden(message)


def _require_open(row: HumanTask) -> None:
    if row.state not in OPEN_STATUSES:
        raise Conflict(f"任务已{_STATE_ZH[row.state]}，不能再操作 / task is already {row.state.value}")


_STATE_ZH = {
    TaskStatus.READY: "待认领",
    TaskStatus.CLAIMED: "被认领",
    TaskStatus.COMPLETED: "完成",
    TaskStatus.CANCELLED: "取消",
}


def _flush_assignee(session: Session, row: HumanTask) -> None:
    session.flush()
    session.expire(row, ["assignee"])


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


def complete_step(session: Session, user: User, task_id: int, data: Any) -> tuple[HumanTask, list[HumanTask]]:
    """:func:`complete`, also returning the case's open tasks after the step (the next ones to do)."""
    row, instance, open_rows = _locked_with_open(session, user, task_id)
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
    clean = _validate(row, data, spiff_task.data)
    bus.emit(bus.TASK_COMPLETING, session, row=row, instance=instance, data=clean, context=spiff_task.data)
    derived = procedures.run_before_complete(session, instance, row, clean)
    spiff_task.set_data(**_outputs(loaded, row, clean), **derived)
    failure = incidents.advance(loaded.wf, spiff_task.run)  # a failing automatic step: an incident below
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
    clean, errors = validate_submission(form, data, context=context)
    if errors:
        raise Invalid("表单校验失败 / form validation failed", errors)
    return clean


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


def _sla_clause(colour: str, now: dt.datetime) -> Any:
    if colour == "red":
        return HumanTask.escalate_at <= now
    if colour == "orange":
        return (HumanTask.due_at <= now) & or_(HumanTask.escalate_at.is_(None), HumanTask.escalate_at > now)
    if colour == "yellow":
        return (HumanTask.warn_at <= now) & (HumanTask.due_at > now)
    return or_(HumanTask.due_at.is_(None), HumanTask.warn_at > now)


def inbox(
    session: Session,
    user: User,
    *,
    scope: str = "all",
    sla: str | None = None,
    overdue: bool | None = None,
    process_key: str | None = None,
    org_unit_code: str | None = None,
    state: str | None = None,
    sort: str = "due",
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[HumanTask], int]:
    filters: list[Any] = []  # what the user asked for, beside whose tasks they are
    if state is not None:
        filters.append(HumanTask.state == TaskStatus(state))
    elif scope != "mine":
        filters.append(open_clause())
    if process_key:
        filters.append(HumanTask.process_key == process_key)
    now = utcnow()
    if sla:
        filters.append(_sla_clause(sla, now))
    if overdue is not None:
        filters.append(
            HumanTask.due_at <= now if overdue else or_(HumanTask.due_at.is_(None), HumanTask.due_at > now)
        )
    if org_unit_code:
        filters.append(unit_clause(orgs.by_code(session, org_unit_code), HumanTask))
    # whose tasks: any of ``branches`` (None: every task ``where`` keeps), each with ``where`` besides
    branches: list[Any] | None = None
    supervisor_roles = {r.value for r in SUPERVISOR_ROLES}
    if scope == "mine":
        where = [HumanTask.assignee_id == user.id, HumanTask.state == TaskStatus.CLAIMED, *filters]
    elif scope == "claimable":
        where = [HumanTask.state == TaskStatus.READY, *filters]
        branches = role_branches(session, user, HumanTask)
    elif users.is_admin(user) or sees_everything(session, user, supervisor_roles):
        where = filters
    else:
        where = filters
        # a supervisor's whole units first: the count (``_count``) then takes from the branches after it
        # only the few tasks it misses
        branches = [
            visible_clause(session, user, HumanTask, roles=supervisor_roles),
            HumanTask.assignee_id == user.id,
            *role_branches(session, user, HumanTask),
        ]
    order: list[Any]
    if sort == "created":
        order = [HumanTask.created_at.asc(), HumanTask.id.asc()]
    else:
        order = [HumanTask.due_at.asc().nulls_last(), HumanTask.created_at.asc(), HumanTask.id.asc()]
    total = _count(session, where, branches)
    offset = (page - 1) * per_page
    if branches is not None and scope == "claimable":
        page_stmt = _page_of_roles(where, branches, order, offset=offset, limit=per_page)
    else:
        page_stmt = select(HumanTask).where(*where, *_any_of(session, branches, where))
        page_stmt = page_stmt.order_by(*order).limit(per_page).offset(offset)
    rows = session.scalars(page_stmt.options(*_DISPLAY))
    return list(rows), total


def _any_of(session: Session, branches: list[Any] | None, where: list[Any]) -> list[Any]:
    """The term for rows matching any branch (``where`` applies besides); none for no branches. PostgreSQL
    combines an OR of branches from their indexes itself (BitmapOr); SQLite's planner does not across
    different columns and would scan, so there each branch is its own SELECT on its own index, joined by
    UNION."""
    if branches is None:
        return []
    if len(branches) <= 1 or session.get_bind().dialect.name != "sqlite":
        return [or_(false(), *branches)]
    return [HumanTask.id.in_(union(*(select(HumanTask.id).where(b, *where) for b in branches)))]


def _count(session: Session, where: list[Any], branches: list[Any] | None) -> int:
    """How many tasks match ``where`` and any of ``branches``, stopping at COUNT_CAP: past it a list says
    "10,000 or more" and the count stays cheap.

    With branches, the tasks are counted in disjoint parts — each branch's tasks that no earlier branch
    holds — summed in one statement: each part is one branch's SELECT on that branch's own index, read
    from the index alone where it holds every column the part tests (a city officer's claimable tasks:
    one range of ``ix_human_task_open_role_state_due``). An OR of the branches makes PostgreSQL visit
    every task's table row (bitmap heap scan) and SQLite scan; a UNION of ids has SQLite sort them.
    ``coalesce`` keeps a task whose earlier branches are NULL for it (a task with no district, no
    escalated role) in its part, as an OR would.
    """
    if branches is None:
        parts = [select(HumanTask.id).where(*where)]
    else:
        parts = [
            select(HumanTask.id).where(
                b, *where, *([~func.coalesce(or_(*branches[:i]), false())] if i else [])
            )
            for i, b in enumerate(branches)
        ]
    if not parts:  # no branches (no grants): nothing
        return 0
    counts = [
        select(func.count()).select_from(p.limit(COUNT_CAP).subquery()).scalar_subquery() for p in parts
    ]
    total = session.scalar(select(sum(counts[1:], start=counts[0]))) or 0
    return min(total, COUNT_CAP)


def _page_of_roles(
    where: list[Any], branches: list[Any], order: list[Any], *, offset: int, limit: int
) -> Any:
    """One page of the tasks of the user's roles (claimable), in ``order``, which ends with the id.

    Each branch (a role in a unit) gives its own first ``offset + limit`` tasks in that order — one range
    of its index read in due order where the index has one (a single role: a city officer's thousands),
    stopping there — and the page is taken from their UNION: a task among the list's first
    ``offset + limit`` is among those of every branch it belongs to. As one OR instead, SQLite reads and
    sorts every task of every branch for one page, and PostgreSQL does the same or walks the whole
    due-date index, filtering for the roles.

    The "all" scope keeps the OR (``_any_of``): a supervisor's unit is a branch there that holds its role
    branches, and cut apart each of those would look for its own first tasks, a sparse role far down the
    due-date index, where PostgreSQL walks that index once for the OR.
    """
    if not branches:  # no grants: nothing is claimable
        return select(HumanTask).where(false())
    firsts = [select(HumanTask.id).where(b, *where).order_by(*order).limit(offset + limit) for b in branches]
    ids = union(*(select(first.subquery().c.id) for first in firsts))
    return select(HumanTask).where(HumanTask.id.in_(ids)).order_by(*order).limit(limit).offset(offset)


def open_tasks_of(session: Session, instance_id: int, *, display: bool = True) -> list[HumanTask]:
    stmt = select(HumanTask).where(HumanTask.instance_id == instance_id, open_clause()).order_by(HumanTask.id)
    return list(session.scalars(stmt.options(*_DISPLAY_JOINED) if display else stmt))


# A deadline further ahead than this is a typing mistake or an attack (year 9999), never a plan.
MAX_DEADLINE_AHEAD = dt.timedelta(days=10 * 366)
_TOO_FAR = "新的到期时间不能晚于十年以后 / the new due time must be within ten years"


def change_deadline(
    session: Session,
    user: User,
    task_id: int,
    *,
    reason: str,
    due_at: dt.datetime | None = None,
    extend_by: str | None = None,
) -> HumanTask:
    """Supervisors set a new due time, or extend the current one, with a reason (audited)."""
    from engine.deadlines import calendar
    from engine.deadlines import service as deadlines
    from engine.notifications import service as notifications
    from engine.notifications.models import NotificationKind

    row, instance = _locked(session, user, task_id)
    _require_open(row)
    instances.ensure_running(instance)
    if not users.supervises(session, user, row):
        raise Forbidden("只有主管可以调整期限 / only supervisors may change deadlines")
    if (due_at is None) == (extend_by is None):
        message = "请给出新的到期时间或延长时长（二选一）/ give either due_at or extend_by"
        raise Invalid(message, {"due_at": [message], "extend_by": [message]})
    if extend_by is not None:
        try:
            new_due = (
                calendar.extend(row.due_at, extend_by)
                if row.due_at
                else calendar.due_after(utcnow(), extend_by)
            )
        except calendar.DeadlineError as err:
            raise Invalid.on("extend_by", str(err)) from err
        except OverflowError as err:  # e.g. P999999999D: past the last representable date
            raise Invalid.on("extend_by", _TOO_FAR) from err
    else:
        assert due_at is not None
        new_due = due_at if due_at.tzinfo else due_at.replace(tzinfo=calendar.SHANGHAI)
    field = "due_at" if due_at is not None else "extend_by"
    if new_due <= utcnow():
        message = "新的到期时间必须在将来 / the new due time must be in the future"
        raise Invalid(message, {field: [message]})
    if new_due > utcnow() + MAX_DEADLINE_AHEAD:  # reminders and escalations are computed from it
        raise Invalid(_TOO_FAR, {field: [_TOO_FAR]})
    previous = row.due_at
    meta = instances.load_spec(session, instance).task_meta(row.bpmn_id)
    deadlines.set_due(row, new_due, meta.properties if meta else None)
    row.escalated_role = None
    audit.record(
        session,
        AuditAction.TASK_DEADLINE_CHANGED,
        actor_id=user.id,
        instance_id=row.instance_id,
        task_id=row.id,
        details={"previous_due_at": previous, "due_at": new_due, "reason": reason},
    )
    if row.assignee_id is not None:
        notifications.notify(
            session,
            [session.get(User, row.assignee_id)],
            NotificationKind.DEADLINE_CHANGED,
            f"任务期限已调整：{row.name} / Deadline changed",
            f"任务「{row.name}」的到期时间已调整为 {calendar.local_day(new_due)}。原因：{reason}",
            row,
        )
    loaded = instances.load(session, instance)
    instance.next_wakeup_at = deadlines.wakeup_at(
        instance, loaded.wf, open_tasks_of(session, instance.id, display=False)
    )
    _flush_assignee(session, row)
    return row


def history_of(session: Session, instance_id: int) -> list[HumanTask]:
    """The instance's finished tasks (completed or cancelled), oldest first, with who completed them."""
    stmt = (
        select(HumanTask)
        .where(HumanTask.instance_id == instance_id, HumanTask.state.not_in(OPEN_STATUSES))
        .order_by(HumanTask.completed_at, HumanTask.id)
    )
    return list(session.scalars(stmt.options(*_DISPLAY)))


def may_work_on(session: Session, user: User, row: HumanTask) -> bool:
    """Could the user complete the task now (their claim, or a ready task of their role)?"""
    if row.state == TaskStatus.CLAIMED:
        return row.assignee_id == user.id
    return row.state == TaskStatus.READY and can_claim(session, user, row)


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


def cases_of(session: Session, rows: list[HumanTask]) -> dict[int, tuple[str | None, str]]:
    """Business key and procedure name of each task's instance, in one query (for task lists)."""
    from engine.definitions.models import ProcessDefinition

    ids = {r.instance_id for r in rows}
    if not ids:
        return {}
    result = session.execute(
        select(instances.ProcessInstance.id, instances.ProcessInstance.business_key, ProcessDefinition.name)
        .join(ProcessDefinition, ProcessDefinition.id == instances.ProcessInstance.definition_id)
        .where(instances.ProcessInstance.id.in_(ids))
    )
    return {i: (key, name) for i, key, name in result}
