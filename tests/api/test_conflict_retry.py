"""Two operations that lock the same two cases in opposite orders: PostgreSQL's deadlock detector ends
one of them. A request it ended runs again in a fresh transaction (api.AssistflowFlask), so both
users' completions go through, each written once; when its attempts run out it answers 409 with the
reason, nothing of it written. A timer wake-up it ended is woken again at the scheduler's next pass
(engine.deadlines.jobs), neither failed nor postponed."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from prometheus_client import REGISTRY
from sqlalchemy import event, func, select
from sqlalchemy.orm import sessionmaker

import api
from engine.audit.models import AuditAction, AuditEvent
from engine.deadlines import service as deadlines
from engine.definitions import service as definitions
from engine.instances import service as instances
from engine.instances.models import ProcessInstance
from engine.records.models import StepRecord
from engine.tasks import service as tasks
from tests import hostile_bpmn
from tests.conftest import IS_POSTGRES, get_user
from tests.factories import STREET, open_task
from tests.web.helpers import Web

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(not IS_POSTGRES, reason="row locks and the deadlock detector: PostgreSQL"),
]


def _retries(origin: str = "request") -> float:
    return REGISTRY.get_sample_value("assistflow_conflict_retries_total", {"origin": origin}) or 0.0


class Crossing:
    """Two cases, each waiting for the message the other's ``fill`` throws. While the two completions
    run, each request pauses once it holds its own case and is about to lock the other's, until both
    are there: then both reach for the other's row and the database must end one of them."""

    def __init__(
        self, app: Any, engine: Any, session: Any, headers: dict[str, str], timed: bool = False
    ) -> None:
        admin = get_user(session, "admin").id
        first = hostile_bpmn.crossing("to_b", "to_a", key="cross_a", timed=timed)
        definitions.deploy(session, first, actor_id=admin)
        definitions.deploy(session, hostile_bpmn.crossing("to_a", "to_b", key="cross_b"), actor_id=admin)
        session.commit()
        officer = get_user(session, "pt_officer")
        self.ids = [instances.start(session, officer, key, STREET).id for key in ("cross_a", "cross_b")]
        session.commit()
        self.fills = {case: open_task(session, case, "fill").id for case in self.ids[timed:]}
        self.app, self.engine, self.headers = app, engine, headers
        self.both_hold_their_own = threading.Barrier(2, timeout=10)
        self.paused: set[int] = set()
        self.answers: dict[int, tuple[int, Any]] = {}
        self.browsers: dict[int, Web] = {}  # a case completed through the web form instead of the API

    def _before(self, _conn: Any, _cursor: Any, statement: str, params: Any, *_rest: Any) -> None:
        name = threading.current_thread().name
        if not name.startswith("case-") or "FOR UPDATE" not in statement:
            return
        own = int(name.removeprefix("case-"))
        other = set(self.ids) - {own}
        if own not in self.paused and "process_instance" in statement and set(params.values()) & other:
            self.paused.add(own)  # the first attempt only
            self.both_hold_their_own.wait()
            if own in self.fills and len(self.fills) == 1:
                # the scheduler's side waits first: PostgreSQL's detector (after deadlock_timeout, 1 s)
                # runs in the transaction that waited longest and ends that one
                time.sleep(0.3)

    def _complete(self, case: int) -> None:
        if case in self.browsers:
            browser = self.browsers[case]  # (its test client directly: this thread has no app context)
            page = browser.client.post(
                f"/tasks/{self.fills[case]}/complete", data={"csrf_token": browser.token}
            )
            self.answers[case] = (page.status_code, page.get_data(as_text=True))
            return
        with self.app.test_client() as mine:
            answer = mine.post(
                f"/api/v1/tasks/{self.fills[case]}/complete", json={"data": {}}, headers=self.headers
            )
            self.answers[case] = (answer.status_code, answer.get_json())

    def _wake(self, _case: int) -> None:
        deadlines.run_due(sessionmaker(bind=self.engine, expire_on_commit=False))

    def run(self) -> dict[int, int]:
        event.listen(self.engine, "before_cursor_execute", self._before)
        try:
            threads = [
                threading.Thread(
                    target=self._complete if c in self.fills else self._wake, args=(c,), name=f"case-{c}"
                )
                for c in self.ids
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
        finally:
            event.remove(self.engine, "before_cursor_execute", self._before)
        assert self.paused == set(self.ids)  # each did hold its own case while reaching for the other
        return {case: status for case, (status, _body) in self.answers.items()}


@pytest.fixture()
def crossing(app, engine, session, login) -> Iterator[Crossing]:
    yield Crossing(app, engine, session, login("pt_officer"))


def _written(session: Any, case: int) -> dict[str, int]:
    session.expire_all()
    received = session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.instance_id == case, AuditEvent.action == AuditAction.MESSAGE_RECEIVED)
    )
    records = session.scalar(
        select(func.count())
        .select_from(StepRecord)
        .where(StepRecord.instance_id == case, StepRecord.bpmn_id == "fill")
    )
    return {"messages received": received, "fill records": records}


