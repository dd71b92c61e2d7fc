"""Administrative operations on running cases: suspend / resume, terminate, reassign a task, move the
token back to an earlier step, edit the process data, and migrate instances to another version.

Who: admins anywhere, district heads inside their district; everyone else is refused. Every operation
needs a non-empty reason, takes the per-instance lock and writes one audit event with the reason, the
actor and what changed (before / after).

The operations live by room: ``guard`` (permission, reason, lock), ``lifecycle`` (suspend, resume,
terminate, reassign), ``moveback`` (move back, and the ``rewind`` shared with send-back), ``data_edit``
and ``migration`` (its state rebuild sits next to the runtime, in engine/bpmn/migrate_state.py). This
module keeps the names callers import from it.
"""

from __future__ import annotations

from typing import Any

from engine.forms import jsonable
from engine.instances.data_edit import MAX_EDIT_BYTES, edit_data
from engine.instances.guard import _REFUSED, MAX_REASON, may_operate, may_operate_somewhere
from engine.instances.lifecycle import reassign, resume, suspend, terminate
from engine.instances.migration import Plan, batch_candidates, migrate, migrate_batch, plan, versions_of
from engine.instances.models import ProcessInstance
from engine.instances.moveback import move_back, move_back_targets, rewind

__all__ = [
    "MAX_EDIT_BYTES",
    "MAX_REASON",
    "Plan",
    "_REFUSED",
    "as_dict",
    "batch_candidates",
    "edit_data",
    "may_operate",
    "may_operate_somewhere",
    "migrate",
    "migrate_batch",
    "move_back",
    "move_back_targets",
    "plan",
    "reassign",
    "resume",
    "rewind",
    "suspend",
    "terminate",
    "versions_of",
]


def as_dict(instance: ProcessInstance) -> dict[str, Any]:
    return jsonable({"id": instance.id, "status": instance.status.value})
