"""Incidents (issue 18 item 11): a failing automatic step is kept on the case for admins to fix and
retry — from a task completion, a timer the scheduler fires and a scheduled start — never a 500, a
rollback of the user's work or a silent loop. Both databases."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from engine.audit.models import AuditEvent
from engine.bpmn import runtime
from engine.bpmn.parsing import BpmnInvalid
from engine.deadlines import calendar as cal
from engine.deadlines import service as deadlines
from engine.deadlines.models import StartSchedule
from engine.definitions import service as definitions
from engine.errors import Conflict, Forbidden, Invalid
from engine.incidents import rerun
from engine.incidents import service as incidents
from engine.incidents.models import Incident, IncidentStatus
from engine.instances import operations as ops
from engine.instances import service as instances
from engine.instances.models import InstanceStatus, ProcessInstance
from engine.tasks import service as tasks
from engine.tasks.models import TaskStatus
from tests import hostile_bpmn
from tests.conftest import get_user
from tests.factories import STREET, open_task

MONDAY = dt.datetime(2026, 11, 2, 10, 0, tzinfo=cal.SHANGHAI)


def _deploy(session, xml):
    definition, created = definitions.deploy(session, xml, actor_id=get_user(session, "admin").id)
    assert created
    session.commit()
    return definition


def _start(session, key, data=None):
    return instances.start(session, get_user(session, "pt_officer"), key, STREET, data=data)


def _actions(session, instance_id):
    return [
        e.action
        for e in session.scalars(
            select(AuditEvent).where(AuditEvent.instance_id == instance_id).order_by(AuditEvent.id)
        )
    ]


def test_a_completion_into_a_failing_gateway_keeps_the_form_opens_an_incident_and_retries(session):
    _deploy(session, hostile_bpmn.gateway_without_default())
    instance = _start(session, "hostile_gateway", data={"x": 3})  # the gateway's data (tasks have no form)
    session.commit()
    officer, admin = get_user(session, "pt_officer"), get_user(session, "admin")
    fill = open_task(session, instance.id, "fill")

    with pytest.raises(incidents.IncidentOpened) as caught:
        tasks.complete(session, officer, fill.id, {})
    session.commit()  # what the web layer does for this error: the completion and the incident are kept
    incident = caught.value.incident
    assert caught.value.fields["element"] == ["gw"] and caught.value.code == "incident_opened"

    session.expire_all()
    row = session.get(type(fill), fill.id)
    assert row.state == TaskStatus.COMPLETED and row.completed_by_id == officer.id
    stored = session.get(Incident, incident.id)
    assert (stored.element, stored.status, stored.origin, stored.attempts) == (
        "gw",
        IncidentStatus.OPEN,
        "task",
        1,
    )
    assert "No conditions satisfied" in stored.message and stored.created_by_id == officer.id
    assert session.get(ProcessInstance, instance.id).status == InstanceStatus.RUNNING
    assert [a for a in _actions(session, instance.id) if a.startswith(("task.completed", "incident"))] == [
        "task.completed",
        "incident.opened",
    ]
    with pytest.raises(Conflict):  # completing the same task again: it is done
        tasks.complete(session, officer, fill.id, {})
    session.rollback()

    with pytest.raises(Forbidden):
        rerun.retry(session, officer, incident.id)
    session.rollback()
    with pytest.raises(incidents.IncidentOpened):  # no fix yet: fails again, counted and audited
        rerun.retry(session, admin, incident.id)
    session.commit()
    session.expire_all()
    assert session.get(Incident, incident.id).attempts == 2
    assert _actions(session, instance.id)[-1] == "incident.retried"

    ops.edit_data(session, admin, instance.id, {"x": 1}, [], "网关条件数据有误，改正后重试")
    session.commit()
    resolved = rerun.retry(session, admin, incident.id)
    session.commit()
    assert resolved.status == IncidentStatus.RESOLVED and resolved.resolved_by_id == admin.id
    assert [r.bpmn_id for r in tasks.open_tasks_of(session, instance.id)] == ["after"]
    assert "incident.resolved" in _actions(session, instance.id)
    with pytest.raises(Conflict):
        rerun.retry(session, admin, incident.id)
    rows, total = incidents.list_incidents(session, admin, status="resolved")
    assert total >= 1 and incident.id in [r.id for r in rows]
    assert incidents.open_of(session, instance.id) == []


def test_a_runaway_loop_after_a_completion_is_an_incident_within_the_time_limit(session, monkeypatch):
    """Deployed before cycles were refused (or through a fork): the step and time limits stop it."""
    monkeypatch.setattr(runtime, "MAX_ENGINE_SECONDS", 0.5)
    xml = hostile_bpmn.fork_cycle()
    compiled = definitions.compile_bpmn(xml, known_roles=definitions.KNOWN_ROLES)  # skips the deploy refusal
    from engine.definitions.models import ProcessDefinition

    definition = ProcessDefinition(
        key=compiled.key,
        version=1,
        name=compiled.name,
        sha256=compiled.sha256,
        bpmn_xml=xml.decode(),
        source="test",
    )
    session.add(definition)
    session.commit()
    instance = _start(session, compiled.key, data={"i": 0, "n": 10**9})
    session.commit()
    import time

    started = time.monotonic()
    with pytest.raises(incidents.IncidentOpened) as caught:
        tasks.complete(
            session, get_user(session, "pt_officer"), open_task(session, instance.id, "fill").id, {}
        )
    assert time.monotonic() - started < 10
    session.commit()
    assert "time limit" in caught.value.incident.message
    assert session.get(Incident, caught.value.incident.id).status == IncidentStatus.OPEN


def test_a_user_start_into_a_failing_gateway_is_refused_and_stores_nothing(session):
    _deploy(session, hostile_bpmn.gateway_without_default(first=True, key="hostile_gateway_first"))
    before = session.scalar(select(ProcessInstance.id).order_by(ProcessInstance.id.desc()).limit(1))
    with pytest.raises(Invalid, match="cannot start") as caught:
        _start(session, "hostile_gateway_first", data={"x": 5})
    assert "gw" in caught.value.message
    session.rollback()
    assert session.scalar(select(ProcessInstance.id).order_by(ProcessInstance.id.desc()).limit(1)) == before


def test_a_timer_the_scheduler_fires_into_a_failing_script_opens_an_incident_once(engine, session):
    with time_machine.travel(MONDAY, tick=False):
        _deploy(session, hostile_bpmn.timer_then_script("y = missing_value + 1"))
        instance = _start(session, "hostile_timer_script")
        tasks.complete(
            session, get_user(session, "pt_officer"), open_task(session, instance.id, "fill").id, {}
        )
        session.commit()
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    with time_machine.travel(MONDAY + dt.timedelta(minutes=61), tick=False):
        done = deadlines.run_due(factory)
    assert [r.timers for r in done if r.instance_id == instance.id] == [["wait"]]
    session.expire_all()
    [incident] = session.scalars(select(Incident).where(Incident.instance_id == instance.id)).all()
    assert (incident.element, incident.origin, incident.status) == ("calc", "timer", IncidentStatus.OPEN)
    row = session.get(ProcessInstance, instance.id)
    assert row.next_wakeup_at is None  # nothing left to wake for: no retry every minute
    assert "timer.fired" in _actions(session, instance.id) and "incident.opened" in _actions(
        session, instance.id
    )
    with time_machine.travel(MONDAY + dt.timedelta(minutes=125), tick=False):
        assert [r for r in deadlines.run_due(factory) if r.instance_id == instance.id] == []
    admin = get_user(session, "admin")
    ops.edit_data(session, admin, instance.id, {"missing_value": 41}, [], "补充缺少的数据")
    rerun.retry(session, admin, incident.id)
    session.commit()
    assert [r.bpmn_id for r in tasks.open_tasks_of(session, instance.id)] == ["after"]
    assert instances.load(session, session.get(ProcessInstance, instance.id)).wf.last_task is not None


def test_a_scheduled_start_into_a_failing_script_keeps_the_case_with_an_incident(engine, session):
    with time_machine.travel(MONDAY, tick=False):
        definition = _deploy(session, hostile_bpmn.timer_start_then_script("y = 10 ** 5000", STREET))
    schedule = session.scalars(
        select(StartSchedule).where(StartSchedule.definition_id == definition.id)
    ).one()
    first = schedule.next_run_at
    with time_machine.travel(first + dt.timedelta(minutes=1), tick=False):
        done = deadlines.run_due(sessionmaker(bind=engine, expire_on_commit=False))
    started = [r for r in done if r.started_by_schedule == schedule.id]
    assert len(started) == 1
    session.expire_all()
    [incident] = session.scalars(select(Incident).where(Incident.instance_id == started[0].instance_id)).all()
    assert (incident.element, incident.origin) == ("calc", "schedule")
    assert "evaluation limit" in incident.message
    assert session.get(StartSchedule, schedule.id).next_run_at > first  # the schedule moved on, once


@pytest.mark.parametrize(
    ("org_units", "fragment"),
    [("999999999", "999999999"), ("level:galaxy", "galaxy"), (f"{STREET},310199999", "310199999")],
)
def test_a_timer_start_with_an_unknown_org_unit_or_level_is_refused_at_deploy(session, org_units, fragment):
    before = session.scalar(select(StartSchedule.id).order_by(StartSchedule.id.desc()).limit(1))
    with pytest.raises(BpmnInvalid) as caught:
        definitions.deploy(session, hostile_bpmn.timer_start("R/P1D", org_units, key="hostile_units"))
    [problem] = caught.value.problems
    assert problem.element_id == "every" and problem.line == 5 and fragment in problem.message
    session.rollback()
    assert session.scalar(select(StartSchedule.id).order_by(StartSchedule.id.desc()).limit(1)) == before
    assert definitions.latest(session, "hostile_units") is None


@pytest.mark.parametrize(
    "xml",
    [hostile_bpmn.script_cycle(), hostile_bpmn.fork_cycle(), hostile_bpmn.timer_start("R/PT1S", STREET)],
)
def test_cycles_of_automatic_steps_and_second_timers_are_refused_at_deploy(session, xml):
    with pytest.raises(BpmnInvalid) as caught:
        definitions.deploy(session, xml)
    assert all(p.element_id and p.line for p in caught.value.problems)
