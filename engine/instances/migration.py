"""Migrate cases to another version of their procedure, one at a time or a version's cases in a batch, or
only say whether they could (a dry run). The state itself is rebuilt in engine/bpmn/migrate_state.py;
here are the checks (status, procedure, version), the open task rows following the target version, the
audit and the savepoint per case of a batch."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.audit import service as audit
from engine.audit.models import AuditAction
from engine.bpmn import migrate_state, runtime
from engine.bpmn.parsing import CompiledDefinition
from engine.decisions import service as decisions
from engine.definitions import service as definitions
from engine.definitions.models import ProcessDefinition
from engine.errors import Conflict, Forbidden, Invalid, NotFound, ServiceError
from engine.instances import optimistic, rehearsal
from engine.instances import service as instances
from engine.instances.guard import (
    _ALIVE,
    _REFUSED,
    _check_reason,
    _locked,
    _visible,
    may_operate,
    may_operate_somewhere,
)
from engine.instances.models import STATUS_WORDS, ProcessInstance
from engine.tasks import service as tasks
from engine.tasks.models import TaskStatus
from engine.users.models import User


@dataclass
class Plan:
    """The outcome of rebuilding one instance's state on a target version (in memory)."""

    instance_id: int
    reasons: list[str] = field(default_factory=list)
    wf: BpmnWorkflow | None = None

    @property
    def can_migrate(self) -> bool:
        return not self.reasons and self.wf is not None


def plan(session: Session, instance: ProcessInstance, target: ProcessDefinition) -> Plan:
    """Rebuild the instance's workflow on ``target`` in memory; the reasons say why it cannot move."""
    result = Plan(instance.id)
    if instance.status not in _ALIVE:
        zh, en = STATUS_WORDS[instance.status]
        result.reasons.append(f"案件{zh} / the case is {en}")
        return result
    if target.key != instance.process_key:
        result.reasons.append("目标版本属于其他流程 / the target version belongs to another procedure")
        return result
    if target.id == instance.definition_id:
        result.reasons.append("已在目标版本上 / already on the target version")
        return result
    old: CompiledDefinition = definitions.compiled(session, instance.definition_id)
    new: CompiledDefinition = definitions.SPEC_CACHE.get(target)
    result.wf = migrate_state.rebuild(instance.state, old, new, result.reasons)
    if result.wf is not None and new.decision_refs:  # decisions the new version names: kept from now on
        decisions.pin_missing(session, result.wf, new.decision_refs)
    return result


def _check_version(version: Any, field_name: str) -> None:
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise Invalid.on(field_name, "版本号必须是正整数 / version must be a positive integer")


def _target(
    session: Session, key: str, version: Any, field_name: str = "target_version"
) -> ProcessDefinition:
    _check_version(version, field_name)
    try:
        return definitions.get_version(session, key, version)
    except NotFound as err:
        raise Invalid.on(field_name, err.message) from err


@dataclass
class _Ready:
    """One case's move worked out in memory, before the write lock: the rebuilt workflow, the new deadline
    of each open task row (a deadline may be a user expression) and those of the tasks the move opens."""

    instance: ProcessInstance
    wf: BpmnWorkflow
    deadlines: dict[int, tuple[Any, str | None]]
    due: instances.Due


def _prepare(session: Session, instance: ProcessInstance, target: ProcessDefinition) -> _Ready:
    """Rebuild the case on ``target`` and evaluate its deadlines; nothing is written (409 if it cannot)."""
    from engine.deadlines import sla as deadlines

    result = plan(session, instance, target)
    if not result.can_migrate or result.wf is None:
        raise Conflict(
            "该流程实例不能迁移 / this instance cannot be migrated: " + "; ".join(result.reasons),
            {"target_version": result.reasons},
        )
    new = definitions.SPEC_CACHE.get(target)
    ready = {str(t.id): t for t in runtime.ready_human_tasks(result.wf)}
    with session.no_autoflush:
        rows = tasks.open_tasks_of(session, instance.id, display=False)
    due_of = {}
    for row in rows:
        task, meta = ready.get(row.spiff_task_id), new.task_meta(row.bpmn_id)
        if task is not None and meta is not None:
            due_of[row.id] = deadlines.deadline_for(meta.properties, task.data, row.created_at)
    opened = {r.spiff_task_id for r in rows}
    return _Ready(instance, result.wf, due_of, instances.prepare_deadlines(new, result.wf, opened))


def _project(
    session: Session, instance: ProcessInstance, new: CompiledDefinition, ready: _Ready
) -> list[dict[str, Any]]:
    """Open task rows keep their ids; name, role, form and (if its text changed) the deadline follow the
    target version."""
    from engine.deadlines import sla as deadlines

    running = {str(t.id): t for t in runtime.ready_human_tasks(ready.wf)}
    changed = []
    for row in tasks.open_tasks_of(session, instance.id, display=False):
        task = running.get(row.spiff_task_id)
        meta = new.task_meta(row.bpmn_id)
        if task is None or meta is None or row.id not in ready.deadlines:
            continue
        before = {
            "name": row.name,
            "role": row.candidate_role,
            "deadline": row.deadline,
            "due_at": row.due_at,
        }
        row.name = meta.name or row.bpmn_id
        row.lane = task.task_spec.lane
        row.candidate_role = meta.role or "admin"
        row.form_key = meta.form_key
        due_at, text = ready.deadlines[row.id]  # evaluated before the write lock (:func:`_prepare`)
        if text != row.deadline:
            row.deadline = text
            deadlines.set_due(row, due_at, meta.properties)
            row.escalated_role = None
        if row.state == TaskStatus.CLAIMED and row.assignee_id is not None:
            assignee = session.get(User, row.assignee_id)
            if assignee is None or not tasks.can_claim(session, assignee, row):
                row.state, row.assignee_id, row.claimed_at = TaskStatus.READY, None, None
        after = {"name": row.name, "role": row.candidate_role, "deadline": row.deadline, "due_at": row.due_at}
        if after != before:
            changed.append({"task_id": row.id, "bpmn_id": row.bpmn_id, "before": before, "after": after})
    return changed


