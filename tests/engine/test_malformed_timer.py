"""A waiting timer whose stored time cannot be read fails loudly, naming the timer: never silently unfired."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.bpmn import runtime as rt
from engine.bpmn.parsing import compile_bpmn
from engine.deadlines import service as deadlines
from engine.users.models import Role
from tests import hostile_bpmn


def _waiting(text: str = "PT1H"):
    compiled = compile_bpmn(
        hostile_bpmn.timer_after_fill("timeDuration", text), known_roles={r.value for r in Role}
    )
    wf = rt.new_workflow(compiled)
    rt.advance(wf)
    fill = next(t for t in rt.ready_human_tasks(wf) if t.task_spec.bpmn_id == "fill")
    fill.run()
    rt.advance(wf)
    ((timer, due),) = rt.waiting_timers(wf)
    return wf, timer, due


def test_a_readable_timer_is_listed_with_its_due_time():
    wf, timer, due = _waiting()
    assert timer.task_spec.bpmn_id == "wait"
    assert dt.timedelta(minutes=59) < due - dt.datetime.now(dt.UTC) <= dt.timedelta(hours=1)


@pytest.mark.parametrize("stored", ["not a time", "2026-13-45T00:00:00", "P1D", "2026W999", 12])
def test_an_unreadable_stored_timer_is_an_engine_error_naming_it(stored):
    wf, timer, _due = _waiting()
    timer.internal_data["event_value"] = stored
    with pytest.raises(rt.EngineError) as caught:
        rt.waiting_timers(wf)
    assert caught.value.element == "wait"
    with pytest.raises(rt.EngineError) as fired:  # the wake-up fails (and opens an incident), not a no-op
        rt.fire_due_timers(wf)
    assert fired.value.element == "wait"


def test_an_unreadable_timer_makes_the_instance_due_at_once():
    wf, timer, due = _waiting()
    assert deadlines.next_wakeup(wf, []) == due
    timer.internal_data["event_value"] = "not a time"
    before = dt.datetime.now(dt.UTC)
    wakeup = deadlines.next_wakeup(wf, [])
    assert wakeup is not None and before <= wakeup <= dt.datetime.now(dt.UTC)
