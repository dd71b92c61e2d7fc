"""The pure SLA arithmetic (engine/deadlines/sla.py), without a database: a task's colour at a moment, its
next SLA time, and the one wake-up time every caller stores on the instance."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import time_machine

from engine.bpmn import runtime as rt
from engine.bpmn.parsing import compile_bpmn
from engine.deadlines import sla
from engine.instances.models import InstanceStatus, ProcessInstance
from engine.tasks.models import HumanTask, SlaLevel, TaskStatus
from engine.users.models import Role

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def task(level: SlaLevel = SlaLevel.GREEN, state: TaskStatus = TaskStatus.READY) -> HumanTask:
    """An open task due in two days: yellow from tomorrow, red two days after the due time."""
    return HumanTask(
        state=state, sla_level=level, warn_at=NOW + DAY, due_at=NOW + 2 * DAY, escalate_at=NOW + 4 * DAY
    )


def waiting_on_a_five_day_timer():
    """A workflow whose only waiting timer (``remind``, P5D) falls due five days after NOW."""
    compiled = compile_bpmn(
        (ROOT / "tests/fixtures/bpmn/timers_unquoted.bpmn").read_bytes(), known_roles={r.value for r in Role}
    )
    with time_machine.travel(NOW, tick=False):
        wf = rt.new_workflow(compiled)
        rt.advance(wf)
    assert [due for _t, due in rt.waiting_timers(wf)] == [NOW + 5 * DAY]
    return wf


def test_the_colour_follows_the_thresholds():
    row = task()
    assert sla.colour(row, NOW) == "green"
    assert sla.colour(row, NOW + DAY) == "yellow"
    assert sla.colour(row, NOW + 2 * DAY) == "orange"
    assert sla.colour(row, NOW + 4 * DAY) == "red"
    assert sla.colour(task(state=TaskStatus.COMPLETED), NOW) == "none"


def test_the_next_sla_time_is_the_threshold_after_the_level_reached():
    assert sla.next_sla_at(task(SlaLevel.GREEN)) == NOW + DAY
    assert sla.next_sla_at(task(SlaLevel.YELLOW)) == NOW + 2 * DAY
    assert sla.next_sla_at(task(SlaLevel.ORANGE)) == NOW + 4 * DAY
    assert sla.next_sla_at(task(SlaLevel.RED)) is None
    assert sla.next_sla_at(task(state=TaskStatus.COMPLETED)) is None


def test_the_wake_up_is_the_earliest_timer_or_sla_time_and_never_while_stopped():
    wf = waiting_on_a_five_day_timer()
    running = ProcessInstance(status=InstanceStatus.RUNNING)
    assert sla.wakeup_at(running, wf, [task(SlaLevel.GREEN)]) == NOW + DAY
    assert sla.wakeup_at(running, wf, [task(SlaLevel.ORANGE), task(SlaLevel.YELLOW)]) == NOW + 2 * DAY
    assert sla.wakeup_at(running, wf, [task(SlaLevel.RED)]) == NOW + 5 * DAY  # only the timer is left
    assert sla.wakeup_at(running, wf, []) == NOW + 5 * DAY
    for stopped in (InstanceStatus.SUSPENDED, InstanceStatus.COMPLETED, InstanceStatus.TERMINATED):
        assert sla.wakeup_at(ProcessInstance(status=stopped), wf, [task()]) is None
