"""Every evaluation of a stepping operation is gated (issue 18 item 10, third pass).

``engine.instances.rehearsal.stepping`` puts a gate before every user expression and script a
completion, a timer wake-up, an incident retry, a send back … evaluates. On SQLite, an evaluation
reached while the transaction already holds the database's write lock (a delivery not worked out
ahead, a rule that wrote at once) stops the attempt: it is rolled back, the evaluation is done with no
lock held, and the operation runs again, finding the result it needs. Here, at every evaluation that
really runs on the stepping thread, another case's task is claimed or unclaimed by a session that
refuses to wait for any lock (busy timeout 0 / lock timeout 1 ms): each scenario below found the
database locked before. On PostgreSQL row locks hold only the cases stepped: nothing is learned.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from engine import expressions, procedures
from engine.audit.models import AuditEvent
from engine.deadlines import calendar as cal
from engine.deadlines import service as deadlines
from engine.definitions import service as definitions
from engine.errors import Conflict
from engine.incidents import rerun
from engine.incidents.service import IncidentOpened
from engine.instances import data_edit, rehearsal
from engine.instances import service as instances
from engine.instances.models import ProcessInstance
from engine.messages import service as messages
from engine.messages.models import BufferedMessage
from engine.orgs import service as orgs
from engine.tasks import service as tasks
from engine.tasks.models import HumanTask, TaskStatus
from tests import hostile_bpmn
from tests.conftest import IS_POSTGRES, get_user
from tests.factories import STREET, open_task
from tests.lock_watch import OtherCaseWriter

STEPPER = "stepper"
DEADLINE = "probe('5 working days')"
WORDS = "5 working days"  # the task keeps the duration the expression gave, in words
MONDAY = dt.datetime(2026, 11, 2, 10, 0, tzinfo=cal.SHANGHAI)


class Watch(OtherCaseWriter):
    """At every evaluation that runs on the stepping thread: ``probe(x)`` values are listed, another
    case's task is claimed or unclaimed at once; a write refused (the lock was held) is kept, with where."""

    def __init__(self, engine: Any, other_task: int) -> None:
        super().__init__(engine, other_task, STEPPER)
        self.seen: list[Any] = []
        self.learned: list[str] = []  # the texts of the evaluations learned before the lock, in order

    def probe(self, value: Any) -> Any:
        if threading.current_thread().name == STEPPER:
            self.seen.append(value)
        return value


@pytest.fixture()
def watch(engine, session, monkeypatch) -> Iterator[Watch]:
    admin = get_user(session, "admin").id
    definitions.deploy(session, hostile_bpmn.script_after_fill("y = 1", key="gate_other"), actor_id=admin)
    session.commit()
    other = instances.start(session, get_user(session, "pt_officer"), "gate_other", STREET)
    session.commit()
    one = Watch(engine, open_task(session, other.id, "fill").id)
    evaluate, execute_script, learn = expressions._evaluate, expressions._execute_script, rehearsal._learn

    def evaluated(*args: Any) -> Any:
        one()
        return evaluate(*args)

    def executed(*args: Any) -> Any:
        one()
        return execute_script(*args)

    def learned(missing: Any) -> Any:
        one.learned.append(missing.key[1])
        return learn(missing)

    monkeypatch.setattr(expressions, "_evaluate", evaluated)
    monkeypatch.setattr(expressions, "_execute_script", executed)
    monkeypatch.setattr(rehearsal, "_learn", learned)
    monkeypatch.setitem(expressions.SAFE_FUNCTIONS, "probe", one.probe)
    yield one


def _on_the_stepper(engine, job) -> list[Any]:
    """Run ``job(session)`` and commit on the stepping thread; its outcome."""
    outcome: list[Any] = []

    def run() -> None:
        with Session(engine, expire_on_commit=False) as s:
            try:
                outcome.append(job(s))
                s.commit()
            except Conflict as err:
                if getattr(err, "commit", False):
                    s.commit()
                else:
                    s.rollback()
                outcome.append(err)
            except Exception as err:  # shown by the assertion
                s.rollback()
                outcome.append(("error", repr(err)))

    thread = threading.Thread(target=run, name=STEPPER, daemon=True)
    thread.start()
    thread.join(300)
    assert not thread.is_alive()
    return outcome


def _deploy(session: Session, *xmls: bytes) -> None:
    admin = get_user(session, "admin").id
    for xml in xmls:
        definitions.deploy(session, xml, actor_id=admin)
    session.commit()


def _start(session: Session, key: str) -> int:
    instance = instances.start(session, get_user(session, "pt_officer"), key, STREET)
    session.commit()
    return instance.id


