"""User expressions are never evaluated while holding the database's write lock (issue 18 item 10).

A script task's expression is replaced by a probe that stops inside the evaluation until the test lets
it go; while one thread is stopped there, completing a task (engine.instances.optimistic), another
thread writes. On SQLite that write found the whole database locked before (the step took the write
lock first, then evaluated); it is refused at once here if the lock is held (busy timeout 0: no timing
involved). On PostgreSQL the row lock only ever held that case; the first test runs on both.

If the case itself changes during the evaluation, the step notices before writing and runs again
from a fresh read: a claim made meanwhile is never overwritten. Starts (their first deadlines), the web
start that completes the first step (rehearsed: engine.instances.rehearsal) and batch migration are
probed the same way, and last an ordinary completion whose procedure rule starts new cases (the Bridge
Plan's district confirmation, the community-assistance referral, special care's next period:
engine.instances.newcase), with another case written at every evaluation.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine import expressions
from engine.audit.models import AuditEvent
from engine.deadlines import calendar as cal
from engine.deadlines import service as deadlines
from engine.definitions import service as definitions
from engine.errors import Conflict
from engine.forms import with_check_digit
from engine.instances import service as instances
from engine.tasks import service as tasks
from engine.tasks.models import HumanTask, TaskStatus
from tests import hostile_bpmn
from tests.conftest import IS_POSTGRES, get_user
from tests.factories import STREET, open_task
from tests.lock_watch import OtherCaseWriter, impatient, restore
from tests.web.helpers import Web

KEY = "probe_script"
STEPPER = "stepper"


class Probe:
    """``probe(x)`` in an expression: stops the stepping thread inside the evaluation the first time."""

    def __init__(self) -> None:
        self.inside = threading.Event()
        self.release = threading.Event()
        self.calls = 0

    def __call__(self, value: Any) -> Any:
        if threading.current_thread().name == STEPPER:
            self.calls += 1
            if self.calls == 1:
                self.inside.set()
                assert self.release.wait(120), "the test never let the evaluation go"
        return value


@pytest.fixture()
def probe(monkeypatch, session) -> Iterator[Probe]:
    one = Probe()
    monkeypatch.setitem(expressions.SAFE_FUNCTIONS, "probe", one)
    xml = hostile_bpmn.script_after_fill("y = probe(7)", key=KEY)
    definitions.deploy(session, xml, actor_id=get_user(session, "admin").id)
    session.commit()
    yield one
    one.release.set()


def _case(session: Session) -> int:
    instance = instances.start(session, get_user(session, "pt_officer"), KEY, STREET)
    session.commit()
    return instance.id


def _stepper(engine, job) -> tuple[threading.Thread, list[Any]]:
    """Run ``job(session)`` and commit in the stepping thread; its outcome lands in the list."""
    outcome: list[Any] = []

    def run() -> None:
        with Session(engine, expire_on_commit=False) as s:
            try:
                job(s)
                s.commit()
                outcome.append("ok")
            except Conflict as err:
                s.rollback()
                outcome.append(("conflict", err.message))
            except Exception as err:  # shown by the assertion
                s.rollback()
                outcome.append(("error", repr(err)))

    thread = threading.Thread(target=run, name=STEPPER, daemon=True)
    thread.start()
    return thread, outcome


def _claim_in_the_receiving_case_meanwhile(engine, deadline_probe, note: int) -> None:
    """While the operation is stopped inside the receiving case's script (nothing written yet), another
    officer claims a task of that case and commits at once; then the operation goes on."""
    assert deadline_probe.inside.wait(120)
    writer = impatient(engine)
    try:
        tasks.claim(writer, get_user(writer, "pt_officer2"), note)  # the receiving case changes
        writer.commit()
    finally:
        restore(writer)
    deadline_probe.release.set()


def test_another_case_is_written_while_an_expression_is_being_evaluated(engine, session, probe):
    stepping, other = _case(session), _case(session)
    fill = open_task(session, stepping, "fill").id
    other_fill = open_task(session, other, "fill").id
    thread, outcome = _stepper(engine, lambda s: tasks.complete(s, get_user(s, "pt_officer"), fill, {}))
    assert probe.inside.wait(120)

    writer = impatient(engine)
    try:
        tasks.claim(writer, get_user(writer, "pt_officer"), other_fill)  # a write to another case
        writer.commit()
    finally:
        restore(writer)
    assert thread.is_alive() and not probe.release.is_set()  # the evaluation was still going on

    probe.release.set()
    thread.join(120)
    assert outcome == ["ok"]
    session.expire_all()
    assert session.get(HumanTask, other_fill).state == TaskStatus.CLAIMED
    assert [t.bpmn_id for t in tasks.open_tasks_of(session, stepping)] == ["after"]
    assert instances.get_visible(session, get_user(session, "admin"), stepping).data["y"] == 7


@pytest.mark.skipif(IS_POSTGRES, reason="PostgreSQL holds the case's row lock while stepping: no race")
def test_a_change_to_the_case_during_the_evaluation_makes_the_step_run_again(engine, session, probe):
    case = _case(session)
    officer = get_user(session, "pt_officer")
    fill = open_task(session, case, "fill").id
    tasks.claim(session, officer, fill)
    session.commit()
    thread, outcome = _stepper(engine, lambda s: tasks.complete(s, get_user(s, "pt_officer"), fill, {}))
    assert probe.inside.wait(120)
    tasks.unclaim(session, officer, fill)  # the case changes under the step (its lock: a write)
    session.commit()
    probe.release.set()
    thread.join(120)
    assert outcome == ["ok"] and probe.calls == 2  # read again, evaluated again, then written
    session.expire_all()
    assert session.get(HumanTask, fill).state == TaskStatus.COMPLETED
    actions = session.scalars(
        select(AuditEvent.action).where(AuditEvent.task_id == fill).order_by(AuditEvent.id)
    ).all()
    assert [a for a in actions if a != "task.created"] == ["task.claimed", "task.unclaimed", "task.completed"]


@pytest.mark.skipif(IS_POSTGRES, reason="PostgreSQL holds the case's row lock while stepping: no race")
def test_a_claim_made_during_the_evaluation_is_not_overwritten(engine, session, probe):
    case = _case(session)
    fill = open_task(session, case, "fill").id
    thread, outcome = _stepper(engine, lambda s: tasks.complete(s, get_user(s, "pt_officer"), fill, {}))
    assert probe.inside.wait(120)
    tasks.claim(session, get_user(session, "pt_officer2"), fill)
    session.commit()
    probe.release.set()
    thread.join(120)
    assert outcome == [("conflict", "任务已被他人认领 / task is claimed by another user")]
    session.expire_all()
    row = session.get(HumanTask, fill)
    assert row.state == TaskStatus.CLAIMED and row.assignee_id == get_user(session, "pt_officer2").id
    assert [t.bpmn_id for t in tasks.open_tasks_of(session, case)] == ["fill"]


MONDAY = dt.datetime(2026, 11, 2, 10, 0, tzinfo=cal.SHANGHAI)


def test_another_case_is_written_while_the_scheduler_evaluates_a_script_after_a_timer(
    engine, session, monkeypatch
):
    probe = Probe()
    monkeypatch.setitem(expressions.SAFE_FUNCTIONS, "probe", probe)
    key = "probe_timer_script"
    with time_machine.travel(MONDAY, tick=False):
        xml = hostile_bpmn.timer_then_script("y = probe(5)", key=key)
        definitions.deploy(session, xml, actor_id=get_user(session, "admin").id)
        session.commit()
        officer = get_user(session, "pt_officer")
        waiting = instances.start(session, officer, key, STREET)
        other = instances.start(session, officer, key, STREET)
        session.commit()
        tasks.complete(session, officer, open_task(session, waiting.id, "fill").id, {})
        session.commit()
    other_fill = open_task(session, other.id, "fill").id
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    try:
        with time_machine.travel(MONDAY + dt.timedelta(minutes=61), tick=False):
            thread, outcome = _stepper(engine, lambda _s: deadlines.run_due(factory))
            assert probe.inside.wait(120)
            writer = impatient(engine)
            try:
                tasks.claim(writer, get_user(writer, "pt_officer"), other_fill)
                writer.commit()
            finally:
                restore(writer)
            assert thread.is_alive() and not probe.release.is_set()
            probe.release.set()
            thread.join(120)
    finally:
        probe.release.set()
    assert outcome == ["ok"]
    session.expire_all()
    assert session.get(HumanTask, other_fill).state == TaskStatus.CLAIMED
    assert [t.bpmn_id for t in tasks.open_tasks_of(session, waiting.id)] == ["after"]


# --- send back, move back, migration: the steps they (re)open are computed before the write lock ------


def _fill_then_check(key: str, fill_deadline: str | None) -> bytes:
    """fill (its ``deadline`` an expression, when given) → check (may send the case back to fill)."""
    deadline = f'<spiffworkflow:property name="deadline" value="{fill_deadline}"/>' if fill_deadline else ""
    fill = (
        f'<bpmn:userTask id="fill" name="填写"><bpmn:extensionElements><spiffworkflow:properties>{deadline}'
        "</spiffworkflow:properties></bpmn:extensionElements></bpmn:userTask>\n"
        if deadline
        else '<bpmn:userTask id="fill" name="填写"/>\n'
    )
    return hostile_bpmn.process(
        key,
        '<bpmn:startEvent id="s"/>\n'
        + fill
        + '<bpmn:userTask id="check" name="核对"><bpmn:extensionElements><spiffworkflow:properties>'
        '<spiffworkflow:property name="send_back_to" value="fill"/></spiffworkflow:properties>'
        "</bpmn:extensionElements></bpmn:userTask>\n"
        '<bpmn:endEvent id="e"/>\n'
        + hostile_bpmn._flows(("s", "fill", ""), ("fill", "check", ""), ("check", "e", "")),
        user_tasks=("fill", "check"),
    )


BACK_KEY = "probe_back"
PROBED_DEADLINE = "probe('5 working days')"
PROBED_WORDS = "5 working days"  # the task keeps the duration the expression gave, in words


@pytest.fixture()
def deadline_probe(monkeypatch) -> Iterator[Probe]:
    one = Probe()
    monkeypatch.setitem(expressions.SAFE_FUNCTIONS, "probe", one)
    yield one
    one.release.set()


def _at_check(session: Session) -> int:
    """A case of BACK_KEY whose fill is done and whose check is claimed by pt_officer."""
    officer = get_user(session, "pt_officer")
    case = instances.start(session, officer, BACK_KEY, STREET).id
    session.commit()
    tasks.complete(session, officer, open_task(session, case, "fill").id, {})
    tasks.claim(session, officer, open_task(session, case, "check").id)
    session.commit()
    return case


def _write_another_case_meanwhile(engine, probe: Probe, thread: threading.Thread, other_task: int) -> None:
    """While the operation is stopped inside an evaluation, claim a task of another case at once."""
    assert probe.inside.wait(120)
    writer = impatient(engine)
    try:
        tasks.claim(writer, get_user(writer, "pt_officer2"), other_task)
        writer.commit()
    finally:
        restore(writer)
    assert thread.is_alive() and not probe.release.is_set()  # the evaluation was still going on
    probe.release.set()
    thread.join(120)


def _deploy_back(session: Session, fill_deadline: str | None) -> None:
    definitions.deploy(
        session, _fill_then_check(BACK_KEY, fill_deadline), actor_id=get_user(session, "admin").id
    )
    session.commit()


def test_another_case_is_written_while_a_send_back_computes_the_reopened_step(
    engine, session, deadline_probe
):
    from engine.sendback import service as sendback

    _deploy_back(session, PROBED_DEADLINE)
    case, other = _at_check(session), _case_at_fill(session)
    check = open_task(session, case, "check").id
    thread, outcome = _stepper(
        engine, lambda s: sendback.send_back(s, get_user(s, "pt_officer"), check, "fill", "请补正")
    )
    _write_another_case_meanwhile(engine, deadline_probe, thread, other)
    assert outcome == ["ok"] and deadline_probe.calls == 1
    session.expire_all()
    assert session.get(HumanTask, other).state == TaskStatus.CLAIMED
    reopened = open_task(session, case, "fill")
    assert reopened.due_at is not None and reopened.assignee_id == get_user(session, "pt_officer").id


def _case_at_fill(session: Session) -> int:
    """Another case of BACK_KEY; its open fill task."""
    case = instances.start(session, get_user(session, "pt_officer"), BACK_KEY, STREET).id
    session.commit()
    return open_task(session, case, "fill").id


def test_another_case_is_written_while_a_move_back_computes_the_reopened_step(
    engine, session, deadline_probe
):
    from engine.instances import operations

    _deploy_back(session, PROBED_DEADLINE)
    case, other = _at_check(session), _case_at_fill(session)
    thread, outcome = _stepper(
        engine, lambda s: operations.move_back(s, get_user(s, "admin"), case, "fill", "重新填写")
    )
    _write_another_case_meanwhile(engine, deadline_probe, thread, other)
    assert outcome == ["ok"] and deadline_probe.calls == 1
    session.expire_all()
    assert session.get(HumanTask, other).state == TaskStatus.CLAIMED
    assert [t.bpmn_id for t in tasks.open_tasks_of(session, case)] == ["fill"]
    assert open_task(session, case, "fill").due_at is not None


def test_another_case_is_written_while_a_migration_computes_a_new_deadline(engine, session, deadline_probe):
    from engine.instances import operations

    _deploy_back(session, None)
    case = _case_at_fill(session)
    other = _case_at_fill(session)
    _deploy_back(session, PROBED_DEADLINE)  # version 2: fill gets a deadline computed from an expression
    case_id = session.get(HumanTask, case).instance_id
    thread, outcome = _stepper(
        engine, lambda s: operations.migrate(s, get_user(s, "admin"), case_id, 2, "新版期限")
    )
    _write_another_case_meanwhile(engine, deadline_probe, thread, other)
    assert outcome == ["ok"] and deadline_probe.calls == 1
    session.expire_all()
    assert session.get(HumanTask, other).state == TaskStatus.CLAIMED
    row = session.get(HumanTask, case)
    assert row.deadline == PROBED_WORDS and row.due_at is not None


@pytest.mark.skipif(IS_POSTGRES, reason="PostgreSQL holds the case's row lock while stepping: no race")
def test_a_change_to_the_case_during_a_send_back_makes_it_run_again(engine, session, deadline_probe):
    from engine.sendback import service as sendback

    _deploy_back(session, PROBED_DEADLINE)
    case = _at_check(session)
    check = open_task(session, case, "check").id
    thread, outcome = _stepper(
        engine, lambda s: sendback.send_back(s, get_user(s, "pt_officer"), check, "fill", "请补正")
    )
    assert deadline_probe.inside.wait(120)
    assert instances.lock(session, case).id == case  # the case changes (its lock: a write)
    session.commit()
    deadline_probe.release.set()
    thread.join(120)
    assert outcome == ["ok"] and deadline_probe.calls == 2  # read again, evaluated again, then written
    session.expire_all()
    assert [t.bpmn_id for t in tasks.open_tasks_of(session, case)] == ["fill"]
    actions = session.scalars(
        select(AuditEvent.action).where(AuditEvent.instance_id == case, AuditEvent.action == "task.sent_back")
    ).all()
    assert actions == ["task.sent_back"]  # written once


# --- data edit, resume, deadline change: no user expression, but the workflow is loaded before the lock --


class LoadProbe(Probe):
    """Stops the stepping thread the first time it loads a workflow (``runtime.load_state``)."""

    def __init__(self, load: Any) -> None:
        super().__init__()
        self.load = load

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        super().__call__(None)
        return self.load(*args, **kwargs)


@pytest.fixture()
def load_probe(monkeypatch, session) -> Iterator[LoadProbe]:
    from engine.bpmn import runtime

    _deploy_back(session, None)
    one = LoadProbe(runtime.load_state)
    monkeypatch.setattr(runtime, "load_state", one)
    yield one
    one.release.set()


def test_another_case_is_written_while_a_data_edit_loads_the_workflow(engine, session, load_probe):
    from engine.instances import operations

    fill, other = _case_at_fill(session), _case_at_fill(session)
    case = session.get(HumanTask, fill).instance_id
    thread, outcome = _stepper(
        engine,
        lambda s: operations.edit_data(s, get_user(s, "admin"), case, {"income": 1200}, [], "更正收入"),
    )
    _write_another_case_meanwhile(engine, load_probe, thread, other)
    assert outcome == ["ok"] and load_probe.calls == 1
    session.expire_all()
    assert session.get(HumanTask, other).state == TaskStatus.CLAIMED
    assert instances.get_visible(session, get_user(session, "admin"), case).data["income"] == 1200


def test_another_case_is_written_while_a_resume_loads_the_workflow(engine, session, load_probe):
    from engine.instances import operations
    from engine.instances.models import InstanceStatus

    fill, other = _case_at_fill(session), _case_at_fill(session)
    case = session.get(HumanTask, fill).instance_id
    operations.suspend(session, get_user(session, "admin"), case, "暂停核查")
    session.commit()
    thread, outcome = _stepper(engine, lambda s: operations.resume(s, get_user(s, "admin"), case, "核查完毕"))
    _write_another_case_meanwhile(engine, load_probe, thread, other)
    assert outcome == ["ok"] and load_probe.calls == 1
    session.expire_all()
    assert session.get(HumanTask, other).state == TaskStatus.CLAIMED
    assert instances.get_visible(session, get_user(session, "admin"), case).status == InstanceStatus.RUNNING


def test_another_case_is_written_while_a_deadline_change_loads_the_workflow(engine, session, load_probe):
    fill, other = _case_at_fill(session), _case_at_fill(session)
    thread, outcome = _stepper(
        engine,
        lambda s: tasks.change_deadline(
            s, get_user(s, "pt_head"), fill, reason="材料待补", extend_by="5 days"
        ),
    )
    _write_another_case_meanwhile(engine, load_probe, thread, other)
    assert outcome == ["ok"] and load_probe.calls == 1
    session.expire_all()
    assert session.get(HumanTask, other).state == TaskStatus.CLAIMED
    assert session.get(HumanTask, fill).due_at is not None


@pytest.mark.skipif(IS_POSTGRES, reason="PostgreSQL holds the case's row lock while stepping: no race")
def test_a_change_to_the_case_during_a_data_edit_makes_it_run_again(engine, session, load_probe):
    from engine.instances import operations

    fill = _case_at_fill(session)
    case = session.get(HumanTask, fill).instance_id
    thread, outcome = _stepper(
        engine, lambda s: operations.edit_data(s, get_user(s, "admin"), case, {"income": 900}, [], "更正收入")
    )
    assert load_probe.inside.wait(120)
    operations.edit_data(session, get_user(session, "admin"), case, {"income": 500, "note": "x"}, [], "先改")
    session.commit()
    load_probe.release.set()
    thread.join(120)
    assert outcome == ["ok"] and load_probe.calls == 2  # read again, loaded again, then written
    session.expire_all()
    data = instances.get_visible(session, get_user(session, "admin"), case).data
    assert data["income"] == 900 and data["note"] == "x"  # the first edit is kept, not overwritten
    edits = session.scalars(
        select(AuditEvent.details).where(
            AuditEvent.instance_id == case, AuditEvent.action == "instance.data_edited"
        )
    ).all()
    assert [e["before"].get("income") for e in edits] == [None, 500]


# --- a scheduled start: the start's steps run before the schedule row is claimed with a write ----------


def _scheduled_probe(engine, session, monkeypatch) -> tuple[Probe, Any, int]:
    """A daily timer-started procedure whose first step is ``y = probe(3)``; (probe, schedule, a task of
    another case to claim meanwhile)."""
    from engine.deadlines.models import StartSchedule

    probe = Probe()
    monkeypatch.setitem(expressions.SAFE_FUNCTIONS, "probe", probe)
    _deploy_back(session, None)
    other = _case_at_fill(session)
    with time_machine.travel(MONDAY, tick=False):
        xml = hostile_bpmn.timer_start_then_script("y = probe(3)", STREET, key="probe_scheduled")
        definition, _created = definitions.deploy(session, xml, actor_id=get_user(session, "admin").id)
        session.commit()
    schedule = session.scalars(
        select(StartSchedule).where(StartSchedule.definition_id == definition.id)
    ).one()
    return probe, schedule, other


def test_another_case_is_written_while_a_scheduled_start_runs_its_first_script(engine, session, monkeypatch):
    from engine.instances.models import ProcessInstance

    probe, schedule, other = _scheduled_probe(engine, session, monkeypatch)
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    done: list[Any] = []
    try:
        with time_machine.travel(schedule.next_run_at + dt.timedelta(minutes=1), tick=False):
            thread, outcome = _stepper(engine, lambda _s: done.extend(deadlines.run_due(factory)))
            _write_another_case_meanwhile(engine, probe, thread, other)
    finally:
        probe.release.set()
    assert outcome == ["ok"] and probe.calls == 1
    [started] = [r for r in done if r.started_by_schedule == schedule.id]
    session.expire_all()
    assert session.get(HumanTask, other).state == TaskStatus.CLAIMED
    instance = session.get(ProcessInstance, started.instance_id)
    assert instance.data["y"] == 3 and [t.bpmn_id for t in tasks.open_tasks_of(session, instance.id)] == [
        "fill"
    ]


@pytest.mark.skipif(IS_POSTGRES, reason="PostgreSQL skips a schedule row another worker holds: no race")
def test_a_schedule_run_meanwhile_is_not_run_twice(engine, session, monkeypatch):
    from engine.deadlines import schedules
    from engine.deadlines.models import StartSchedule

    probe, schedule, _other = _scheduled_probe(engine, session, monkeypatch)
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    done: list[Any] = []
    try:
        with time_machine.travel(schedule.next_run_at + dt.timedelta(minutes=1), tick=False):
            thread, outcome = _stepper(engine, lambda _s: done.extend(deadlines.run_due(factory)))
            assert probe.inside.wait(120)
            row = session.get(StartSchedule, schedule.id)  # another scheduler runs the occurrence first
            schedules.run(session, row)
            session.commit()
            probe.release.set()
            thread.join(120)
    finally:
        probe.release.set()
    assert outcome == ["ok"] and not [r for r in done if r.started_by_schedule == schedule.id]
    session.expire_all()
    assert session.get(StartSchedule, schedule.id).runs == 1  # one case for the occurrence, not two


# --- starting a case: its first deadline, and (the web's 新建申请) its first step completed at once ---------


def test_another_case_is_written_while_a_start_evaluates_the_first_deadline(engine, session, deadline_probe):
    _deploy_back(session, PROBED_DEADLINE)  # the first step's deadline: an expression
    other = _case_at_fill(session)
    thread, outcome = _stepper(
        engine, lambda s: instances.start(s, get_user(s, "pt_officer"), BACK_KEY, STREET)
    )
    _write_another_case_meanwhile(engine, deadline_probe, thread, other)
    assert outcome == ["ok"] and deadline_probe.calls == 1
    session.expire_all()
    assert session.get(HumanTask, other).state == TaskStatus.CLAIMED
    [started] = session.scalars(
        select(HumanTask).where(HumanTask.process_key == BACK_KEY, HumanTask.id != other)
    ).all()
    assert started.bpmn_id == "fill" and started.due_at is not None


def _started_with_first_step(session: Session) -> list[Any]:
    from engine.instances.models import ProcessInstance

    return list(session.scalars(select(ProcessInstance).where(ProcessInstance.process_key == KEY)))


def test_another_case_is_written_while_the_web_start_completes_the_first_step(engine, session, client, probe):
    """新建申请 of a procedure whose first step is followed by a script: the case is inserted, then the
    step runs. On SQLite the insert took the write lock and the script ran under it (main before)."""
    other = _case(session)
    other_fill = open_task(session, other, "fill").id
    web = Web(client.application.test_client()).login("pt_officer")
    web.get(f"/start/{KEY}")
    thread_client, token = web.client, web.token
    answers: list[Any] = []

    def post(_s: Session) -> None:
        response = thread_client.post(f"/start/{KEY}", data={"csrf_token": token, "org_unit": STREET})
        answers.append((response.status_code, response.headers.get("Location")))

    thread, outcome = _stepper(engine, post)
    _write_another_case_meanwhile(engine, probe, thread, other_fill)
    assert outcome == ["ok"] and probe.calls == 1
    [(status, location)] = answers
    assert status == 302 and "/cases/" in location
    case = int(location.rsplit("/", 1)[1])
    session.expire_all()
    assert session.get(HumanTask, other_fill).state == TaskStatus.CLAIMED
    assert [t.bpmn_id for t in tasks.open_tasks_of(session, case)] == ["after"]
    assert instances.get_visible(session, get_user(session, "admin"), case).data["y"] == 7
    assert len(_started_with_first_step(session)) == 2  # the other case and this one: an attempt left none
    started = session.scalars(
        select(AuditEvent.action).where(AuditEvent.instance_id == case).order_by(AuditEvent.id)
    ).all()
    assert started.count("instance.started") == 1 and started.count("task.completed") == 1


def test_a_start_with_its_first_step_writes_each_thing_once(engine, session, probe):
    """The operation (engine.cases) on its own: one case, its first step completed, the next step's data."""
    from engine.cases import service as cases

    officer = get_user(session, "pt_officer")
    thread, outcome = _stepper(
        engine, lambda s: cases.start_with_first_step(s, get_user(s, "pt_officer"), KEY, STREET, "fill", {})
    )
    assert probe.inside.wait(120)
    probe.release.set()
    thread.join(120)
    assert outcome == ["ok"] and probe.calls == 1
    session.expire_all()
    [case] = _started_with_first_step(session)
    assert case.started_by_id == officer.id and case.data["y"] == 7
    rows = session.scalars(select(HumanTask).where(HumanTask.instance_id == case.id).order_by(HumanTask.id))
    assert [(r.bpmn_id, r.state) for r in rows] == [
        ("fill", TaskStatus.COMPLETED),
        ("after", TaskStatus.READY),
    ]


