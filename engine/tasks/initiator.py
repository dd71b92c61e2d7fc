"""Steps a diagram gives to the user who started the case (Camunda's ``camunda:assignee="${initiator}"``).

Subscribed to the kernel's ``task_opened``: a new task whose definition says so goes straight into the
starter's personal queue (claimed by them, audited as an assignment), as Camunda assigns it; the notice
of new work then goes to the starter alone. A case started by the scheduler has no starter: its task
stays with its role.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from engine.audit import service as audit
from engine.audit.models import AuditAction
from engine.db import utcnow
from engine.tasks.models import HumanTask, TaskStatus


def on_task_opened(
    session: Session, *, rows: list[HumanTask], loaded: Any, actor_id: int | None = None, **_: Any
) -> None:
    starter = loaded.instance.started_by_id
    if starter is None:
        return
    for row in rows:
        meta = loaded.compiled.task_meta(row.bpmn_id)
        if meta is None or meta.assignee != "initiator" or row.state != TaskStatus.READY:
            continue
        row.state, row.assignee_id, row.claimed_at = TaskStatus.CLAIMED, starter, utcnow()
        audit.record(
            session,
            AuditAction.TASK_ASSIGNED,
            actor_id=actor_id,
            instance_id=row.instance_id,
            task_id=row.id,
            details={"assignee_id": starter, "reason": "initiator"},
        )
    session.flush()