def _execute(session: Session, user: User, ready: _Ready, target: ProcessDefinition, text: str) -> None:
    instance = ready.instance
    new = definitions.SPEC_CACHE.get(target)
    old_def = session.get(ProcessDefinition, instance.definition_id)
    with session.no_autoflush:  # a deferred lock (optimistic) is taken at the save's flush, not here
        changed = _project(session, instance, new, ready)
    instance.definition_id = target.id
    audit.record(
        session,
        AuditAction.INSTANCE_MIGRATED,
        actor_id=user.id,
        instance_id=instance.id,
        definition_id=target.id,
        details={
            "reason": text,
            "before": {
                "definition_id": old_def.id if old_def else None,
                "version": old_def.version if old_def else None,
            },
            "after": {"definition_id": target.id, "version": target.version},
            "tasks": changed,
        },
    )
    instances.save(session, instances.Loaded(instance, new, ready.wf, due=ready.due), user.id)


@rehearsal.stepping  # SQLite: the new version's state is built before the write lock (issue 18 item 10)
def migrate(
    session: Session, user: User, instance_id: int, target_version: Any, reason: Any, *, dry_run: bool = False
) -> dict[str, Any]:
    """Move one instance to another version of its procedure (or only say whether it could)."""
    if dry_run:  # nothing is written: no reason needed, no lock taken
        instance = _visible(session, instance_id)
        if not may_operate(session, user, instance):
            raise Forbidden(_REFUSED)
        target = _target(session, instance.process_key, target_version)
        result = plan(session, instance, target)
        return {
            "id": instance.id,
            "can_migrate": result.can_migrate,
            "reasons": result.reasons,
            "migrated": False,
        }
    instance, text = _locked(session, user, instance_id, reason, deferred=True)
    target = _target(session, instance.process_key, target_version)
    _execute(session, user, _prepare(session, instance, target), target, text)
    return {"id": instance.id, "can_migrate": True, "reasons": [], "migrated": True}


def batch_candidates(
    session: Session, user: User, key: str, from_version: int, instance_ids: list[int] | None
) -> list[int]:
    source = _target(session, key, from_version, "from_version")
    stmt = select(ProcessInstance).where(ProcessInstance.definition_id == source.id)
    if instance_ids is None:
        stmt = stmt.where(ProcessInstance.status.in_(_ALIVE))
    else:
        stmt = stmt.where(ProcessInstance.id.in_(instance_ids))
    rows = session.scalars(stmt.order_by(ProcessInstance.id))
    return [r.id for r in rows if may_operate(session, user, r)]


@rehearsal.stepping  # SQLite: every case's move is worked out before the write lock (issue 18 item 10)
def migrate_batch(
    session: Session,
    user: User,
    key: str,
    from_version: Any,
    to_version: Any,
    reason: Any,
    *,
    instance_ids: list[int] | None = None,
    dry_run: bool = True,
) -> list[dict[str, Any]]:
    """Dry run or migrate the running instances of one version (or the given ones of it) that the user may
    operate on. Each instance moves in its own savepoint: one that cannot move stays as it was."""
    if not may_operate_somewhere(user):
        raise Forbidden(
            "只有管理员或区民政局负责人可以迁移流程实例 / only admins and district heads may migrate"
        )
    text = "" if dry_run else _check_reason(reason)
    _check_version(from_version, "from_version")
    target = _target(session, key, to_version, "to_version")
    ids = batch_candidates(session, user, key, from_version, instance_ids)
    results = []
    if instance_ids is not None:
        for missing in sorted(set(instance_ids) - set(ids)):
            results.append(
                {
                    "id": missing,
                    "can_migrate": False,
                    "migrated": False,
                    "reasons": [
                        "不是该版本的、您可操作的流程实例 / not an instance of this version you may operate on"
                    ],
                }
            )
    if dry_run:
        for instance_id in ids:
            result = plan(session, _visible(session, instance_id), target)
            results.append(
                {
                    "id": instance_id,
                    "can_migrate": result.can_migrate,
                    "reasons": result.reasons,
                    "migrated": False,
                }
            )
        return sorted(results, key=lambda r: r["id"])
    # Every case's move is worked out first (on SQLite each case is read without the write lock, its
    # version noted: engine.instances.optimistic); then the locks are taken, the versions checked (a case
    # changed meanwhile: the whole batch runs again) and each case is written in its own savepoint.
    worked = []
    for instance_id in ids:
        try:
            worked.append(_prepare(session, instances.lock(session, instance_id, deferred=True), target))
        except ServiceError as err:
            results.append(_refused(instance_id, err))
    optimistic.settle(session)
    for ready in worked:
        try:
            with session.begin_nested():
                _execute(session, user, ready, target, text)
            results.append({"id": ready.instance.id, "can_migrate": True, "reasons": [], "migrated": True})
        except ServiceError as err:
            results.append(_refused(ready.instance.id, err))
    return sorted(results, key=lambda r: r["id"])


def _refused(instance_id: int, err: ServiceError) -> dict[str, Any]:
    return {
        "id": instance_id,
        "can_migrate": False,
        "migrated": False,
        "reasons": list(err.fields.get("target_version") or [err.message]),
    }


def versions_of(session: Session, key: str) -> list[ProcessDefinition]:
    return list(
        session.scalars(
            select(ProcessDefinition).where(ProcessDefinition.key == key).order_by(ProcessDefinition.version)
        )
    )