def _complete_fill(instance_id: int) -> Any:
    return lambda s: tasks.complete(s, get_user(s, "pt_officer"), open_task(s, instance_id, "fill").id, {})


def _data(session: Session, instance_id: int) -> dict[str, Any]:
    session.expire_all()
    return instances.get_visible(session, get_user(session, "admin"), instance_id).data


def _open(session: Session, instance_id: int) -> dict[str, HumanTask]:
    return {t.bpmn_id: t for t in tasks.open_tasks_of(session, instance_id)}


def _held(watch: Watch, *, learned: bool) -> None:
    """Nothing waited for a lock; on SQLite the scenario did reach an evaluation under the write lock
    (learned before it instead: the scenario is the one that found the database locked before)."""
    assert watch.refused == []
    assert watch.writes >= 1
    if IS_POSTGRES:
        assert watch.learned == []  # row locks: nothing is ever learned
    elif learned:
        assert watch.learned


def test_a_reply_to_the_sender_is_evaluated_without_the_write_lock(engine, session, watch):
    _deploy(
        session,
        hostile_bpmn.asker("gate_ask", "gate_reply", "z = probe(3)", DEADLINE, key="gate_asker"),
        hostile_bpmn.answerer("gate_ask", "gate_reply", "y = probe(7)", key="gate_answerer"),
    )
    answering, asking = _start(session, "gate_answerer"), _start(session, "gate_asker")
    outcome = _on_the_stepper(engine, _complete_fill(asking))
    assert len(outcome) == 1 and isinstance(outcome[0], HumanTask), outcome
    _held(watch, learned=True)
    assert set(watch.seen) == {3, 7, WORDS}  # (what ran before the lock runs again on each attempt)
    assert _data(session, answering)["y"] == 7 and sorted(_open(session, answering)) == ["note"]
    assert _data(session, asking)["z"] == 3
    opened = _open(session, asking)
    assert sorted(opened) == ["after"] and opened["after"].deadline == WORDS and opened["after"].due_at


def test_what_a_case_started_by_a_message_throws_is_evaluated_without_the_write_lock(engine, session, watch):
    _deploy(
        session,
        hostile_bpmn.thrower("message", "gate_kick", key="gate_kicker"),
        hostile_bpmn.started_then_throws("gate_kick", "gate_ping", "x = probe(5)", key="gate_relay"),
        hostile_bpmn.catcher("message", "gate_ping", "y = probe(7)", DEADLINE, key="gate_pinged"),
    )
    receiving, kicking = _start(session, "gate_pinged"), _start(session, "gate_kicker")
    outcome = _on_the_stepper(engine, _complete_fill(kicking))
    assert len(outcome) == 1 and isinstance(outcome[0], HumanTask), outcome
    _held(watch, learned=True)
    [relay] = session.scalars(select(ProcessInstance).where(ProcessInstance.process_key == "gate_relay"))
    assert _data(session, relay.id)["x"] == 5 and sorted(_open(session, relay.id)) == ["note"]
    assert _data(session, receiving)["y"] == 7
    assert sorted(_open(session, receiving)) == ["after", "note"]
    assert _open(session, receiving)["after"].deadline == WORDS


def test_a_timer_wake_up_starting_a_wait_takes_the_kept_message_without_the_write_lock(
    engine, session, watch
):
    """The wake-up's new catch computes its key (an expression) and is handed a message kept before."""
    with time_machine.travel(MONDAY, tick=False):
        xml = hostile_bpmn.timer_then_catch(
            "gate_late", "probe('REF') + '-ONE'", "y = probe(7)", DEADLINE, key="gate_timed"
        )
        _deploy(session, xml)
        waiting = _start(session, "gate_timed")
        tasks.complete(session, get_user(session, "pt_officer"), open_task(session, waiting, "fill").id, {})
        kept = messages.send(session, "gate_late", "REF-ONE", actor_id=get_user(session, "admin").id)
        session.commit()
    assert kept.result == "buffered"
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    with time_machine.travel(MONDAY + dt.timedelta(minutes=61), tick=False):
        outcome = _on_the_stepper(engine, lambda _s: deadlines.run_due(factory))
    assert len(outcome) == 1 and not isinstance(outcome[0], tuple), outcome
    _held(watch, learned=True)
    assert "REF" in watch.seen and 7 in watch.seen
    assert _data(session, waiting)["y"] == 7
    assert sorted(_open(session, waiting)) == ["after"] and _open(session, waiting)["after"].deadline == WORDS
    assert session.scalar(select(func.count()).select_from(BufferedMessage)) == 0


