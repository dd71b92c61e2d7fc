"""How a case ended, told apart from its status and the data its end path wrote."""

from __future__ import annotations

import pytest

from engine.instances.models import InstanceStatus
from engine.instances.outcome import Outcome, outcome_of


@pytest.mark.parametrize(
    ("status", "data", "expected"),
    [
        (InstanceStatus.RUNNING, {"outcome": "in_progress"}, Outcome.RUNNING),
        (InstanceStatus.SUSPENDED, {}, Outcome.SUSPENDED),
        (InstanceStatus.TERMINATED, {"outcome": "in_progress"}, Outcome.TERMINATED),
        (InstanceStatus.COMPLETED, {"outcome": "closed"}, Outcome.CLOSED),
        (InstanceStatus.COMPLETED, {}, Outcome.CLOSED),  # procedures without refusals end closed
        (InstanceStatus.COMPLETED, {"outcome": "rejected", "accepted": False}, Outcome.NOT_ACCEPTED),
        (InstanceStatus.COMPLETED, {"outcome": "rejected", "accepted": True}, Outcome.NOT_APPROVED),
        (InstanceStatus.COMPLETED, {"decision": "reject"}, Outcome.NOT_APPROVED),
        (InstanceStatus.COMPLETED, {"outcome": "withdrawn"}, Outcome.WITHDRAWN),
        (InstanceStatus.COMPLETED, None, Outcome.CLOSED),
    ],
)
def test_outcome_of(status, data, expected):
    assert outcome_of(status, data) == expected
