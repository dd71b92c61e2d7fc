"""Deadlines and the three-colour SLA of human tasks, BPMN timers, and the scheduler's wake-ups.

Each instance row carries ``next_wakeup_at``: the earliest of its waiting BPMN timers and the next SLA
threshold of its open tasks (``wakeup_at``, the one place it is computed). A scheduler claims due
instances one at a time under the same per-instance lock a task completion takes, fires what is due
(timers first, then SLA levels in order) and recomputes the wake-up, all in one transaction: each timer
and each level happens exactly once however many schedulers run, and a scheduler killed mid-work leaves
nothing half done.

The rooms: ``sla`` (the pure arithmetic: due times, thresholds, colour, next SLA time, next wake-up),
``escalation`` (firing the levels: notify, escalate, audit) and ``jobs`` (claiming and waking due
instances, draining timer-start schedules). This module keeps the names callers import from it.
"""

from __future__ import annotations

from engine.deadlines.escalation import escalation_target, fire_sla_levels, role_holders
from engine.deadlines.jobs import BATCH_SIZE, WakeResult, claim_batch, claim_due, run_due, wake
from engine.deadlines.sla import (
    POLICY,
    SlaPolicy,
    colour,
    configure,
    deadline_for,
    log,
    next_sla_at,
    next_wakeup,
    set_due,
    thresholds,
    wakeup_at,
)

__all__ = [
    "BATCH_SIZE",
    "POLICY",
    "SlaPolicy",
    "WakeResult",
    "claim_batch",
    "claim_due",
    "colour",
    "configure",
    "deadline_for",
    "escalation_target",
    "fire_sla_levels",
    "log",
    "next_sla_at",
    "next_wakeup",
    "role_holders",
    "run_due",
    "set_due",
    "thresholds",
    "wake",
    "wakeup_at",
]