def test_a_start_whose_first_step_throws_to_a_waiting_case_is_evaluated_without_the_write_lock(
    engine, session, watch
):
    """A case that throws as it starts (before its first task) reaches a case waiting for the message."""
    _deploy(
        session,
        hostile_bpmn.thrower("message", "gate_early", key="gate_early_thrower", first=True),
        hostile_bpmn.catcher("message", "gate_early", "y = probe(7)", DEADLINE, key="gate_early_catcher"),
    )
    receiving = _start(session, "gate_early_catcher")
    outcome = _on_the_stepper(
        engine, lambda s: instances.start(s, get_user(s, "pt_officer"), "gate_early_thrower", STREET).id
    )
    assert len(outcome) == 1 and isinstance(outcome[0], int), outcome
    _held(watch, learned=True)
    assert set(watch.seen) == {7, WORDS}
    assert _data(session, receiving)["y"] == 7 and _open(session, receiving)["after"].deadline == WORDS
    assert sorted(_open(session, outcome[0])) == ["fill"]


def test_an_incident_retry_that_throws_to_a_waiting_case_is_evaluated_without_the_write_lock(
    engine, session, watch
):
    _deploy(
        session,
        hostile_bpmn.check_then_throw("gate_fixed", "ok = 10 / d", key="gate_checked"),
        hostile_bpmn.catcher("message", "gate_fixed", "y = probe(7)", DEADLINE, key="gate_fixed_catcher"),
    )
    receiving, failing = _start(session, "gate_fixed_catcher"), _start(session, "gate_checked")
    admin = get_user(session, "admin")
    with pytest.raises(IncidentOpened) as opened:
        _complete_fill(failing)(session)
    session.commit()
    incident = opened.value.incident.id
    data_edit.edit_data(session, admin, failing, {"d": 2}, [], "补充缺少的数据 / the missing figure")
    session.commit()
    outcome = _on_the_stepper(engine, lambda s: rerun.retry(s, get_user(s, "admin"), incident))
    assert len(outcome) == 1 and not isinstance(outcome[0], (tuple, Exception)), outcome
    _held(watch, learned=False)  # (the retry's throws are worked out ahead: nothing to learn)
    assert 7 in watch.seen and WORDS in watch.seen
    assert _data(session, receiving)["y"] == 7 and _open(session, receiving)["after"].deadline == WORDS
    assert _data(session, failing)["ok"] == 5
    assert instances.get_visible(session, admin, failing).status.value == "completed"


def _rule_writing_at_once(monkeypatch, key: str) -> list[int]:
    """A rule of ``key``'s fill that writes at once, as no seed rule does: it starts a case through
    ``instances.create`` (the scheduler's start, not the two-phase one) and sends a message nobody
    waits for (kept in the buffer). On SQLite the step after it used to run under the write lock."""
    created: list[int] = []

    def rule(session: Session, instance: Any, _row: Any, _data: dict[str, Any]) -> dict[str, Any]:
        other = definitions.latest(session, "gate_other")
        unit = orgs.get(session, instance.org_unit_id)
        created.append(instances.create(session, other, unit, actor_id=None).id)
        messages.send(session, "gate_nobody", "REF-X", sender=instance)
        return {"ruled": True}

    monkeypatch.setitem(procedures.BEFORE_COMPLETE, (key, "fill"), [rule])
    return created


def test_the_steps_after_a_rule_that_wrote_at_once_are_evaluated_without_the_write_lock(
    engine, session, watch, monkeypatch
):
    _deploy(session, hostile_bpmn.scripts_after_fill(10, "x{i} = probe({i})", DEADLINE, key="gate_ruled"))
    created = _rule_writing_at_once(monkeypatch, "gate_ruled")
    case = _start(session, "gate_ruled")
    outcome = _on_the_stepper(engine, _complete_fill(case))
    assert len(outcome) == 1 and isinstance(outcome[0], HumanTask), outcome
    _held(watch, learned=True)
    if not IS_POSTGRES:  # ten scripts and the deadline, each once and in order (a definition compiled
        # meanwhile, its timer constants evaluated, may come between)
        scripts = [t for t in watch.learned if "probe" in t]
        assert scripts == [*(f"x{i} = probe({i})" for i in range(10)), DEADLINE]
    assert sorted(watch.seen, key=str) == sorted([*range(10), WORDS], key=str)  # each once
    data = _data(session, case)
    assert data["ruled"] is True and [data[f"x{i}"] for i in range(10)] == list(range(10))
    assert _open(session, case)["after"].deadline == WORDS
    session.expire_all()
    assert session.get(ProcessInstance, created[-1]).process_key == "gate_other"  # the last attempt's
    assert session.scalar(select(func.count()).where(ProcessInstance.id.in_(created))) == 1
    [kept] = session.scalars(select(BufferedMessage).where(BufferedMessage.name == "gate_nobody"))
    assert kept.sender_instance_id == case


