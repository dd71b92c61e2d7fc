"""Correct a case's process data: set or remove fields, written into the workflow so that later gateways
and scripts see them."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState
from sqlalchemy.orm import Session

from engine.audit import service as audit
from engine.audit.models import AuditAction
from engine.bpmn import runtime
from engine.db import dumps
from engine.errors import Invalid
from engine.instances import rehearsal
from engine.instances import service as instances
from engine.instances.guard import _ensure_alive, _locked
from engine.instances.models import ProcessInstance
from engine.users.models import User

MAX_EDIT_BYTES = 64 * 1024


_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


def _check_edit(set_: Any, unset: Any) -> tuple[dict[str, Any], list[str]]:
    problems: dict[str, list[str]] = {}
    if set_ is None:
        set_ = {}
    if unset is None:
        unset = []
    if not isinstance(set_, dict):
        problems["set"] = ["必须是对象 / must be an object"]
        set_ = {}
    if not isinstance(unset, list) or not all(isinstance(k, str) for k in unset):
        problems["unset"] = ["必须是字段名列表 / must be a list of field names"]
        unset = []
    for key in set_:
        if not isinstance(key, str) or not _NAME.match(key):
            problems[f"set.{key}"] = ["字段名无效 / invalid field name (letters, digits, '_')"]
    for key in unset:
        if not _NAME.match(key):
            problems[f"unset.{key}"] = ["字段名无效 / invalid field name (letters, digits, '_')"]
        elif key in set_:
            problems[f"unset.{key}"] = ["不能同时设置和删除 / cannot both set and unset a field"]
    try:
        size = len(dumps(set_).encode("utf-8"))
        if json.loads(dumps(set_)) != set_:
            raise ValueError
    except (TypeError, ValueError):
        problems["set"] = ["值必须是 JSON 类型 / values must be JSON values"]
    else:
        if size > MAX_EDIT_BYTES:
            problems["set"] = [f"数据过大（最多 {MAX_EDIT_BYTES // 1024} KB）/ too large"]
    if not problems and not set_ and not unset:
        problems["set"] = ["没有要修改的内容 / nothing to change"]
    if problems:
        raise Invalid("数据修改无效 / invalid data edit", problems)
    return dict(set_), list(unset)


def _live_tasks(wf: BpmnWorkflow) -> list[Task]:
    """Tasks whose data later steps will read: the last finished task and every unfinished task."""
    found = [t for t in wf.get_tasks() if not t.has_state(TaskState.FINISHED_MASK)]
    for sp in wf.subprocesses.values():
        found += [t for t in sp.get_tasks() if not t.has_state(TaskState.FINISHED_MASK)]
    if wf.last_task is not None:
        found.append(wf.last_task)
    return found + runtime.failed_tasks(wf)  # a failed step (an incident) runs again with the fix


@rehearsal.stepping  # SQLite: the workflow is loaded and changed before the write lock (issue 18 item 10)
def edit_data(
    session: Session, user: User, instance_id: int, set_: Any, unset: Any, reason: Any
) -> ProcessInstance:
    """Set or remove process data fields; written into the workflow so later gateways and scripts see it."""
    instance, text = _locked(session, user, instance_id, reason, deferred=True)
    _ensure_alive(instance)
    values, removed = _check_edit(set_, unset)
    loaded = instances.load(session, instance)
    current = runtime.current_data(loaded.wf)
    missing = [k for k in removed if k not in current]
    if missing:
        raise Invalid(
            "数据修改无效 / invalid data edit",
            {f"unset.{k}": ["没有该字段 / no such field"] for k in missing},
        )
    changes = {k: {"old": current.get(k), "new": v} for k, v in values.items()}
    changes.update({k: {"old": current.get(k), "new": None, "removed": True} for k in removed})
    for task in _live_tasks(loaded.wf):
        task.data.update(copy.deepcopy(values))
        for key in removed:
            task.data.pop(key, None)
    audit.record(
        session,
        AuditAction.INSTANCE_DATA_EDITED,
        actor_id=user.id,
        instance_id=instance.id,
        details={
            "reason": text,
            "before": {k: c["old"] for k, c in changes.items()},
            "after": {k: c["new"] for k, c in changes.items() if not c.get("removed")},
            "unset": removed,
        },
    )
    instances.save(session, loaded, user.id)
    return instance