def test_a_refused_first_step_keeps_nothing(session, probe):
    from engine.cases import service as cases
    from engine.errors import Invalid

    with pytest.raises(Invalid):  # fill has no form: data is refused
        cases.start_with_first_step(session, get_user(session, "pt_officer"), KEY, STREET, "fill", {"x": 1})
    session.rollback()
    assert _started_with_first_step(session) == [] and probe.calls == 0


# --- a batch migration: every case's new deadlines are worked out before the write lock ------------------


def _batch(s: Session) -> list[dict[str, Any]]:
    from engine.instances import operations

    return operations.migrate_batch(s, get_user(s, "admin"), BACK_KEY, 1, 2, "新版期限", dry_run=False)


def _two_cases_then_version_2(session: Session) -> tuple[list[int], int]:
    """Two cases at fill on version 1; version 2 gives fill a deadline computed by ``probe``; (the two
    cases' fill tasks, the fill task of a case already on version 2)."""
    _deploy_back(session, None)
    fills = [_case_at_fill(session), _case_at_fill(session)]
    _deploy_back(session, PROBED_DEADLINE)
    return fills, _case_at_fill(session)


def test_another_case_is_written_while_a_batch_migration_computes_new_deadlines(
    engine, session, deadline_probe
):
    fills, other = _two_cases_then_version_2(session)
    answer: list[Any] = []
    thread, outcome = _stepper(engine, lambda s: answer.extend(_batch(s)))
    _write_another_case_meanwhile(engine, deadline_probe, thread, other)
    assert outcome == ["ok"] and deadline_probe.calls == 2  # one deadline per case
    assert [a["migrated"] for a in answer] == [True, True]
    session.expire_all()
    assert session.get(HumanTask, other).state == TaskStatus.CLAIMED
    for fill in fills:
        row = session.get(HumanTask, fill)
        assert row.deadline == PROBED_WORDS and row.due_at is not None


