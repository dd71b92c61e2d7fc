"""Send back for correction (退回补正): the holder of a step returns the case to an earlier step.

A user task declares the earlier user tasks it may return the case to (BPMN property ``send_back_to``,
checked by the linter: user tasks of the same process, upstream of it). The holder gives a reason; the
workflow is rewound as an admin's move-back does (``operations.rewind``), the earlier step reopens for the
person who did it last, pre-filled with its last record, and the case continues from there. Audited as
``task.sent_back`` on the reopened task (reason, from which step, the record it was pre-filled with).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.audit import service as audit
from engine.audit.models import AuditAction, AuditEvent
from engine.bpmn.parsing import send_back_targets
from engine.db import utcnow
from engine.errors import Forbidden, Invalid
from engine.instances import operations, rehearsal
from engine.instances import service as instances
from engine.kernel import bus
from engine.records import service as records
from engine.records.models import StepRecord
from engine.tasks import service as tasks
from engine.tasks.models import HumanTask, TaskStatus

MAX_REASON = 500


def allowed(session: Session, row: HumanTask) -> list[tuple[str, str]]:
    """(BPMN id, name) of the steps this task may send the case back to now: declared in the BPMN and
    done before in this case."""
    instance = session.get(instances.ProcessInstance, row.instance_id)
    if instance is None:
        return []
    compiled = instances.load_spec(session, instance)
    meta = compiled.task_meta(row.bpmn_id)
    declared = send_back_targets(meta.properties) if meta else []
    if not declared:
        return []
    done = set(
        session.scalars(
            select(HumanTask.bpmn_id).where(
                HumanTask.instance_id == row.instance_id,
                HumanTask.state == TaskStatus.COMPLETED,
                HumanTask.bpmn_id.in_(declared),
            )
        )
    )
    out = []
    for target in declared:
        if target in done:
            target_meta = compiled.task_meta(target)
            out.append((target, (target_meta.name if target_meta else None) or target))
    return out


@rehearsal.stepping  # SQLite: the rewound steps run before the write lock is taken (issue 18 item 10)
def send_back(session: Session, user: Any, task_id: int, target: Any, reason: Any) -> HumanTask:
    """Return the case from the user's open task to the earlier step ``target``; the reopened task."""
    text = reason.strip() if isinstance(reason, str) else ""
    if not text:
        raise Invalid.on("reason", "请填写退回原因 / give the reason for sending the case back")
    if len(text) > MAX_REASON:
        raise Invalid.on("reason", f"退回原因最多 {MAX_REASON} 字 / at most {MAX_REASON} characters")
    row, instance, _open = tasks._locked_with_open(session, user, task_id, deferred=True)
    tasks._require_open(row)
    instances.ensure_running(instance)
    if not tasks.may_work_on(session, user, row):
        raise Forbidden(
            "只有本环节的办理人可以退回补正 / only the holder of this step may send the case back"
        )
    choices = dict(allowed(session, row))
    if not isinstance(target, str) or target not in choices:
        names = "、".join(choices.values()) or "无 / none"
        raise Invalid.on(
            "target",
            f"本环节不能退回到该环节（可退回：{names}）/ this step cannot send the case back there",
        )
    previous = session.scalar(
        select(HumanTask)
        .where(
            HumanTask.instance_id == instance.id,
            HumanTask.bpmn_id == target,
            HumanTask.state == TaskStatus.COMPLETED,
        )
        .order_by(HumanTask.completed_at.desc(), HumanTask.id.desc())
        .limit(1)
    )
    loaded, _before = operations.rewind(session, instance, target, field="target")
    open_rows = instances.save(session, loaded, user.id)
    reopened = next(r for r in open_rows if r.bpmn_id == target)
    holder_id = previous.completed_by_id if previous is not None else None
    if holder_id is not None:
        reopened.state, reopened.assignee_id, reopened.claimed_at = TaskStatus.CLAIMED, holder_id, utcnow()
    last = records.latest(session, instance.id, target)
    audit.record(
        session,
        AuditAction.TASK_SENT_BACK,
        actor_id=user.id,
        instance_id=instance.id,
        task_id=reopened.id,
        details={
            "reason": text,
            "from_task_id": row.id,
            "from_bpmn_id": row.bpmn_id,
            "to_bpmn_id": target,
            "assignee_id": holder_id,
            "prefill_record_id": last.id if last is not None else None,
        },
    )
    session.flush()
    session.expire(reopened, ["assignee"])
    if holder_id is not None:
        bus.emit(bus.TASK_ASSIGNED, session, row=reopened, actor_id=user.id, reason=text)
    return reopened


def sent_back_event(session: Session, row: HumanTask) -> AuditEvent | None:
    """The send-back that reopened this task, if it was reopened so."""
    return session.scalar(
        select(AuditEvent)
        .where(
            AuditEvent.instance_id == row.instance_id,
            AuditEvent.task_id == row.id,
            AuditEvent.action == AuditAction.TASK_SENT_BACK.value,
        )
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )


def prefill(session: Session, row: HumanTask) -> dict[str, Any] | None:
    """A reopened task's form starts from the step's last record (what was entered before)."""
    if row.state not in (TaskStatus.READY, TaskStatus.CLAIMED):
        return None
    event = sent_back_event(session, row)
    if event is None:
        return None
    record_id = (event.details or {}).get("prefill_record_id")
    found = session.get(StepRecord, record_id) if record_id else None
    return dict(found.data) if found is not None else None
