"""Concurrent completions of one instance: serialized by the per-instance lock, never lost.

Runs on both databases (row lock on PostgreSQL, the write lock on SQLite); CI's PostgreSQL run is the
one the issue requires.
"""

from __future__ import annotations

import threading

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import Conflict
from engine.instances.models import InstanceStatus, ProcessInstance
from engine.tasks import service as tasks
from engine.tasks.models import HumanTask, TaskStatus
from tests.conftest import get_user
from tests.factories import disbursement_data, open_task, to_parallel_stage, visit_data


def _race(engine, jobs):
    """Run each job(session) in its own thread and session at the same moment; return outcomes."""
    barrier = threading.Barrier(len(jobs))
    outcomes: list = [None] * len(jobs)

    def run(i, job):
        with Session(engine, expire_on_commit=False) as s:
            barrier.wait()
            try:
                job(s)
                s.commit()
                outcomes[i] = "ok"
            except Conflict as err:
                s.rollback()
                outcomes[i] = ("conflict", err.message)
            except Exception as err:  # surfaced in the assertion message
                s.rollback()
                outcomes[i] = ("error", repr(err))

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return outcomes


def test_two_parallel_tasks_completed_at_once_are_both_applied(engine, session):
    instance = to_parallel_stage(session)
    session.commit()
    visit = open_task(session, instance.id, "visit").id
    disbursement = open_task(session, instance.id, "disbursement").id
    version_before = session.get(ProcessInstance, instance.id).version

    def complete_visit(s):
        tasks.complete(s, get_user(s, "pt_advisor"), visit, visit_data(more=False))

    def complete_disbursement(s):
        tasks.complete(s, get_user(s, "pt_finance"), disbursement, disbursement_data())

    assert _race(engine, [complete_visit, complete_disbursement]) == ["ok", "ok"]
    session.expire_all()
    done = session.get(ProcessInstance, instance.id)
    assert done.status == InstanceStatus.COMPLETED, "the join saw both branches"
    assert done.data["amount_paid"] == "5000.00" and done.data["more_visits_needed"] is False
    assert done.version == version_before + 2, "two serial updates, neither lost"


def test_same_task_completed_twice_at_once_one_wins(engine, session):
    instance = to_parallel_stage(session)
    session.commit()
    disbursement = open_task(session, instance.id, "disbursement").id

    def job(s):
        tasks.complete(s, get_user(s, "pt_finance"), disbursement, disbursement_data())

    outcomes = _race(engine, [job, job])
    assert sorted(o if o == "ok" else o[0] for o in outcomes) == ["conflict", "ok"], outcomes
    session.expire_all()
    rows = session.scalars(
        select(HumanTask).where(HumanTask.instance_id == instance.id, HumanTask.bpmn_id == "disbursement")
    ).all()
    assert [r.state for r in rows] == [TaskStatus.COMPLETED]


def test_claim_race_one_winner(engine, session):
    instance = to_parallel_stage(session)
    session.commit()
    visit = open_task(session, instance.id, "visit").id

    def claim_as(username):
        return lambda s: tasks.claim(s, get_user(s, username), visit)

    outcomes = _race(engine, [claim_as("pt_advisor"), claim_as("pt_advisor2")])
    assert sorted(o if o == "ok" else o[0] for o in outcomes) == ["conflict", "ok"], outcomes