@pytest.mark.skipif(IS_POSTGRES, reason="PostgreSQL holds the cases' row locks while migrating: no race")
def test_a_change_to_a_case_during_a_batch_migration_makes_it_run_again(engine, session, deadline_probe):
    fills, _other = _two_cases_then_version_2(session)
    answer: list[Any] = []
    thread, outcome = _stepper(engine, lambda s: answer.extend(_batch(s)))
    assert deadline_probe.inside.wait(120)
    tasks.claim(session, get_user(session, "pt_officer"), fills[0])  # the case being worked out changes
    session.commit()
    deadline_probe.release.set()
    thread.join(120)
    assert outcome == ["ok"] and deadline_probe.calls == 4  # the batch ran again from fresh reads
    assert [a["migrated"] for a in answer] == [True, True]
    session.expire_all()
    claimed = session.get(HumanTask, fills[0])
    assert claimed.state == TaskStatus.CLAIMED and claimed.assignee_id == get_user(session, "pt_officer").id
    assert claimed.deadline == PROBED_WORDS
    migrated = session.scalars(
        select(AuditEvent.instance_id).where(AuditEvent.action == "instance.migrated")
    ).all()
    assert sorted(migrated) == sorted(session.get(HumanTask, f).instance_id for f in fills)  # once each


def test_a_start_whose_first_step_has_a_rule_is_written_once(session, monkeypatch):
    """The street response's report: a rule of the step derives the warning level (data the rehearsal
    cannot know before the step runs under the lock): the operation runs again with it, writing once."""
    from engine.cases import service as cases
    from engine.instances import rehearsal
    from engine.instances.models import ProcessInstance

    refused: list[str] = []
    unrehearsed = rehearsal.Unrehearsed.__init__

    def noted(self: Any, key: Any, work: Any) -> None:
        refused.append(key[0])
        unrehearsed(self, key, work)

    monkeypatch.setattr(rehearsal.Unrehearsed, "__init__", noted)

    report = {
        "found_on": "2026-11-20",
        "location": "某路某号公交站",
        "source": "patrol",
        "danger_to_life": False,
        "extreme_weather": False,
        "vulnerable": ["elderly"],
        "description": "一名男子在公交站过夜",
    }
    case = cases.start_with_first_step(
        session, get_user(session, "pt_officer"), "street_response", STREET, "report", report
    )
    session.commit()
    assert case.data["warning_level"] == "orange"
    assert [t.bpmn_id for t in tasks.open_tasks_of(session, case.id)] == ["level2_response"]
    assert open_task(session, case.id, "level2_response").deadline == "6 hours"
    cases_of = session.scalars(
        select(ProcessInstance.id).where(ProcessInstance.process_key == "street_response")
    ).all()
    assert cases_of == [case.id]
    # SQLite: the form's rules, then the step with the derived level, were worked out with no lock held
    assert refused == ([] if IS_POSTGRES else ["form", "step"])


