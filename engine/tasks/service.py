"""Human tasks: projection from the workflow (``sync``), and the task package's public face.

The rooms: ``access`` (who may see / claim, the case lock), ``actions`` (claim, unclaim, assign,
complete, drafts), ``queries`` (inbox and task lists), ``deadline`` (a supervisor's new due time).
Callers keep importing ``engine.tasks.service as tasks``; the names are re-exported here.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.audit.models import AuditAction
from engine.bpmn import multiinstance, runtime
from engine.db import utcnow
from engine.formversions import service as formversions
from engine.instances import service as instances
from engine.kernel import bus
from engine.orgs import service as orgs
from engine.serviceorgs import service as serviceorgs
from engine.tasks.access import (
    _check_recusal,
    _locked,
    _locked_with_open,
    _require_open,
    can_claim,
    can_see,
    get,
    get_visible,
    may_work_on,
)
from engine.tasks.actions import (
    assign,
    claim,
    complete,
    complete_step,
    current_data,
    draft_of,
    form_of,
    save_draft,
    unclaim,
)
from engine.tasks.deadline import MAX_DEADLINE_AHEAD, change_deadline
from engine.tasks.models import OPEN_STATUSES, HumanTask, TaskStatus, open_clause
from engine.tasks.queries import (
    COUNT_CAP,
    SCOPES,
    SLA_COLOURS,
    cases_of,
    history_of,
    inbox,
    open_tasks_of,
)
from engine.users.models import Role, User

__all__ = [
    "COUNT_CAP",
    "MAX_DEADLINE_AHEAD",
    "SCOPES",
    "SLA_COLOURS",
    "_check_recusal",  # used by engine.instances.lifecycle (reassign)
    "_locked",  # used by engine.sendback
    "_locked_with_open",  # used by engine.sendback (a deferred lock)
    "_require_open",  # used by engine.sendback
    "assign",
    "can_claim",
    "can_see",
    "cases_of",
    "change_deadline",
    "claim",
    "complete",
    "complete_step",
    "current_data",
    "draft_of",
    "form_of",
    "get",
    "get_visible",
    "history_of",
    "inbox",
    "may_work_on",
    "open_tasks_of",
    "save_draft",
    "sync",
    "unclaim",
]


KNOWN_ROLES = frozenset(r.value for r in Role)


def sync(session: Session, loaded: instances.Loaded, actor_id: int | None) -> list[HumanTask]:
    """Make the open ``human_task`` rows of an instance match its READY human tasks; return the open rows."""
    from engine.deadlines import sla as deadlines

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
    # Every new task's deadline (it may be a user expression) before anything below reads the database
    # (a read may flush, and on SQLite the first write takes the write lock: engine.instances.optimistic).
    # So is whom each new task is for (a multi-instance task's role, assignee and label expressions).
    due_from, prepared = loaded.due or (now, {})
    due, people = dict(prepared), dict(loaded.people or {})
    for spiff_id, task in ready.items():
        if spiff_id not in open_rows:
            meta = loaded.compiled.task_meta(task.task_spec.bpmn_id)
            if spiff_id not in due:
                due[spiff_id] = deadlines.deadline_for(meta.properties if meta else {}, task.data, due_from)
            if spiff_id not in people:
                people[spiff_id] = multiinstance.instance_of(meta.properties if meta else {}, task.data)
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
        one = people[spiff_id]  # a multi-instance step: each instance's role, assignee and label
        role = one.role if one.role in KNOWN_ROLES else (meta.role if meta and meta.role else "admin")
        name = (meta.name if meta else task.task_spec.bpmn_name) or task.task_spec.bpmn_id
        due_at, deadline_text = due[spiff_id]
        row = HumanTask(
            instance_id=instance.id,
            process_key=instance.process_key,
            spiff_task_id=spiff_id,
            bpmn_id=task.task_spec.bpmn_id,
            name=f"{name}（{one.label}）"[:200] if one.label else name,
            lane=task.task_spec.lane,
            candidate_role=role,
            org_unit_id=instance.org_unit_id,
            district_id=instance.district_id,
            street_id=instance.street_id,
            form_key=form_key,
            # the form version it keeps: the latest saved one, looked up inside the INSERT itself
            form_version=formversions.latest_version_expr(form_key) if form_key else None,
            state=TaskStatus.READY,
            assignee_id=None,  # set, so that it stays loaded after the INSERT (new-work notices read it)
            created_at=due_from,  # when its deadline was worked out: due = created + deadline
            deadline=deadline_text,
        )
        elsewhere = orgs.unit_of_step(session, meta.properties, task.data) if meta else None
        if elsewhere is not None:  # a step of another unit (``org_unit_field``)
            row.org_unit_id, row.district_id, row.street_id = (
                elsewhere.id,
                elsewhere.district_id,
                elsewhere.street_id,
            )
        if meta is not None:  # a step of one service organisation's members (``service_org_field``)
            row.service_org_id = serviceorgs.of_step(session, meta.properties, task.data)
        deadlines.set_due(row, due_at, meta.properties if meta else None)
        with session.no_autoflush:  # a read: the rows are written together below
            assignee = (
                session.scalar(select(User).where(User.username == one.assignee, User.is_active.is_(True)))
                if one.assignee
                else None
            )
        if assignee is not None:  # the instance is this user's (one review per panel member)
            row.state, row.assignee_id, row.claimed_at = TaskStatus.CLAIMED, assignee.id, now
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
                **({"service_org_id": row.service_org_id} if row.service_org_id else {}),
            },
        )
    still_open = [row for spiff_id, row in open_rows.items() if spiff_id in ready] + created
    instance.next_wakeup_at = deadlines.wakeup_at(instance, wf, still_open)
    session.flush()
    loaded.events.write(session)
    if created:
        bus.emit(bus.TASK_OPENED, session, rows=created, loaded=loaded, actor_id=actor_id)
    return still_open
