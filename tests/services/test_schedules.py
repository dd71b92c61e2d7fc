"""Timer start events: schedules per org unit, one instance per occurrence, catch-up, redeploy."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from engine.bpmn.parsing import BpmnInvalid
from engine.deadlines import calendar as cal
from engine.deadlines import service as deadlines
from engine.deadlines.models import StartSchedule
from engine.definitions import service as definitions
from engine.instances import service as instances
from engine.instances.models import ProcessInstance
from engine.tasks import service as tasks
from tests.conftest import get_user

ROOT = Path(__file__).resolve().parents[2]
SH = cal.SHANGHAI
FIRST = dt.datetime(2026, 12, 1, 9, 0, tzinfo=SH)
XML = (ROOT / "tests/fixtures/deployable/monthly_report.bpmn").read_text(encoding="utf-8")


def run(engine, moment):
    with time_machine.travel(moment, tick=False):
        return deadlines.run_due(sessionmaker(bind=engine, expire_on_commit=False))


def started(session) -> list[tuple[str, str]]:
    session.expire_all()
    rows = session.scalars(
        select(ProcessInstance)
        .where(ProcessInstance.process_key == "monthly_report")
        .order_by(ProcessInstance.id)
    )
    return [(r.org_unit.code, r.business_key) for r in rows]


def started_ids(session) -> list[int]:
    session.expire_all()
    stmt = select(ProcessInstance.id).where(ProcessInstance.process_key == "monthly_report")
    return list(session.scalars(stmt.order_by(ProcessInstance.id)))


def active_schedules(session):
    session.expire_all()
    stmt = select(StartSchedule).where(
        StartSchedule.active.is_(True), StartSchedule.process_key == "monthly_report"
    )
    return list(session.scalars(stmt.order_by(StartSchedule.id)))


def test_deploy_creates_one_schedule_per_org_unit(session):
    rows = active_schedules(session)
    assert [(r.process_key, r.org_unit_id is not None, r.next_run_at, r.remaining) for r in rows] == [
        ("monthly_report", True, FIRST, None),
        ("monthly_report", True, FIRST, None),
    ]


def test_each_occurrence_starts_one_instance_per_unit(engine, session):
    assert run(engine, FIRST - dt.timedelta(minutes=1)) == []
    run(engine, FIRST + dt.timedelta(seconds=30))
    assert started(session) == [
        ("310107014", "MR-310107014-20261201-0900"),  # a readable 案件编号: no engine key on screens
        ("310115004", "MR-310115004-20261201-0900"),
    ]
    instance_id = started_ids(session)[0]
    [task] = tasks.open_tasks_of(session, instance_id)
    assert (task.bpmn_id, task.candidate_role) == ("compile_report", "finance")
    assert task.due_at == dt.datetime(2026, 12, 9, 0, 0, tzinfo=SH)  # 2, 3, 4, 7, 8 December
    assert session.get(ProcessInstance, instance_id).data["scheduled_for"].startswith("2026-12-01T01:00")
    assert {r.next_run_at for r in active_schedules(session)} == {dt.datetime(2027, 1, 1, 9, 0, tzinfo=SH)}
    run(engine, FIRST + dt.timedelta(minutes=5))
    assert len(started_ids(session)) == 2  # once per occurrence


def test_scheduler_down_for_months_catches_up_every_occurrence_in_order(engine, session):
    run(engine, dt.datetime(2027, 3, 1, 12, 0, tzinfo=SH))
    keys = [key for _code, key in started(session)]
    months = [k.split("-")[2][:6] for k in keys]
    assert months == ["202612", "202612", "202701", "202701", "202702", "202702", "202703", "202703"]
    assert len(set(keys)) == 8


def test_concurrent_schedulers_start_each_occurrence_once(engine, session):
    barrier = threading.Barrier(2)

    def worker():
        barrier.wait()
        run(engine, FIRST + dt.timedelta(seconds=1))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(started(session)) == 2


def test_an_admin_starting_a_timer_process_runs_it_at_once(session):
    instance = instances.start(session, get_user(session, "admin"), "monthly_report", "310107014")
    assert [t.bpmn_id for t in tasks.open_tasks_of(session, instance.id)] == ["compile_report"]


def test_only_the_scheduler_or_an_admin_starts_a_timer_process(session):
    """Issue 18 item 8: the step's own role (finance) may not start a monthly report for a month of its
    choosing; the scheduler and admins may."""
    from engine.errors import Forbidden

    before = len(started(session))
    with pytest.raises(Forbidden):
        instances.start(session, get_user(session, "pt_finance"), "monthly_report", "310107014")
    assert len(started(session)) == before


def test_redeploy_replaces_the_schedules(session):
    changed = XML.replace("R/2026-12-01T09:00:00+08:00/P1M", "R2/2026-12-15T09:00:00+08:00/P1M").replace(
        'value="310107014,310115004"', 'value="310107"'
    )
    definition, created = definitions.deploy(session, changed)
    assert created and definition.version == 2
    rows = active_schedules(session)
    assert [(r.definition_id, r.next_run_at, r.remaining) for r in rows] == [
        (definition.id, dt.datetime(2026, 12, 15, 9, 0, tzinfo=SH), 2)
    ]
    session.commit()


def test_bounded_cycle_stops_after_its_count(engine, session):
    changed = XML.replace("R/2026-12-01T09:00:00+08:00/P1M", "R2/2026-12-15T09:00:00+08:00/P1M").replace(
        'value="310107014,310115004"', 'value="310107"'
    )
    definitions.deploy(session, changed)
    session.commit()
    run(engine, dt.datetime(2027, 6, 1, tzinfo=SH))
    assert [key.split("-")[2] for _code, key in started(session)] == ["20261215", "20270115"]
    assert active_schedules(session) == []


@pytest.mark.parametrize(
    ("old", "new", "fragment"),
    [
        (
            "R/2026-12-01T09:00:00+08:00/P1M",
            "R/2026-12-01T09:00:00+08:00",
            "cycle 'R/2026-12-01T09:00:00+08:00' needs exactly one period",
        ),
        (
            'value="310107014,310115004"',
            'value="no-such-unit"',
            "no-such-unit",
        ),
    ],
)
def test_bad_timer_start_refused(session, old, new, fragment):
    before = len(definitions.versions(session, "monthly_report"))
    try:
        definitions.deploy(session, XML.replace(old, new))
        session.flush()
    except Exception as err:  # noqa: BLE001 (the type is what the test checks)
        refused: Exception | None = err
    else:
        refused = None
    session.rollback()
    assert isinstance(refused, BpmnInvalid), repr(refused)
    assert any(p.element_id == "every_month" and fragment in p.message for p in refused.problems), refused
    assert len(definitions.versions(session, "monthly_report")) == before