def test_another_case_is_written_while_an_api_start_evaluates_the_first_deadline(
    engine, session, client, login, deadline_probe
):
    _deploy_back(session, PROBED_DEADLINE)
    other = _case_at_fill(session)
    headers = login("pt_officer")
    answers: list[Any] = []

    def post(_s: Session) -> None:
        response = client.application.test_client().post(
            "/api/v1/process-instances", json={"process_key": BACK_KEY, "org_unit": STREET}, headers=headers
        )
        answers.append((response.status_code, response.get_json()))

    thread, outcome = _stepper(engine, post)
    _write_another_case_meanwhile(engine, deadline_probe, thread, other)
    assert outcome == ["ok"] and deadline_probe.calls == 1
    [(status, body)] = answers
    assert status == 201 and [t["bpmn_id"] for t in body["open_tasks"]] == ["fill"]
    assert body["open_tasks"][0]["due_at"] is not None
    session.expire_all()
    assert session.get(HumanTask, other).state == TaskStatus.CLAIMED


# --- a web start whose first step's procedure rule writes (starts another case) ------------------------


def test_another_case_is_written_while_a_start_whose_rule_started_a_case_runs_on(
    engine, session, probe, monkeypatch
):
    """The first step's rule starts a case (as the community-assistance application refers a project
    case): its INSERT takes the write lock before the step runs on. The start is rehearsed: the script
    after the step runs with no lock held, then everything is written once."""
    from engine import procedures
    from engine.cases import service as cases
    from engine.instances.models import ProcessInstance

    def refer(s: Session, instance: Any, row: Any, data: dict[str, Any]) -> dict[str, Any]:
        definition = definitions.get_version(s, KEY)
        child = instances.create(
            s, definition, instance.org_unit, actor_id=row.assignee_id, parent_id=instance.id, origin="rule"
        )
        return {"referred": child.id}

    other = _case(session)
    other_fill = open_task(session, other, "fill").id
    monkeypatch.setitem(procedures.BEFORE_COMPLETE, (KEY, "fill"), [refer])
    started: list[int] = []
    thread, outcome = _stepper(
        engine,
        lambda s: started.append(
            cases.start_with_first_step(s, get_user(s, "pt_officer"), KEY, STREET, "fill", {}).id
        ),
    )
    _write_another_case_meanwhile(engine, probe, thread, other_fill)
    assert outcome == ["ok"] and probe.calls == 1
    session.expire_all()
    assert session.get(HumanTask, other_fill).state == TaskStatus.CLAIMED
    case = started[-1]
    data = instances.get_visible(session, get_user(session, "admin"), case).data
    [child] = session.scalars(select(ProcessInstance).where(ProcessInstance.parent_id == case)).all()
    assert data["y"] == 7 and data["referred"] == child.id
    assert [t.bpmn_id for t in tasks.open_tasks_of(session, case)] == ["after"]
    assert [t.bpmn_id for t in tasks.open_tasks_of(session, child.id)] == ["fill"]
    assert len(_started_with_first_step(session)) == 3  # the other case, this one and its child


def _open_many(s: Session, instance: Any, row: Any, data: dict[str, Any]) -> dict[str, Any]:
    """A first step's rule starting more cases than a start's rehearsal can learn (one result each)."""
    from engine.instances import newcase, rehearsal

    definition = definitions.get_version(s, BACK_KEY)
    made = [
        newcase.start(
            s, newcase.prepare(s, definition, instance.org_unit, actor_id=None, parent_id=instance.id)
        )
        for _ in range(rehearsal.MAX_ATTEMPTS + 2)
    ]
    return {"made": made}


@pytest.fixture()
def opens_many(session, monkeypatch) -> None:
    from engine import procedures

    monkeypatch.setitem(procedures.BEFORE_COMPLETE, (KEY, "fill"), [_open_many])
    monkeypatch.setitem(expressions.SAFE_FUNCTIONS, "probe", lambda x: x)
    definitions.deploy(
        session,
        hostile_bpmn.script_after_fill("y = probe(7)", key=KEY),
        actor_id=get_user(session, "admin").id,
    )
    session.commit()


def _children_of_starts(session: Session) -> list[int]:
    from engine.instances.models import ProcessInstance

    session.expire_all()
    parents = select(ProcessInstance.id).where(ProcessInstance.process_key == KEY)
    return list(session.scalars(select(ProcessInstance.id).where(ProcessInstance.parent_id.in_(parents))))


def test_a_start_needing_more_rehearsals_than_attempts_is_refused_and_evaluates_nothing_under_the_lock(
    engine, session, lock_watch, opens_many
):
    """A first step whose rule starts more cases than the attempts can learn: refused (409) with nothing
    written, rather than a last attempt evaluating under the lock (before: its scripts and the new cases'
    first steps were evaluated while every other writer found the database locked)."""
    from engine.cases import service as cases
    from engine.instances import rehearsal

    thread, outcome = _stepper(
        engine, lambda s: cases.start_with_first_step(s, get_user(s, "pt_officer"), KEY, STREET, "fill", {})
    )
    thread.join(300)
    assert lock_watch.refused == []
    if IS_POSTGRES:  # row locks only: nothing is rehearsed, the start runs at once
        assert outcome == ["ok"] and len(_children_of_starts(session)) == rehearsal.MAX_ATTEMPTS + 2
        return
    assert outcome == [("conflict", rehearsal.TooMuchToRehearse().message)]
    assert _started_with_first_step(session) == [] and _children_of_starts(session) == []


@pytest.mark.skipif(IS_POSTGRES, reason="PostgreSQL does not rehearse: the start runs at once")
def test_a_web_start_with_too_much_to_rehearse_opens_the_case_and_its_first_step_is_submitted_on_its_own(
    engine, session, client, lock_watch, opens_many
):
    """The web start form, refused as above, opens the case with the form kept as its first task's draft;
    submitted from the task page, the step is an ordinary completion: its rule's cases are worked out in
    memory and written with the step, nothing evaluated under the lock."""
    from engine.instances import rehearsal

    web = Web(client.application.test_client()).login("pt_officer")
    web.get(f"/start/{KEY}")
    response = web.client.post(f"/start/{KEY}", data={"csrf_token": web.token, "org_unit": STREET})
    assert response.status_code == 302 and "/tasks/" in response.headers["Location"]
    fill = int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    [case] = _started_with_first_step(session)
    assert session.get(HumanTask, fill).instance_id == case.id and _children_of_starts(session) == []
    thread, outcome = _stepper(engine, lambda s: tasks.complete(s, get_user(s, "pt_officer"), fill, {}))
    thread.join(300)
    assert outcome == ["ok"] and lock_watch.refused == []
    children = _children_of_starts(session)
    assert len(children) == rehearsal.MAX_ATTEMPTS + 2
    data = instances.get_visible(session, get_user(session, "admin"), case.id).data
    assert sorted(data["made"]) == sorted(children) and data["y"] == 7
    assert [t.bpmn_id for t in tasks.open_tasks_of(session, case.id)] == ["after"]


# --- an ordinary completion whose procedure rule starts new cases ---------------------------------------
#
# The Bridge Plan's district confirmation opens one household case per family (each by the message its
# start event catches), the community-assistance application refers a project case, special care's
# period review opens the next period. Each new case is worked out in memory — its first steps, the
# message and the steps after it, its first deadlines — then the completed step's own scripts,
# conditions and next deadlines, and only then is anything written (engine.instances.newcase). Here every
# evaluation on the completing thread (each expression, script and deadline) first writes another case
# with no wait for any lock; before, everything after the first new case's INSERT found the database
# locked on SQLite.


