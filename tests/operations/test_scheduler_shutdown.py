"""The scheduler stops gracefully (issue 20): on SIGTERM it finishes the batch in hand, commits it,
takes no other, marks its heartbeat row stopped and exits 0 — nothing half done. Both databases."""

from __future__ import annotations

import signal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from engine.deadlines import jobs
from engine.system.models import SchedulerHeartbeat
from tests.conftest import IS_POSTGRES
from tests.helpers import fired_counts, make_due_timers, scheduler_process, task_counts, wait_until

pytestmark = pytest.mark.usefixtures("schedules_ahead")  # the real clock: seeded schedules ahead of it


def test_a_stop_asked_for_ends_the_drain_after_the_batch_in_hand(session, engine):
    ids = make_due_timers(session, 45)
    asked = []

    def stop() -> bool:
        asked.append(True)
        return len(asked) > 1  # the first transaction runs, the stop comes while it works

    done = jobs.run_due(sessionmaker(bind=engine, expire_on_commit=False), stop=stop)
    batch = jobs.BATCH_SIZE if IS_POSTGRES else 1  # SQLite claims one instance a transaction
    assert len(done) == batch
    fired = fired_counts(session, ids)
    assert sum(fired.values()) == batch and set(fired.values()) <= {0, 1}
    assert task_counts(session, ids) == fired  # each woken case has its next task: the batch committed


def test_sigterm_finishes_the_batch_marks_the_heartbeat_and_exits_cleanly(session):
    ids = make_due_timers(session, 150)
    proc = scheduler_process()
    try:
        assert wait_until(lambda: sum(fired_counts(session, ids).values()) > 0, 60), "nothing fired"
        assert wait_until(
            lambda: session.scalars(select(SchedulerHeartbeat)).first() is not None or session.expire_all(),
            30,
        ), "no heartbeat"
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.log.seek(0)
        log = proc.log.read().decode("utf-8", "replace")
        proc.log.close()
    assert code == 0, log
    assert "scheduler stopped gracefully" in log, log
    session.expire_all()
    fired, tasks = fired_counts(session, ids), task_counts(session, ids)
    assert set(fired.values()) <= {0, 1}  # exactly once or not yet
    assert tasks == fired  # every fired timer's case moved on in the same commit: nothing half done
    row = session.scalars(select(SchedulerHeartbeat)).one()
    assert row.stopped_at is not None and row.jobs_run >= 1