def test_a_failing_expression_learned_before_the_lock_opens_the_incident_it_would_have(
    engine, session, watch, monkeypatch
):
    _deploy(session, hostile_bpmn.scripts_after_fill(1, "x = probe(1) / 0", DEADLINE, key="gate_failing"))
    _rule_writing_at_once(monkeypatch, "gate_failing")
    case = _start(session, "gate_failing")
    [opened] = _on_the_stepper(engine, _complete_fill(case))
    assert isinstance(opened, IncidentOpened) and opened.incident.element == "calc0"
    _held(watch, learned=True)
    session.expire_all()
    assert "fill" not in _open(session, case)  # the completion is kept with the incident, as always
    actions = [e.action for e in session.scalars(select(AuditEvent).where(AuditEvent.instance_id == case))]
    assert actions.count("task.completed") == 1 and actions.count("incident.opened") == 1


@pytest.mark.skipif(IS_POSTGRES, reason="PostgreSQL holds row locks only: nothing is learned")
def test_an_operation_needing_more_than_the_evaluations_it_may_learn_is_refused_with_nothing_written(
    engine, session, watch, monkeypatch
):
    _deploy(session, hostile_bpmn.scripts_after_fill(70, "x{i} = probe({i})", DEADLINE, key="gate_long"))
    created = _rule_writing_at_once(monkeypatch, "gate_long")
    case = _start(session, "gate_long")
    before = session.scalar(select(func.count()).select_from(ProcessInstance))
    [refused] = _on_the_stepper(engine, _complete_fill(case))
    assert isinstance(refused, rehearsal.TooMuchToRehearse), refused
    assert "流程模型" in refused.message
    assert watch.refused == [] and len(watch.learned) == rehearsal.MAX_LEARNED
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(ProcessInstance)) == before
    assert not session.scalar(select(func.count()).where(ProcessInstance.id.in_(created)))
    assert open_task(session, case, "fill").state == TaskStatus.READY
    assert session.scalar(select(func.count()).select_from(BufferedMessage)) == 0


def test_a_community_assistance_application_with_materials_is_evaluated_before_the_write_lock(
    engine, session, client, login, watch
):
    """The materials' household, set as the step began, was flushed by the near-relative check's query
    and took the write lock before the gateways after the application ran; it is now written with the
    step (nothing to learn)."""
    from tests.procedures.cases import supply_materials
    from tests.procedures.helpers import APPLICANT, application

    headers = login("pt_advisor")
    registered = client.post(
        "/api/v1/households",
        json={
            "residence_street": STREET,
            "members": [{"name": "测试居民", "relation": "head", "id_number": APPLICANT}],
        },
        headers=headers,
    )
    assert registered.status_code == 201, registered.json
    started = client.post(
        "/api/v1/process-instances",
        json={
            "process_key": "comprehensive_assistance",
            "org_unit": STREET,
            "household_id": registered.json["id"],
            "applicant_person_id": registered.json["members"][0]["id"],
        },
        headers=headers,
    )
    assert started.status_code == 201, started.json
    [task] = [t for t in started.json["open_tasks"] if t["bpmn_id"] == "application"]
    assert supply_materials(client, headers, task["id"])  # (the household is set on them as the step begins)
    answers: list[Any] = []

    def post(_s: Session) -> None:
        response = client.application.test_client().post(
            f"/api/v1/tasks/{task['id']}/complete", json={"data": application()}, headers=headers
        )
        answers.append((response.status_code, response.get_json()))

    _on_the_stepper(engine, post)
    [(status, body)] = answers
    assert status == 200, body
    assert watch.refused == [] and watch.writes >= 1 and watch.learned == []
    session.expire_all()
    assert session.get(HumanTask, task["id"]).state == TaskStatus.COMPLETED


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (1, True),
        (1, 1.0),
        (1, Decimal(1)),
        ([1, 2], (1, 2)),
        ({"a": 1}, {"a": "1"}),
        (dt.date(2026, 1, 1), "2026-01-01"),
        ({1}, [1]),
    ],
)
def test_results_are_learned_for_exactly_equal_variables(one, other):
    key = rehearsal._fingerprint
    assert key("expression", "x", {"x": one}) != key("expression", "x", {"x": other})
    assert key("expression", "x", {"x": one}) == key("expression", "x", {"x": one})
    assert key("expression", "x", {"x": 1}) != key("script", "x", {"x": 1})
    assert key("expression", "x", {"a": 1, "b": [2]}) == key("expression", "x", {"b": [2], "a": 1})
    assert key("expression", "x", {"x": object()}) is None  # not told apart by value: evaluated in place