def _open(session: Any, case: int) -> set[str]:
    session.expire_all()
    return {t.bpmn_id for t in tasks.open_tasks_of(session, case)}


def test_two_cases_messaging_each_other_at_once_both_complete_once(crossing, session):
    retries = _retries()
    statuses = crossing.run()
    assert statuses == {crossing.ids[0]: 200, crossing.ids[1]: 200}, crossing.answers
    assert _retries() == retries + 1  # the database did end one of them: it ran again
    for case in crossing.ids:
        # each case's step written once and the other's message received once: the ended attempt left
        # nothing behind, and the second one did all of it
        assert _written(session, case) == {"messages received": 1, "fill records": 1}
        assert _open(session, case) == {"after"}


def test_a_request_whose_attempts_run_out_answers_409_with_nothing_written(crossing, session, monkeypatch):
    monkeypatch.setattr(api, "CONFLICT_ATTEMPTS", 1)
    statuses = crossing.run()
    assert sorted(statuses.values()) == [200, 409], crossing.answers
    ended = next(case for case, status in statuses.items() if status == 409)
    went_on = next(case for case in crossing.ids if case != ended)
    body = crossing.answers[ended][1]
    assert body["error"] == "conflict"
    assert body["message"].startswith("与同时进行的其他操作冲突")
    # the ended request's step is still to do; the other's message reached its case all the same
    assert _open(session, ended) == {"fill", "after"}
    assert _written(session, ended) == {"messages received": 1, "fill records": 0}
    assert _open(session, went_on) == set()  # its step done; still waiting for the ended case's message
    assert _written(session, went_on) == {"messages received": 0, "fill records": 1}


def test_a_timer_wake_up_ended_by_a_deadlock_with_a_completion_wakes_on_the_next_pass(
    app, engine, session, login
):
    """The scheduler fires case A's timer (A throws to B) while a user completes B's step (B throws to A);
    the database ends the scheduler's wake-up: it is neither failed nor postponed, the next pass of the
    same run wakes A again, and both cases receive the other's message once."""
    monday = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)
    with time_machine.travel(monday, tick=False):
        crossing = Crossing(app, engine, session, login("pt_officer"), timed=True)
    retries, requests = _retries("scheduler"), _retries()
    with time_machine.travel(monday + dt.timedelta(hours=2), tick=False):
        statuses = crossing.run()
    timed, stepped = crossing.ids
    assert statuses == {stepped: 200}, crossing.answers
    assert (_retries("scheduler"), _retries()) == (retries + 1, requests)  # the wake-up was the one ended
    for case in crossing.ids:
        assert _written(session, case)["messages received"] == 1
        assert _open(session, case) == {"after"}
    assert _written(session, stepped)["fill records"] == 1
    session.expire_all()
    assert session.get(ProcessInstance, timed).next_wakeup_at is None  # nothing left to wake; not postponed


def test_a_web_form_whose_attempts_run_out_shows_the_conflict_page(crossing, session, monkeypatch):
    monkeypatch.setattr(api, "CONFLICT_ATTEMPTS", 1)
    crossing.browsers = {case: Web(crossing.app.test_client()).login("pt_officer") for case in crossing.ids}
    statuses = crossing.run()
    assert sorted(statuses.values()) == [302, 409], crossing.answers  # one went on to the next page
    ended = next(case for case, status in statuses.items() if status == 409)
    page = crossing.answers[ended][1]
    # the staff error page, not JSON
    assert '<p class="error" role="alert">操作冲突，请刷新后重试</p>' in page
    assert _open(session, ended) == {"fill", "after"}