@pytest.fixture()
def lock_watch(engine, session, monkeypatch) -> OtherCaseWriter:
    from engine.deadlines import sla

    _deploy_back(session, None)
    watch = OtherCaseWriter(engine, _case_at_fill(session), STEPPER)
    evaluate, execute_script, deadline_for = (
        expressions.evaluate,
        expressions.execute_script,
        sla.deadline_for,
    )

    def watched(fn: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            watch()
            return fn(*args, **kwargs)

        return call

    monkeypatch.setattr(expressions, "evaluate", watched(evaluate))
    monkeypatch.setattr(expressions, "execute_script", watched(execute_script))
    monkeypatch.setattr(sla, "deadline_for", watched(deadline_for))
    return watch


def _complete_on_the_stepper(engine, client, headers, task_id: int, data: dict[str, Any]) -> Any:
    """Complete a task through the REST API on the stepping thread; its answer."""
    answers: list[Any] = []

    def post(_s: Session) -> None:
        response = client.application.test_client().post(
            f"/api/v1/tasks/{task_id}/complete", json={"data": data}, headers=headers
        )
        answers.append((response.status_code, response.get_json()))

    thread, outcome = _stepper(engine, post)
    thread.join(300)
    assert outcome == ["ok"]
    [(status, body)] = answers
    assert status == 200, body
    return body


def _started_by(session: Session, parent: int, key: str) -> list[Any]:
    from engine.instances.models import ProcessInstance

    session.expire_all()
    return list(
        session.scalars(
            select(ProcessInstance)
            .where(ProcessInstance.parent_id == parent, ProcessInstance.process_key == key)
            .order_by(ProcessInstance.id)
        )
    )


def test_another_case_is_written_while_a_bridge_confirmation_works_out_twenty_household_cases(
    engine, session, client, login, june, lock_watch
):
    from tests.procedures.helpers import Project, lines

    project = Project(client, login, households=20)
    project.do("annual_list", "pt_agency_lead", project.annual_list(budget_lines=lines("100000.00")))
    task = project.task("district_confirmation")
    project.supply(task["id"], "pt_district")
    headers = login("pt_district")
    _complete_on_the_stepper(engine, client, headers, task["id"], {"decision": "approve", "opinion": "同意"})
    assert lock_watch.refused == []
    assert lock_watch.writes >= 20  # at least each household's first deadline, each with a write meanwhile
    households = _started_by(session, project.id, "bridge_plan_household")
    data = project.detail()["data"]
    assert len(households) == 20 and data["household_case_ids"] == [h.id for h in households]
    assert sorted(h.data["household_ref"] for h in households) == [f"PT-{i:03d}" for i in range(1, 21)]
    for case in households:  # each opened by its message and waiting at its first step, with a due time
        opened = tasks.open_tasks_of(session, case.id)
        assert opened and all(t.due_at is not None for t in opened)
        trail = session.scalars(
            select(AuditEvent.action).where(AuditEvent.instance_id == case.id).order_by(AuditEvent.id)
        ).all()
        assert trail[0] == "instance.started" and trail.count("message.received") == 1
    sent = session.scalars(
        select(AuditEvent.id).where(AuditEvent.instance_id == project.id, AuditEvent.action == "message.sent")
    ).all()
    assert len(sent) == 20
    assert session.get(HumanTask, lock_watch.other_task).state in (TaskStatus.CLAIMED, TaskStatus.READY)


def test_another_case_is_written_while_a_community_assistance_referral_works_out_the_project_case(
    engine, session, client, login, lock_watch
):
    from tests.procedures.cases import ApiCase
    from tests.procedures.helpers import KEY as CA
    from tests.procedures.helpers import STREET as CA_STREET
    from tests.procedures.helpers import application

    case = ApiCase(client, login, CA, CA_STREET, viewer="pt_head")
    task = case.task("application")
    case.supply(task["id"], "pt_advisor")
    data = application(assistance_form="project", aid_types=["services"], services_description="助餐服务")
    _complete_on_the_stepper(engine, client, login("pt_advisor"), task["id"], data)
    assert lock_watch.refused == [] and lock_watch.writes >= 2  # the project case's and the application's
    [project] = _started_by(session, case.id, "ca_project_assistance")
    assert case.detail()["data"]["project_case_id"] == project.id
    assert project.data["services_description"] == "助餐服务"
    assert [t.bpmn_id for t in tasks.open_tasks_of(session, project.id)] == ["project_research"]
    assert case.detail()["status"] == "completed"


def test_another_case_is_written_while_a_special_care_review_works_out_the_next_period(
    engine, session, client, lock_watch
):
    from tests.procedures.cases import ApiCase, fresh_token

    relog = lambda username: fresh_token(client, username)  # noqa: E731
    enrol = {
        "person_id_number": with_check_digit("99999919400101002"),  # area 999999: nobody's number
        "care_category": "elderly_alone",
        "care_reason": "独居高龄，行动不便",
        "address_note": "某小区某号楼",
    }
    with time_machine.travel(MONDAY, tick=False):
        case = ApiCase(client, relog, "special_care_visits", STREET, viewer="pt_head")
        case.do("enrolment", "pt_advisor", enrol)
    with time_machine.travel(dt.datetime(2026, 11, 9, 0, 1, tzinfo=cal.SHANGHAI), tick=False):
        deadlines.run_due(sessionmaker(bind=engine, expire_on_commit=False))
        visits = [
            {"visit_date": day, "visit_kind": "home_visit", "situation": "身体状况平稳"}
            for day in ("2026-11-03", "2026-11-05")
        ]
        case.do("weekly_visits", "pt_advisor", {"visits": visits, "continue_care": False})
        task = case.task("period_review")
        case.supply(task["id"], "pt_officer")
        review = {"period_summary": "情况稳定，继续关爱", "next_period": True}
        _complete_on_the_stepper(engine, client, relog("pt_officer"), task["id"], review)
    assert lock_watch.refused == [] and lock_watch.writes >= 1
    [following] = _started_by(session, case.id, "special_care_visits")
    assert case.detail()["data"]["next_period_case_id"] == following.id
    assert following.data["care_category"] == "elderly_alone"  # carried over from this period
    assert [t.bpmn_id for t in tasks.open_tasks_of(session, following.id)] == ["enrolment"]


@pytest.mark.skipif(IS_POSTGRES, reason="PostgreSQL writes a rule's new cases at once (row locks only)")
def test_a_case_started_meanwhile_makes_the_confirmation_run_again_with_fresh_ids(
    engine, session, client, login, june, monkeypatch
):
    """The household cases' ids are reserved while the lock is deferred: a case started by someone else
    between the read and the write takes one of them, so the confirmation runs again from a fresh read
    (nothing was written) and its cases get the next ids."""
    from engine.instances import newcase
    from tests.procedures.helpers import Project, lines

    _deploy_back(session, None)
    project = Project(client, login, households=2)
    project.do("annual_list", "pt_agency_lead", project.annual_list(budget_lines=lines("8000.00")))
    intruders: list[int] = []
    prepare = newcase.prepare

    def prepare_then_start_another(*args: Any, **kwargs: Any) -> Any:
        prepared = prepare(*args, **kwargs)
        if threading.current_thread().name == STEPPER and not intruders:
            intruders.append(0)  # (the start below prepares a case too)
            with Session(engine, expire_on_commit=False) as other:  # another user's start, committed
                intruders[0] = instances.start(other, get_user(other, "pt_officer"), BACK_KEY, STREET).id
                other.commit()
        return prepared

    monkeypatch.setattr(newcase, "prepare", prepare_then_start_another)
    task = project.task("district_confirmation")
    project.supply(task["id"], "pt_district")
    _complete_on_the_stepper(
        engine, client, login("pt_district"), task["id"], {"decision": "approve", "opinion": "同意"}
    )
    households = _started_by(session, project.id, "bridge_plan_household")
    assert len(intruders) == 1 and len(households) == 2
    assert all(h.id > intruders[0] for h in households)
    assert project.detail()["data"]["household_case_ids"] == [h.id for h in households]


@pytest.mark.skipif(
    IS_POSTGRES, reason="PostgreSQL writes a rule's new cases at once: the request's rollback undoes them"
)
def test_a_completion_refused_after_its_rule_prepared_a_case_keeps_nothing(session, monkeypatch):
    """A rule prepared a new case, a later rule refuses the step: the case is never written — also when
    the caller goes on in the same transaction without rolling back."""
    from engine import procedures
    from engine.errors import Invalid
    from engine.instances import newcase
    from engine.instances.models import ProcessInstance

    monkeypatch.setitem(expressions.SAFE_FUNCTIONS, "probe", lambda x: x)
    definitions.deploy(
        session,
        hostile_bpmn.script_after_fill("y = probe(7)", key=KEY),
        actor_id=get_user(session, "admin").id,
    )
    session.commit()
    first, second = _case(session), _case(session)

    def refer(s: Session, instance: Any, row: Any, data: dict[str, Any]) -> dict[str, Any]:
        prepared = newcase.prepare(
            s, definitions.get_version(s, KEY), instance.org_unit, actor_id=None, parent_id=instance.id
        )
        return {"referred": newcase.start(s, prepared)}

    def refuse_the_first(s: Session, instance: Any, row: Any, data: dict[str, Any]) -> None:
        if instance.id == first:
            raise Invalid.on("x", "refused")

    monkeypatch.setitem(procedures.BEFORE_COMPLETE, (KEY, "fill"), [refer, refuse_the_first])
    officer = get_user(session, "pt_officer")
    with pytest.raises(Invalid):
        tasks.complete(session, officer, open_task(session, first, "fill").id, {})
    tasks.complete(session, officer, open_task(session, second, "fill").id, {})  # no rollback between
    session.commit()
    children = session.scalars(select(ProcessInstance).where(ProcessInstance.parent_id.in_([first, second])))
    assert [c.parent_id for c in children] == [second]
    assert [t.bpmn_id for t in tasks.open_tasks_of(session, first)] == ["fill"]
    assert instances.get_visible(session, officer, second).data["referred"] == next(
        iter(session.scalars(select(ProcessInstance.id).where(ProcessInstance.parent_id == second)))
    )


# --- what a completion writes before its save: its step record, the ledger rows its rules count ---------
#
# A plain completion's first write is its step record; the next tasks' deadlines and whom each
# multi-instance task is for (``instance_label``, ``role_field``, ``assignee_field``) are worked out before
# it. A rule counting a payment or a service in the cross-project ledger reads at once (an item counted
# already is refused) and writes the row with the step (engine.procedures.counting); before, its INSERT
# took the write lock before the step after it was evaluated.


def test_another_case_is_written_while_a_completion_works_out_multi_instance_labels(
    engine, session, monkeypatch, lock_watch
):
    key = "probe_multi_instance"
    monkeypatch.setitem(expressions.SAFE_FUNCTIONS, "probe", lambda x: x)
    xml = hostile_bpmn.multi_instance_after_fill("probe(member)", "probe('5 working days')", key=key)
    definitions.deploy(session, xml, actor_id=get_user(session, "admin").id)
    session.commit()
    case = instances.start(session, get_user(session, "pt_officer"), key, STREET).id
    session.commit()
    fill = open_task(session, case, "fill").id
    thread, outcome = _stepper(engine, lambda s: tasks.complete(s, get_user(s, "pt_officer"), fill, {}))
    thread.join(120)
    assert outcome == ["ok"]
    assert lock_watch.refused == [] and lock_watch.writes >= 7  # the script, 3 deadlines, 3 labels
    session.expire_all()
    votes = tasks.open_tasks_of(session, case)
    assert sorted(t.name for t in votes) == ["表决（li）", "表决（wang）", "表决（zhang）"]
    assert all(t.bpmn_id == "vote" and t.deadline == PROBED_WORDS and t.due_at for t in votes)


def test_another_case_is_written_while_a_disbursement_is_counted_and_the_step_after_it_runs(
    engine, session, client, login, lock_watch
):
    from engine.ledger.models import ServiceRecord
    from tests.procedures.helpers import Case, approve, pay, review, to_review

    case = Case(client, login)
    to_review(case)
    case.do("democratic_review", "pt_panel", review())
    case.do("street_approval", "pt_head", approve())
    task = case.task("disbursement")
    case.supply(task["id"], "pt_finance")
    _complete_on_the_stepper(engine, client, login("pt_finance"), task["id"], pay())
    assert lock_watch.refused == [] and lock_watch.writes >= 1  # the conditions after the payment
    [counted] = session.scalars(select(ServiceRecord).where(ServiceRecord.instance_id == case.id)).all()
    assert counted.kind == "disbursement" and counted.task_id == task["id"]
    assert counted.project_ref == f"comprehensive_assistance:{case.id}"


def _household_at_case_work(client, login) -> Any:
    from tests.procedures.helpers import Project

    household = Project(client, login, households=1).confirm()[0]
    household.assess_and_plan()
    return household


SERVICE = {"action": "service", "happened_on": "2026-06-21", "content": "链接就业培训资源"}


def test_another_case_is_written_while_a_bridge_service_is_counted_and_the_step_after_it_runs(
    engine, session, client, login, june, lock_watch
):
    from engine.ledger.models import ServiceRecord

    household = _household_at_case_work(client, login)
    task = household.task("case_work")
    household.supply(task["id"], "pt_agency_worker")
    data = {**SERVICE, "service_item_ref": "JOB-2026-0042"}
    _complete_on_the_stepper(engine, client, login("pt_agency_worker"), task["id"], data)
    assert lock_watch.refused == [] and lock_watch.writes >= 2  # the count script, the conditions after it
    [counted] = session.scalars(select(ServiceRecord).where(ServiceRecord.item_ref == "JOB-2026-0042")).all()
    assert counted.instance_id == household.id and counted.task_id == task["id"]
    assert household.detail()["data"]["service_count"] == 1


@pytest.mark.skipif(IS_POSTGRES, reason="PostgreSQL writes the ledger row at once (its unique index waits)")
def test_an_item_counted_by_another_transaction_meanwhile_refuses_the_completion_and_writes_nothing(
    engine, session, client, login, june, monkeypatch
):
    """The item is not counted when the rule reads; another project counts it while the step after the
    rule is being evaluated: under the write lock the completion finds it, runs again from a fresh read
    and is refused like any duplicate (422 on the field); nothing of it is written."""
    from engine.instances.models import ProcessInstance
    from engine.ledger import service as ledger
    from engine.ledger.models import ServiceRecord
    from engine.records.models import StepRecord

    household = _household_at_case_work(client, login)
    task = household.task("case_work")
    household.supply(task["id"], "pt_agency_worker")
    other_project = session.scalars(
        select(ProcessInstance.id).where(ProcessInstance.process_key == "bridge_plan_project")
    ).first()
    counted: list[Any] = []
    execute_script = expressions.execute_script

    def count_meanwhile(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread().name == STEPPER and not counted:
            writer = impatient(engine)  # another project counts the item, refusing to wait for a lock
            try:
                project = writer.get(ProcessInstance, other_project)
                ledger.record(
                    writer,
                    kind="service",
                    instance=project,
                    project_ref="comprehensive_assistance:1",
                    household_id_number=None,
                    item_ref="JOB-2026-0043",
                )
                writer.commit()
                counted.append("ok")
            except Exception as err:  # "database is locked" before: kept for the assertion
                writer.rollback()
                counted.append(repr(err))
            finally:
                restore(writer)
        return execute_script(*args, **kwargs)

    monkeypatch.setattr(expressions, "execute_script", count_meanwhile)
    answers: list[Any] = []

    def post(_s: Session) -> None:
        response = client.application.test_client().post(
            f"/api/v1/tasks/{task['id']}/complete",
            json={"data": {**SERVICE, "service_item_ref": "JOB-2026-0043"}},
            headers=login("pt_agency_worker"),
        )
        answers.append((response.status_code, response.get_json()))

    thread, outcome = _stepper(engine, post)
    thread.join(120)
    assert outcome == ["ok"] and counted == ["ok"]
    [(status, body)] = answers
    assert status == 422, body
    assert "已计入其他民政项目" in body["fields"]["service_item_ref"][0]
    session.expire_all()
    rows = session.scalars(select(ServiceRecord).where(ServiceRecord.item_ref == "JOB-2026-0043")).all()
    assert [r.project_ref for r in rows] == ["comprehensive_assistance:1"]  # the other project's only
    assert session.scalars(select(ServiceRecord).where(ServiceRecord.instance_id == household.id)).all() == []
    assert session.get(HumanTask, task["id"]).state != TaskStatus.COMPLETED
    assert session.scalars(select(StepRecord).where(StepRecord.task_id == task["id"])).all() == []


def test_another_case_is_written_while_a_3a_service_is_counted_and_the_step_after_it_is_worked_out(
    engine, session, client, login, lock_watch
):
    from engine.ledger.models import ServiceRecord
    from tests.procedures.cases import ApiCase
    from tests.procedures.helpers import APPLICANT, service_org

    service_org(client, login, "org_social_work_a", ["pd_agency_lead", "pd_agency_worker"])
    case = ApiCase(
        client, login, "service_referral_3a", "310115004", starter="pd_advisor", viewer="pd_district"
    )
    needs = {
        "discovery_channel": "big_data",
        "applicant_id_number": APPLICANT,
        "needs_categories": ["employment", "skills"],
        "needs_description": "青年失业在家，希望参加技能培训后就业",
    }
    case.do("needs_discovery", "pd_advisor", needs)
    case.do(
        "assessment",
        "pd_officer",
        {"assessment_summary": "有就业意愿", "tier": "advancement", "urgent": False},
    )
    match = {"project": "skills_training", "resources": ["job_fair"], "service_org": "org_social_work_a"}
    case.do("matching", "pd_officer", match)
    case.do("referral", "pd_agency_lead", {"referral_decision": "accept", "planned_start": "2026-12-01"})
    task = case.task("service_delivery")
    case.supply(task["id"], "pd_agency_worker")
    delivered = {
        "sessions": 8,
        "service_summary": "完成8次技能培训并推荐2个岗位",
        "completed_on": "2027-01-20",
    }
    _complete_on_the_stepper(engine, client, login("pd_agency_worker"), task["id"], delivered)
    assert lock_watch.refused == [] and lock_watch.writes >= 1  # at least the scoring step's deadline
    [counted] = session.scalars(select(ServiceRecord).where(ServiceRecord.instance_id == case.id)).all()
    assert counted.kind == "service" and counted.task_id == task["id"]
    assert case.open() == ["scoring"]


# --- messages and signals to cases already waiting: worked out with the sender's step -------------------
# A step that throws a message or signal reaches the cases already waiting for it in its save. On SQLite
# each receiving case (its scripts and conditions, its new tasks' deadlines, the correlation keys) is now
# worked out while the sender's lock is still deferred and only written after the sender's step
# (engine.messages.ahead); before, all of it ran after the sender's first write, under the lock.

CATCHER, THROWER = "probe_catcher", "probe_thrower"


def _probe_on_stepper(monkeypatch) -> list[Any]:
    """``probe(x)`` gives ``x`` back; what it was given on the stepping thread is listed."""
    seen: list[Any] = []

    def probe(value: Any) -> Any:
        if threading.current_thread().name == STEPPER:
            seen.append(value)
        return value

    monkeypatch.setitem(expressions.SAFE_FUNCTIONS, "probe", probe)
    return seen


def _sender_and_receivers(session: Session, kind: str, receivers: int = 1) -> tuple[int, list[int]]:
    """Cases of CATCHER waiting for a message (keyed 'REF-ONE') or signal, and a case of THROWER at fill."""
    admin = get_user(session, "admin").id
    name = f"probe_{kind}"
    catcher = hostile_bpmn.catcher(kind, name, "y = probe(7)", PROBED_DEADLINE, key=CATCHER)
    definitions.deploy(session, catcher, actor_id=admin)
    definitions.deploy(session, hostile_bpmn.thrower(kind, name, key=THROWER), actor_id=admin)
    session.commit()
    officer = get_user(session, "pt_officer")
    waiting = [instances.start(session, officer, CATCHER, STREET).id for _ in range(receivers)]
    sender = instances.start(session, officer, THROWER, STREET).id
    session.commit()
    return sender, waiting


def _trail(session: Session, instance_id: int) -> list[Any]:
    return list(
        session.scalars(
            select(AuditEvent).where(AuditEvent.instance_id == instance_id).order_by(AuditEvent.id)
        )
    )


def _ran_on(session: Session, receiver: int) -> None:
    """The receiving case caught it once, ran its script and waits at its next task with a due time."""
    session.expire_all()
    assert instances.get_visible(session, get_user(session, "admin"), receiver).data["y"] == 7
    opened = {t.bpmn_id: t for t in tasks.open_tasks_of(session, receiver)}
    assert sorted(opened) == ["after", "note"] and opened["after"].due_at is not None
    assert opened["after"].deadline == PROBED_WORDS


def test_another_case_is_written_while_a_message_runs_on_the_case_waiting_for_it(
    engine, session, lock_watch, monkeypatch
):
    seen = _probe_on_stepper(monkeypatch)
    sender, [receiver] = _sender_and_receivers(session, "message")
    fill = open_task(session, sender, "fill").id
    thread, outcome = _stepper(engine, lambda s: tasks.complete(s, get_user(s, "pt_officer"), fill, {}))
    thread.join(120)
    assert outcome == ["ok"]
    assert lock_watch.refused == []
    assert seen == [7, PROBED_WORDS]  # the receiver's script and its new task's deadline, on this thread
    assert lock_watch.writes >= 3  # the sender's key, the receiver's script and deadline, each with a write
    _ran_on(session, receiver)
    actions = [e.action for e in _trail(session, receiver)]
    assert actions.count("message.received") == 1
    [sent] = [e for e in _trail(session, sender) if e.action == "message.sent"]
    assert sent.details["result"] == "delivered" and sent.details["to"] == receiver
    assert sent.details["correlation"] == "REF-ONE"
    assert instances.get_visible(session, get_user(session, "admin"), sender).status.value == "completed"


def test_another_case_is_written_while_a_signal_runs_on_the_cases_waiting_for_it(
    engine, session, lock_watch, monkeypatch
):
    seen = _probe_on_stepper(monkeypatch)
    sender, receivers = _sender_and_receivers(session, "signal", receivers=2)
    fill = open_task(session, sender, "fill").id
    thread, outcome = _stepper(engine, lambda s: tasks.complete(s, get_user(s, "pt_officer"), fill, {}))
    thread.join(120)
    assert outcome == ["ok"]
    assert lock_watch.refused == []
    assert seen == [7, PROBED_WORDS] * 2 and lock_watch.writes >= 4
    for receiver in receivers:
        _ran_on(session, receiver)
        assert [e.action for e in _trail(session, receiver)].count("signal.received") == 1
    [sent] = [e for e in _trail(session, sender) if e.action == "signal.sent"]
    assert sent.details["delivered"] == 2


@pytest.mark.skipif(IS_POSTGRES, reason="PostgreSQL holds the cases' row locks while stepping: no race")
def test_a_change_to_the_waiting_case_meanwhile_makes_the_sending_step_run_again(
    engine, session, deadline_probe
):
    """The receiving case was read with a deferred lock: changed between the read and the write (a task
    of its own claimed), the sender's completion runs again from a fresh read; both changes are kept."""
    sender, [receiver] = _sender_and_receivers(session, "message")
    fill = open_task(session, sender, "fill").id
    note = open_task(session, receiver, "note").id
    thread, outcome = _stepper(engine, lambda s: tasks.complete(s, get_user(s, "pt_officer"), fill, {}))
    _claim_in_the_receiving_case_meanwhile(engine, deadline_probe, note)
    thread.join(120)
    assert outcome == ["ok"]
    assert deadline_probe.calls == 4  # script and deadline, worked out again after a fresh read
    _ran_on(session, receiver)
    row = session.get(HumanTask, note)
    assert row.state == TaskStatus.CLAIMED and row.assignee_id == get_user(session, "pt_officer2").id
    actions = [e.action for e in _trail(session, receiver)]
    assert actions.count("message.received") == 1 and actions.count("task.claimed") == 1
    assert [e.action for e in _trail(session, sender)].count("message.sent") == 1


def test_another_case_is_written_while_a_bridge_transfer_and_closure_reach_the_waiting_projects(
    engine, session, client, login, june, lock_watch
):
    """The household's transfer acceptance tells the project it leaves (waiting in its receive loop;
    the project counts the closure in a script), its closure tells the project it joined: both projects
    run on with no write lock held while they are worked out."""
    from tests.procedures.helpers import PUDONG, Project

    putuo = Project(client, login, households=2)
    moving = putuo.confirm()[0]
    pudong = Project(client, login, where=PUDONG, households=1, prefix="PD")
    pudong.confirm()
    moving.assess_and_plan()
    moving.record()
    moving.record("transfer")
    moving.do("transfer", "pt_district", {"target_street": "310115004", "reason": "人户分离，实际居住浦东"})
    moving.do(
        "transfer_coordination", "city", {"coordination_decision": "coordinate", "opinion": "请浦东新区接收"}
    )
    task = moving.task("transfer_acceptance")
    moving.supply(task["id"], "pd_district_officer")
    decision = {"receiving_decision": "accept", "opinion": "同意接收"}
    _complete_on_the_stepper(engine, client, login("pd_district_officer"), task["id"], decision)
    assert lock_watch.refused == []
    assert lock_watch.writes >= 1  # the project's count of closed cases, with a write meanwhile
    assert moving.detail()["org_unit"] == "310115004" and moving.open() == ["case_work"]
    received = [e for e in _trail(session, putuo.id) if e.action == "message.received"]
    assert [e.details["from"] for e in received] == [moving.id]
    trail = [e.action for e in _trail(session, moving.id)]
    assert trail.count("message.sent") == 1 and trail.count("case.transferred") == 1
    assert trail.index("message.sent") < trail.index("case.transferred")  # the order as before

    moving.where = PUDONG
    for _ in range(4):
        moving.record()
    moving.record("close")
    task = moving.task("closure")
    moving.supply(task["id"], "pd_agency_lead")
    before = lock_watch.writes
    summary = {"post_test_score": 70, "summary": "在居住地完成服务"}
    _complete_on_the_stepper(engine, client, login("pd_agency_lead"), task["id"], summary)
    assert lock_watch.refused == [] and lock_watch.writes > before
    assert moving.detail()["status"] == "completed"
    received = [e for e in _trail(session, pudong.id) if e.action == "message.received"]
    assert moving.id in [e.details["from"] for e in received]


def test_another_case_is_written_while_a_case_a_rule_started_reaches_a_waiting_case(
    engine, session, lock_watch, monkeypatch
):
    """A rule of the step starts a case (kept for after the step: engine.instances.newcase) that throws a
    message as it starts: the case waiting for it is worked out before the write lock too."""
    from engine import procedures
    from engine.instances import newcase

    seen = _probe_on_stepper(monkeypatch)
    _unused, [receiver] = _sender_and_receivers(session, "message")  # (that sender is not completed)
    admin = get_user(session, "admin").id
    definitions.deploy(session, hostile_bpmn.script_after_fill("z = 1", key=KEY), actor_id=admin)
    first = hostile_bpmn.thrower("message", "probe_message", key="probe_first_thrower", first=True)
    definitions.deploy(session, first, actor_id=admin)
    session.commit()

    def refer(s: Session, instance: Any, row: Any, data: dict[str, Any]) -> dict[str, Any]:
        definition = definitions.get_version(s, "probe_first_thrower")
        prepared = newcase.prepare(s, definition, instance.org_unit, actor_id=None, parent_id=instance.id)
        return {"referred": newcase.start(s, prepared)}

    monkeypatch.setitem(procedures.BEFORE_COMPLETE, (KEY, "fill"), [refer])
    case = _case(session)
    fill = open_task(session, case, "fill").id
    thread, outcome = _stepper(engine, lambda s: tasks.complete(s, get_user(s, "pt_officer"), fill, {}))
    thread.join(120)
    assert outcome == ["ok"]
    assert lock_watch.refused == []
    assert seen == [7, PROBED_WORDS]
    _ran_on(session, receiver)
    referred = instances.get_visible(session, get_user(session, "admin"), case).data["referred"]
    [received] = [e for e in _trail(session, receiver) if e.action == "message.received"]
    assert received.details["from"] == referred
    [sent] = [e for e in _trail(session, referred) if e.action == "message.sent"]
    assert sent.details["to"] == receiver


def test_another_case_is_written_while_a_completion_works_out_its_next_deadline(
    engine, session, lock_watch, monkeypatch
):
    """The step's record is the completion's first write: its next task's ``deadline`` expression (and
    what it throws) is worked out before it."""
    seen = _probe_on_stepper(monkeypatch)
    after = (
        '<bpmn:userTask id="after" name="之后"><bpmn:extensionElements><spiffworkflow:properties>'
        f'<spiffworkflow:property name="deadline" value="{PROBED_DEADLINE}"/></spiffworkflow:properties>'
        "</bpmn:extensionElements></bpmn:userTask>\n"
    )
    xml = hostile_bpmn.process(
        KEY,
        '<bpmn:startEvent id="s"/>\n<bpmn:userTask id="fill" name="填写"/>\n'
        + after
        + '<bpmn:endEvent id="e"/>\n'
        + hostile_bpmn._flows(("s", "fill", ""), ("fill", "after", ""), ("after", "e", "")),
        user_tasks=("fill", "after"),
    )
    definitions.deploy(session, xml, actor_id=get_user(session, "admin").id)
    session.commit()
    case = _case(session)
    fill = open_task(session, case, "fill").id
    thread, outcome = _stepper(engine, lambda s: tasks.complete(s, get_user(s, "pt_officer"), fill, {}))
    thread.join(120)
    assert outcome == ["ok"]
    assert lock_watch.refused == [] and seen == [PROBED_WORDS]
    session.expire_all()
    [row] = tasks.open_tasks_of(session, case)
    assert row.bpmn_id == "after" and row.deadline == PROBED_WORDS and row.due_at is not None


def test_another_case_is_written_while_a_timer_wake_up_reaches_a_waiting_case(
    engine, session, lock_watch, monkeypatch
):
    """The scheduler fires a timer into a step that throws a message to a case waiting for it: the
    waiting case is worked out before the write lock too (the wake-up goes through the same save)."""
    seen = _probe_on_stepper(monkeypatch)
    with time_machine.travel(MONDAY, tick=False):
        _unused, [receiver] = _sender_and_receivers(session, "message")
        xml = hostile_bpmn.thrower("message", "probe_message", key="probe_timer_thrower", timer=True)
        definitions.deploy(session, xml, actor_id=get_user(session, "admin").id)
        session.commit()
        officer = get_user(session, "pt_officer")
        sender = instances.start(session, officer, "probe_timer_thrower", STREET).id
        session.commit()
        tasks.complete(session, officer, open_task(session, sender, "fill").id, {})
        session.commit()
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    with time_machine.travel(MONDAY + dt.timedelta(minutes=61), tick=False):
        thread, outcome = _stepper(engine, lambda _s: deadlines.run_due(factory))
        thread.join(120)
    assert outcome == ["ok"]
    assert lock_watch.refused == [] and seen == [7, PROBED_WORDS]
    _ran_on(session, receiver)
    [received] = [e for e in _trail(session, receiver) if e.action == "message.received"]
    assert received.details["from"] == sender


# --- messages and signals from outside any case: an admin's POST /api/v1/messages, the buffer sweep ------
# They begin with nothing written: on SQLite the cases they reach are worked out first (their locks
# deferred, engine.messages.ahead.outside) and the operation runs again if one changed meanwhile.


def _post_on_the_stepper(engine, client, headers, url: str, body: dict[str, Any]) -> Any:
    """POST through the REST API on the stepping thread; its answer."""
    answers: list[Any] = []

    def post(_s: Session) -> None:
        response = client.application.test_client().post(url, json=body, headers=headers)
        answers.append((response.status_code, response.get_json()))

    thread, outcome = _stepper(engine, post)
    thread.join(300)
    assert outcome == ["ok"]
    [(status, answer)] = answers
    assert status == 200, answer
    return answer


def test_another_case_is_written_while_an_admins_message_runs_on_the_case_waiting_for_it(
    engine, session, client, login, lock_watch, monkeypatch
):
    seen = _probe_on_stepper(monkeypatch)
    _unused, [receiver] = _sender_and_receivers(session, "message")
    body = {"name": "probe_message", "correlation": "REF-ONE", "payload": {"n": 1}}
    answer = _post_on_the_stepper(engine, client, login("admin"), "/api/v1/messages", body)
    assert answer["result"] == "delivered" and answer["delivered"] == [receiver]
    assert lock_watch.refused == []
    assert seen == [7, PROBED_WORDS] and lock_watch.writes >= 2  # the receiver's script and deadline
    _ran_on(session, receiver)
    [received] = [e for e in _trail(session, receiver) if e.action == "message.received"]
    assert received.details["from"] is None and received.details["correlation"] == "REF-ONE"


def test_another_case_is_written_while_an_admins_signal_runs_on_the_cases_waiting_for_it(
    engine, session, client, login, lock_watch, monkeypatch
):
    seen = _probe_on_stepper(monkeypatch)
    _unused, receivers = _sender_and_receivers(session, "signal", receivers=2)
    body = {"name": "probe_signal", "kind": "signal"}
    answer = _post_on_the_stepper(engine, client, login("admin"), "/api/v1/messages", body)
    assert answer["result"] == "broadcast" and sorted(answer["delivered"]) == receivers
    assert lock_watch.refused == []
    assert seen == [7, PROBED_WORDS] * 2 and lock_watch.writes >= 4
    for receiver in receivers:
        _ran_on(session, receiver)
        assert [e.action for e in _trail(session, receiver)].count("signal.received") == 1


def _kept_for_a_suspended_case(session: Session) -> int:
    """A case of CATCHER suspended when its message came (kept in the buffer), resumed since."""
    from engine.instances import lifecycle
    from engine.messages import service as messages

    _unused, [receiver] = _sender_and_receivers(session, "message")
    admin = get_user(session, "admin")
    lifecycle.suspend(session, admin, receiver, "暂停")
    session.commit()
    assert messages.send(session, "probe_message", "REF-ONE", {"n": 1}).result == "buffered"
    session.commit()
    lifecycle.resume(session, admin, receiver, "恢复")
    session.commit()
    return receiver


def test_another_case_is_written_while_the_buffer_sweep_runs_on_the_case_waiting_again(
    engine, session, lock_watch, monkeypatch
):
    from engine.messages import service as messages
    from engine.messages.models import BufferedMessage

    seen = _probe_on_stepper(monkeypatch)
    receiver = _kept_for_a_suspended_case(session)
    counts: list[Any] = []
    thread, outcome = _stepper(engine, lambda s: counts.append(messages.sweep(s)))
    thread.join(120)
    assert outcome == ["ok"] and counts == [{"expired": 0, "delivered": 1}]
    assert lock_watch.refused == []
    assert seen == [7, PROBED_WORDS] and lock_watch.writes >= 2
    _ran_on(session, receiver)
    assert session.scalars(select(BufferedMessage)).all() == []
    assert [e.action for e in _trail(session, receiver)].count("message.received") == 1


@pytest.mark.skipif(IS_POSTGRES, reason="PostgreSQL holds the cases' row locks while delivering: no race")
def test_a_change_to_the_waiting_case_during_the_sweep_makes_it_run_again(engine, session, deadline_probe):
    from engine.messages import service as messages

    receiver = _kept_for_a_suspended_case(session)
    note = open_task(session, receiver, "note").id
    counts: list[Any] = []
    thread, outcome = _stepper(engine, lambda s: counts.append(messages.sweep(s)))
    _claim_in_the_receiving_case_meanwhile(engine, deadline_probe, note)
    thread.join(120)
    assert outcome == ["ok"] and counts[-1] == {"expired": 0, "delivered": 1}
    assert deadline_probe.calls == 4  # script and deadline, worked out again after a fresh read
    _ran_on(session, receiver)
    row = session.get(HumanTask, note)
    assert row.state == TaskStatus.CLAIMED and row.assignee_id == get_user(session, "pt_officer2").id
    assert [e.action for e in _trail(session, receiver)].count("message.received") == 1


@pytest.mark.skipif(IS_POSTGRES, reason="PostgreSQL holds the cases' row locks while delivering: no race")
def test_a_change_to_the_waiting_case_during_an_admins_message_makes_it_run_again(
    engine, session, deadline_probe
):
    from engine.messages import service as messages

    _unused, [receiver] = _sender_and_receivers(session, "message")
    note = open_task(session, receiver, "note").id
    results: list[Any] = []

    def send(s: Session) -> None:
        results.append(messages.send_as(s, get_user(s, "admin"), "probe_message", "REF-ONE", {"n": 1}))

    thread, outcome = _stepper(engine, send)
    _claim_in_the_receiving_case_meanwhile(engine, deadline_probe, note)
    thread.join(120)
    assert outcome == ["ok"] and results[-1].delivered == [receiver]
    assert deadline_probe.calls == 4  # script and deadline, worked out again after a fresh read
    _ran_on(session, receiver)
    row = session.get(HumanTask, note)
    assert row.state == TaskStatus.CLAIMED and row.assignee_id == get_user(session, "pt_officer2").id
    assert [e.action for e in _trail(session, receiver)].count("message.received") == 1


# --- a message no waiting case catches, which starts a case by its message start event ------------------
# The new case (its script after the start, its first task's deadline) is prepared before the sender's
# first write (engine.messages.starts) and written at the delivery, after the sender's save, as before.


def _starter_deployed(session: Session) -> None:
    xml = hostile_bpmn.message_started("probe_message", "y = probe(7)", PROBED_DEADLINE)
    definitions.deploy(session, xml, actor_id=get_user(session, "admin").id)
    definitions.deploy(
        session, hostile_bpmn.thrower("message", "probe_message"), actor_id=get_user(session, "admin").id
    )
    session.commit()


def _started_ran(session: Session, started: int, sender: int | None) -> None:
    session.expire_all()
    case = instances.get_visible(session, get_user(session, "admin"), started)
    assert case.process_key == "probe_started" and case.data["y"] == 7 and case.parent_id == sender
    [row] = tasks.open_tasks_of(session, started)
    assert row.bpmn_id == "after" and row.deadline == PROBED_WORDS and row.due_at is not None
    [received] = [e for e in _trail(session, started) if e.action == "message.received"]
    assert received.details["from"] == sender and received.details["correlation"] == "REF-ONE"


def test_another_case_is_written_while_a_thrown_message_prepares_the_case_it_starts(
    engine, session, lock_watch, monkeypatch
):
    seen = _probe_on_stepper(monkeypatch)
    _starter_deployed(session)
    sender = instances.start(session, get_user(session, "pt_officer"), THROWER, STREET).id
    session.commit()
    fill = open_task(session, sender, "fill").id
    thread, outcome = _stepper(engine, lambda s: tasks.complete(s, get_user(s, "pt_officer"), fill, {}))
    thread.join(120)
    assert outcome == ["ok"]
    assert lock_watch.refused == []
    assert seen == [7, PROBED_WORDS] and lock_watch.writes >= 3  # the sender's key, the script, the deadline
    [sent] = [e for e in _trail(session, sender) if e.action == "message.sent"]
    assert sent.details["result"] == "started"
    [started] = sent.details["started"]
    _started_ran(session, started, sender)
    from engine.instances.models import ProcessInstance

    assert session.get(ProcessInstance, started).started_by_id == get_user(session, "pt_officer").id


def test_another_case_is_written_while_an_admins_message_prepares_the_case_it_starts(
    engine, session, client, login, lock_watch, monkeypatch
):
    """A case waits for the message but is suspended: its lock (a write on SQLite) came before the new
    case was prepared."""
    from engine.instances import lifecycle

    seen = _probe_on_stepper(monkeypatch)
    _unused, [suspended] = _sender_and_receivers(session, "message")
    lifecycle.suspend(session, get_user(session, "admin"), suspended, "暂停")
    _starter_deployed(session)
    body = {"name": "probe_message", "correlation": "REF-ONE", "payload": {"n": 1}, "org_unit": STREET}
    answer = _post_on_the_stepper(engine, client, login("admin"), "/api/v1/messages", body)
    assert answer["result"] == "started"
    assert lock_watch.refused == []
    assert seen == [7, PROBED_WORDS] and lock_watch.writes >= 2
    [started] = answer["started"]
    _started_ran(session, started, None)


# --- a kept (buffered) message handed to a catch that starts waiting in the completing step -------------


def test_another_case_is_written_while_a_kept_message_runs_on_the_case_that_starts_waiting_for_it(
    engine, session, lock_watch, monkeypatch
):
    """A message kept in the buffer before any case waited for it; completing a case's first task makes
    it wait for that message: the case runs on with it (script, next deadline) before the first write."""
    from engine.messages import service as messages
    from engine.messages.models import BufferedMessage

    seen = _probe_on_stepper(monkeypatch)
    xml = hostile_bpmn.catcher_after_fill("probe_message", "y = probe(7)", PROBED_DEADLINE)
    definitions.deploy(session, xml, actor_id=get_user(session, "admin").id)
    session.commit()
    assert messages.send(session, "probe_message", "REF-ONE", {"n": 1}).result == "buffered"
    case = instances.start(session, get_user(session, "pt_officer"), "probe_late_catcher", STREET).id
    session.commit()
    fill = open_task(session, case, "fill").id
    thread, outcome = _stepper(engine, lambda s: tasks.complete(s, get_user(s, "pt_officer"), fill, {}))
    thread.join(120)
    assert outcome == ["ok"]
    assert lock_watch.refused == []
    assert seen == [7, PROBED_WORDS] and lock_watch.writes >= 2
    session.expire_all()
    assert instances.get_visible(session, get_user(session, "admin"), case).data["y"] == 7
    [row] = tasks.open_tasks_of(session, case)
    assert row.bpmn_id == "after" and row.deadline == PROBED_WORDS and row.due_at is not None
    assert session.scalars(select(BufferedMessage)).all() == []
    assert [e.action for e in _trail(session, case)].count("message.received") == 1
