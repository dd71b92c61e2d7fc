"""Structured logs (issue 20): one JSON line per request and per scheduler job, with the request id
(taken from ``X-Request-ID`` or made, and echoed), the user, case and task ids — and no personal data:
a whole scenario (a household registered with ID and phone numbers, cases searched by them, a
comprehensive-assistance case worked through the API and the web pages, a scheduler job) is logged and
the captured text is searched for every ID and phone number used."""

from __future__ import annotations

import io
import json
import logging

import pytest
from sqlalchemy.orm import sessionmaker

from api import logs
from api.extensions import db
from engine.deadlines import scheduler
from tests.procedures.helpers import APPLICANT, HEAD_ID, SPOUSE_ID, Case, register, to_review
from tests.procedures.helpers import start as start_for_household
from tests.web.helpers import Web

PHONE = "13900003333"  # the household head's, in register()


@pytest.fixture()
def captured():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.formatter("json"))
    root, ours = logging.getLogger(), logging.getLogger("assistflow")
    level = ours.level
    root.addHandler(handler)
    ours.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        ours.setLevel(level)


def _lines(stream) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_a_whole_scenario_logs_ids_and_no_personal_data(client, login, captured, schedules_ahead):
    household = register(client, login)
    case = start_for_household(client, login, household)
    headers = {**login("pt_officer"), "X-Request-ID": "trace-abc.123"}
    echoed = client.get(f"/api/v1/process-instances/{case['id']}", headers=headers)
    assert echoed.headers["X-Request-ID"] == "trace-abc.123"
    made = client.get("/api/v1/health/live")
    assert len(made.headers["X-Request-ID"]) == 32  # made when not given
    unsafe = client.get("/api/v1/health/live", headers={"X-Request-ID": f"id {HEAD_ID}"})
    assert unsafe.headers["X-Request-ID"] != f"id {HEAD_ID}"  # not a plain token: replaced
    # searches by the numbers themselves, through the API and the pages
    for query in (f"id_number={HEAD_ID}", f"phone={PHONE}", f"id_number={SPOUSE_ID}"):
        assert client.get(f"/api/v1/cases?{query}", headers=login("pt_officer")).status_code == 200
    web = Web(client).login("pt_officer")
    assert web.get(f"/cases?id_number={HEAD_ID}").status_code == 200
    assert web.get(f"/cases?phone={PHONE}").status_code == 200
    refused = client.post(
        f"/api/v1/households/{household['id']}/members",
        headers=login("pt_advisor"),
        json={"name": "测试居民丙", "relation": "child", "id_number": HEAD_ID, "phone": PHONE},
    )
    assert refused.status_code in (409, 422)
    # a case worked through its steps
    ca = Case(client, login)
    to_review(ca)
    # a scheduler job's line
    scheduler.logged("wakeups", scheduler.tick)(sessionmaker(bind=db.engine, expire_on_commit=False))

    text = captured.getvalue()
    for secret in (HEAD_ID, SPOUSE_ID, APPLICANT, PHONE, PHONE[-4:] + '"', "139****3333"):
        assert secret not in text, f"{secret} logged"
    lines = _lines(captured)
    requests = [line for line in lines if line["logger"] == "assistflow.requests"]
    assert all({"request_id", "method", "route", "status", "duration_ms"} <= set(r) for r in requests)
    traced = [r for r in requests if r["request_id"] == "trace-abc.123"]
    assert len(traced) == 1
    assert traced[0]["route"] == "/api/v1/process-instances/<int:instance_id>"
    assert traced[0]["case_id"] == case["id"] and traced[0]["user_id"] and traced[0]["status"] == 200
    completions = [r for r in requests if r["route"].endswith("/complete") and r["status"] == 200]
    assert completions and all(r["task_id"] and r["user_id"] for r in completions)
    assert any(r["route"] == "/cases" and r["user_id"] for r in requests)  # the web page's line
    assert any(r["status"] in (409, 422) for r in requests)
    jobs = [line for line in lines if line["logger"] == "assistflow.jobs"]
    assert jobs and jobs[-1]["job"] == "wakeups" and jobs[-1]["outcome"] == "ok" and "duration_ms" in jobs[-1]


def test_text_format_and_a_wrong_setting():
    record = logging.LogRecord("assistflow.requests", logging.INFO, __file__, 1, "GET %s", ("/x",), None)
    record.request_id, record.status = "r1", 200
    line = logs.formatter("text").format(record)
    assert line.endswith("GET /x request_id=r1 status=200")
    with pytest.raises(ValueError, match="json or text"):
        logs.formatter("xml")


def test_an_exception_is_logged_without_its_message(captured):
    log = logging.getLogger("assistflow.jobs")
    try:
        raise ValueError(f"duplicate key value ({HEAD_ID})")
    except ValueError:
        log.exception("job x failed", extra={"job": "x", "outcome": "error"})
    (line,) = _lines(captured)
    assert line["exc_type"] == "ValueError" and "stack" in line
    assert HEAD_ID not in captured.getvalue()
