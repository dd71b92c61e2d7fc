"""Concurrent completions of one instance: serialized by the per-instance lock, never lost.

Runs on both databases (row lock on PostgreSQL, the write lock on SQLite); CI's PostgreSQL run is the
one the issue requires.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from engine.audit import chain
from engine.audit.models import AuditEvent
from engine.db import make_engine
from engine.definitions import service as definitions
from engine.errors import Conflict
from engine.instances import service as instances
from engine.instances.models import InstanceStatus, ProcessInstance
from engine.orgs import service as orgs
from engine.tasks import service as tasks
from engine.tasks.models import HumanTask, TaskStatus
from engine.users.models import Role, RoleGrant, User
from tests.conftest import DB_URL, IS_POSTGRES, get_user
from tests.factories import STREET, disbursement_data, open_task, to_parallel_stage, visit_data

CLAIM_RACERS = 50  # clients claiming one task at once
PARALLEL_COMPLETIONS = 20  # clients completing the parallel tasks of one instance at once


def _race(engine, jobs):
    """Run each job(session) in its own thread and session at the same moment; return outcomes."""
    barrier = threading.Barrier(len(jobs), timeout=60)
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


# --- many clients at once (PostgreSQL: real row locks; one connection per client) ---------------

needs_postgres = pytest.mark.skipif(not IS_POSTGRES, reason="many real concurrent clients need PostgreSQL")


def _fanout_bpmn(width: int) -> str:
    tasks_xml = "".join(
        f'<bpmn:userTask id="t{i}" name="并行任务{i}"><bpmn:incoming>in{i}</bpmn:incoming>'
        f"<bpmn:outgoing>out{i}</bpmn:outgoing></bpmn:userTask>"
        f'<bpmn:sequenceFlow id="in{i}" sourceRef="fork" targetRef="t{i}"/>'
        f'<bpmn:sequenceFlow id="out{i}" sourceRef="t{i}" targetRef="join"/>'
        for i in range(width)
    )
    refs = "".join(f"<bpmn:flowNodeRef>t{i}</bpmn:flowNodeRef>" for i in range(width))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D_fanout" targetNamespace="http://assistflow.example/test">
  <bpmn:process id="fanout_{width}" name="{width} 个并行任务（测试）" isExecutable="true">
    <bpmn:laneSet id="ls"><bpmn:lane id="Lane_advisor" name="advisor">{refs}</bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="fork"/>
    <bpmn:parallelGateway id="fork"/>
    <bpmn:parallelGateway id="join"/>
    {tasks_xml}
    <bpmn:sequenceFlow id="fend" sourceRef="join" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>"""


@pytest.fixture()
def wide_engine(engine):
    """An engine with one fresh connection per client (the app's pool is sized for a web worker)."""
    own = make_engine(DB_URL, poolclass=NullPool)
    yield own
    own.dispose()


@pytest.mark.postgres_only
@needs_postgres
def test_fifty_clients_race_to_claim_one_task_exactly_one_wins(wide_engine, session):
    unit = orgs.by_code(session, STREET)
    names = [f"racer_{i:02d}" for i in range(CLAIM_RACERS)]
    for name in names:
        user = User(username=name, display_name=name, password_hash="not-used")
        user.grants = [RoleGrant(role=Role.ADVISOR, org_unit_id=unit.id)]
        session.add(user)
    instance = to_parallel_stage(session)
    session.commit()
    visit = open_task(session, instance.id, "visit").id

    def claim_as(username):
        return lambda s: tasks.claim(s, get_user(s, username), visit)

    started = time.monotonic()
    outcomes = _race(wide_engine, [claim_as(n) for n in names])
    elapsed = time.monotonic() - started
    wins = [names[i] for i, o in enumerate(outcomes) if o == "ok"]
    others = [o for o in outcomes if o != "ok"]
    assert len(wins) == 1, outcomes
    assert len(others) == CLAIM_RACERS - 1 and all(o[0] == "conflict" for o in others), others
    session.expire_all()
    row = session.get(HumanTask, visit)
    assert row.state == TaskStatus.CLAIMED and row.assignee.username == wins[0]
    claims = session.scalars(
        select(AuditEvent).where(AuditEvent.task_id == visit, AuditEvent.action == "task.claimed")
    ).all()
    assert len(claims) == 1
    assert chain.verify(session).ok
    print(
        f"\nRELIABILITY claim race: {CLAIM_RACERS} clients, 1 winner, {CLAIM_RACERS - 1} x 409, {elapsed:.2f}s"
    )


@pytest.mark.postgres_only
@needs_postgres
def test_twenty_clients_complete_twenty_parallel_tasks_all_applied(wide_engine, session):
    width = PARALLEL_COMPLETIONS
    definition, _ = definitions.deploy(session, _fanout_bpmn(width), source="test")
    started_instance = instances.start(session, get_user(session, "pt_advisor"), definition.key, STREET)
    session.commit()
    instance_id = started_instance.id
    open_ids = [t.id for t in tasks.open_tasks_of(session, instance_id)]
    assert len(open_ids) == width
    version_before = session.get(ProcessInstance, instance_id).version

    def complete(task_id):
        return lambda s: tasks.complete(s, get_user(s, "pt_advisor"), task_id, {})

    started = time.monotonic()
    outcomes = _race(wide_engine, [complete(t) for t in open_ids])
    elapsed = time.monotonic() - started
    assert outcomes == ["ok"] * width, outcomes
    session.expire_all()
    done = session.get(ProcessInstance, instance_id)
    assert done.status == InstanceStatus.COMPLETED, "the join saw all twenty branches: none lost"
    assert done.version == version_before + width, "twenty serial updates, each on the one before"
    rows = session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id)).all()
    assert sorted(r.state.value for r in rows) == ["completed"] * width
    completions = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.instance_id == instance_id, AuditEvent.action == "task.completed")
        .order_by(AuditEvent.id)
    ).all()
    assert sorted(e.task_id for e in completions) == sorted(open_ids)
    assert chain.verify(session).ok
    print(f"\nRELIABILITY completion race: {width} clients, {width} applied, 0 lost, {elapsed:.2f}s")
