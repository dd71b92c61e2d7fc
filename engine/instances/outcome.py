"""How a case stands or how it ended, as staff tell cases apart: 办理中, 已暂停, 已办结 (approved and
closed), 不予受理 (refused at acceptance), 不予批准 (refused at assessment, review or approval), 已撤回
(withdrawn by the applicant or the family) and 已终止 (ended by an operator, with a reason).

Derived from the instance's status and the data its end path wrote (the procedures' end scripts set
``outcome``; the comprehensive-assistance refusal path is told apart by ``accepted``), so no column is
needed."""

from __future__ import annotations

import enum
from typing import Any

from engine.instances.models import InstanceStatus


class Outcome(enum.StrEnum):
    RUNNING = "running"
    SUSPENDED = "suspended"
    CLOSED = "closed"  # 已办结
    NOT_ACCEPTED = "not_accepted"  # 不予受理
    NOT_APPROVED = "not_approved"  # 不予批准
    WITHDRAWN = "withdrawn"  # 已撤回
    TERMINATED = "terminated"  # 已终止


# the case data an outcome is read from (a list of cases reads only these)
OUTCOME_KEYS = ("outcome", "decision", "accepted")


def outcome_of(status: InstanceStatus, data: dict[str, Any] | None) -> Outcome:
    data = data or {}
    if status == InstanceStatus.RUNNING:
        return Outcome.RUNNING
    if status == InstanceStatus.SUSPENDED:
        return Outcome.SUSPENDED
    if status == InstanceStatus.TERMINATED:
        return Outcome.TERMINATED
    ended = data.get("outcome")
    if ended == "withdrawn":
        return Outcome.WITHDRAWN
    if ended == "rejected" or data.get("decision") == "reject":
        return Outcome.NOT_ACCEPTED if data.get("accepted") is False else Outcome.NOT_APPROVED
    return Outcome.CLOSED
