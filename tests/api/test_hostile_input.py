"""Hostile input through the API: each attempt is a clear 4xx in the error shape, and nothing is stored.

"Nothing stored" is checked by counting the rows of every table the attempt could have written
(instances, tasks, definitions, audit events, filings, idempotency keys) before and after.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.extensions import db
from engine.models import (
    AuditEvent,
    HumanTask,
    IdempotencyKey,
    NearRelativeFiling,
    ProcessDefinition,
    ProcessInstance,
    User,
)
from tests.conftest import figure
from tests.helpers import assert_error, start, task_of
from tests.hostile_bpmn import ENCODED, encoded_bpmn

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "bpmn"
TRIED: dict[str, int] = {}
SQL_STATUSES: dict[int, int] = {}
figure("hostile input", lambda: ", ".join(f"{k}: {v}" for k, v in sorted(TRIED.items())))
figure("sql-ish filters", lambda: SQL_STATUSES and f"statuses {dict(sorted(SQL_STATUSES.items()))}")
WRITTEN = (
    AuditEvent,
    HumanTask,
    IdempotencyKey,
    NearRelativeFiling,
    ProcessDefinition,
    ProcessInstance,
    User,
)
SQLISH = [
    "' OR 1=1 --",
    "' OR ''='",
    "1; DROP TABLE audit_event; --",
    "%' UNION SELECT password_hash FROM app_user --",
    "admin'--",
    '" OR "1"="1',
    "1 OR 1=1",
    "'; UPDATE app_user SET is_active = false; --",
    "0x27",
    "%",
    "_",
    "\\",
    "' AND SLEEP(5) --",
    "'||(SELECT pg_sleep(5))||'",
    "310107014' OR '1'='1",
    "-1",
    "99999999999999999999999",
    "null",
    "[]",
    "{}",
]
LEAKS = ("password_hash", "argon2", "Traceback", "sqlalchemy", "psycopg", "sqlite3", "SELECT ", "token_hash")


def _counts() -> dict[str, int]:
    with Session(db.engine) as s:  # committed state only
        return {m.__tablename__: s.scalar(select(func.count()).select_from(m)) for m in WRITTEN}


def _reveals() -> int:
    with Session(db.engine) as s:
        return s.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "personal_data.read")
        )


def _tried(kind: str, n: int = 1) -> None:
    TRIED[kind] = TRIED.get(kind, 0) + n


def _no_leak(response, sent: str = "") -> None:
    """Nothing from the database or the server's insides in the answer (an echo of the input is fine)."""
    text = response.get_data(as_text=True).replace(json.dumps(sent, ensure_ascii=False)[1:-1], "")
    for marker in LEAKS:
        assert marker not in text, (marker, text[:300])


def test_oversized_bodies_are_413_and_nothing_is_stored(client, login):
    advisor = login("pt_advisor")
    instance = start(client, advisor)
    task = task_of(client, advisor, instance["id"], "application")
    before = _counts()
    big = "x" * (10 * 1024 * 1024)  # a 10 MB form value
    attempts = [
        (
            "/api/v1/process-instances",
            {"process_key": "demo_assistance", "org_unit": "310107014", "data": {"x": big}},
        ),
        (f"/api/v1/tasks/{task['id']}/complete", {"data": {"reason": big}}),
        ("/api/v1/near-relatives", {"staff_username": "pt_officer", "relative_id_number": big}),
        ("/api/v1/auth/token", {"username": "pt_advisor", "password": big}),
    ]
    for url, body in attempts:
        response = client.post(
            url, data=json.dumps(body), headers={**advisor, "Content-Type": "application/json"}
        )
        assert_error(response, 413)
        _tried("oversized bodies")
    boundary = "hostile-boundary"
    multipart = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bpmn"\r\n\r\n'.encode()
        + b"<x>"
        + b" " * (11 * 1024 * 1024)
        + b"</x>"
        + f"\r\n--{boundary}--\r\n".encode()
    )
    upload = client.post(
        "/api/v1/process-definitions",
        data=multipart,
        headers={**login("admin"), "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert_error(upload, 413)
    _tried("oversized bodies")
    assert _counts() == before
    assert task_of(client, advisor, instance["id"], "application")["state"] == "ready"


def test_a_large_value_under_the_body_limit_is_refused_by_the_field(client, login):
    advisor = login("pt_advisor")
    instance = start(client, advisor)
    task = task_of(client, advisor, instance["id"], "application")
    before = _counts()
    value = "长" * (1024 * 1024)  # 3 MB of UTF-8, under the 5 MB body limit
    response = client.post(
        f"/api/v1/tasks/{task['id']}/complete",
        json={"data": {"reason": value, "household_size": 3}},
        headers=advisor,
    )
    assert "reason" in assert_error(response, 422)["fields"]
    started = client.post(
        "/api/v1/process-instances",
        json={"process_key": "demo_assistance", "org_unit": "310107014", "data": {"note": value}},
        headers=advisor,
    )
    assert "data" in assert_error(started, 422)["fields"]
    _tried("large field values", 2)
    assert _counts() == before


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        '{"data": ',
        "[1, 2",
        '{"a": 1}}',
        "\x00",
        '{"data": NaN}',  # not JSON (RFC 8259), although Python's reader accepts it
        '{"data": [Infinity]}',
        '{"data": {"x": -Infinity}}',
        "\xff\xfe",
        "nul\u0000l",
    ],
)
def test_malformed_json_is_400_everywhere(client, login, body):
    advisor = login("pt_advisor")
    before = _counts()
    for url in (
        "/api/v1/process-instances",
        "/api/v1/tasks/1/complete",
        "/api/v1/near-relatives",
        "/api/v1/auth/token",
    ):
        response = client.post(url, data=body, headers={**advisor, "Content-Type": "application/json"})
        assert response.status_code == 400, (url, body, response.status_code, response.json)
        assert_error(response, 400)
        _tried("malformed JSON bodies")
    assert _counts() == before


def test_wrong_types_are_422_with_a_reason_per_field(client, login):
    advisor = login("pt_advisor")
    before = _counts()
    cases = [
        (
            "/api/v1/process-instances",
            {"process_key": 5, "org_unit": ["x"], "business_key": {}, "data": "text"},
        ),
        ("/api/v1/process-instances", {"process_key": None, "org_unit": True}),
        ("/api/v1/auth/token", {"username": 1, "password": []}),
        ("/api/v1/near-relatives", {"staff_username": {}, "relative_id_number": 12}),
    ]
    for url, body in cases:
        fields = assert_error(client.post(url, json=body, headers=advisor), 422)["fields"]
        wrong = {k for k in body if k not in ("data",)} - {"business_key"}
        assert wrong <= set(fields), (url, fields)
        assert all(isinstance(m, str) and m for ms in fields.values() for m in ms)
        _tried("wrong-type bodies")
    instance = start(client, advisor)
    task = task_of(client, advisor, instance["id"], "application")
    fields = assert_error(
        client.post(
            f"/api/v1/tasks/{task['id']}/complete",
            json={
                "data": {
                    "household_size": "three",
                    "amount_requested": [1],
                    "credit_commitment_signed": "yes",
                }
            },
            headers=advisor,
        ),
        422,
    )["fields"]
    assert {"household_size", "amount_requested", "credit_commitment_signed"} <= set(fields)
    _tried("wrong-type bodies")
    assert_error(client.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": []}, headers=advisor), 422)
    _tried("wrong-type bodies")
    assert _counts()["process_instance"] == before["process_instance"] + 1  # only the one started above


def _list_operations(client):
    spec = client.get("/api/openapi.json").json
    for path, item in spec["paths"].items():
        get = item.get("get")
        if not get:
            continue
        params = [p for p in get.get("parameters", []) + item.get("parameters", []) if p["in"] == "query"]
        yield path, params


def test_sql_looking_strings_in_every_filter_are_never_a_500_or_a_leak(client, login):
    admin = login("admin")
    advisor = login("pt_advisor")
    start(client, advisor)
    before, reveals_before = _counts(), _reveals()
    operations = list(_list_operations(client))
    paths_with_params = [(p, ps) for p, ps in operations if ps]
    assert len(paths_with_params) >= 4
    statuses: dict[int, int] = {}
    for path, params in operations:
        concrete = (
            path.replace("{key}", "demo_assistance").replace("{instance_id}", "1").replace("{task_id}", "1")
        )
        for payload in SQLISH:
            targets = [p["name"] for p in params]
            if "{" in path:  # the path parameter itself gets the payload too
                targets.append(None)
            for name in targets:
                url = concrete if name else path.replace("{key}", payload).replace("{instance_id}", "1")
                for headers in (admin, advisor):
                    response = client.get(
                        url, query_string={name: payload} if name else None, headers=headers
                    )
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                    assert response.status_code in (200, 400, 403, 404, 422), (
                        url,
                        name,
                        payload,
                        response.json,
                    )
                    if response.status_code >= 400:
                        assert_error(response, response.status_code)
                    _no_leak(response, payload)
                    _tried("SQL-looking filter values")
    # the only writes a read may make: the audit record of a full-number reveal (personal-data, admins)
    assert _counts() == {**before, "audit_event": before["audit_event"] + _reveals() - reveals_before}
    with Session(db.engine) as s:
        assert s.scalar(select(func.count()).select_from(User).where(User.is_active.is_(False))) == 0
    for status, n in statuses.items():
        SQL_STATUSES[status] = SQL_STATUSES.get(status, 0) + n


@pytest.mark.parametrize("name", ["xxe.bpmn", "billion_laughs.bpmn"])
def test_xxe_and_billion_laughs_are_refused_and_nothing_is_stored(client, login, name):
    admin = login("admin")
    before = _counts()
    xml = (FIXTURES / name).read_bytes()
    as_upload = client.post(
        "/api/v1/process-definitions", data={"file": (io.BytesIO(xml), name)}, headers=admin
    )
    as_body = client.post(
        "/api/v1/process-definitions", data=xml, headers={**admin, "Content-Type": "application/xml"}
    )
    for response in (as_upload, as_body):
        body = assert_error(response, 422, "bpmn_invalid")
        assert "/etc/passwd" not in json.dumps(body) and "root:" not in json.dumps(body)
        assert len(response.get_data()) < 10_000, "no entity expansion in the answer"
        _tried("hostile BPMN uploads")
    assert _counts() == before


# --- issue 18: redirects, amplification, inputs that used to be 500s ---------------------------------

OFF_SITE_NEXT = [
    "/\t/evil.example",  # sent as /%09/evil.example: browsers drop the tab and go to //evil.example
    "//evil.example/x",
    "\\\\evil.example",
    "/\\evil.example",
    "/\r\nSet-Cookie: stolen=1",
    "/\n/evil.example",
    "https://evil.example/",
    "javascript:alert(1)",
    "/ /evil.example",
    "/\x7f/evil.example",
]


def _login_form(client, username: str, path: str):
    from tests.web.helpers import Web

    browser = Web(client.application.test_client())
    browser.get("/login")
    return browser.post(path, {"username": username, "password": "test-password-1"})


@pytest.mark.parametrize("target", OFF_SITE_NEXT)
def test_next_never_leaves_the_site_on_login_and_language(client, target):
    from urllib.parse import urlencode

    query = urlencode({"next": target})
    for response in (
        client.get(f"/lang/en?{query}"),
        _login_form(client, "pt_advisor", f"/login?{query}"),
    ):
        assert response.status_code == 302, (target, response.status_code)
        assert response.headers["Location"] == "/", (target, response.headers["Location"])
        _tried("off-site next= values")


def test_a_same_site_next_is_kept(client):
    assert client.get("/lang/en?next=/start%3Ftab%3Dx").headers["Location"] == "/start?tab=x"
    assert _login_form(client, "pt_advisor", "/login?next=/start").headers["Location"] == "/start"


def test_anonymous_bodies_are_refused_before_parsing(client):
    before = _counts()
    keys = {f"k{i:06d}": i for i in range(350_000)}  # 4.8 MB of unknown keys
    body = json.dumps({"username": "pt_advisor", "password": "x", **keys})
    assert len(body) > 4_500_000
    response = client.post("/api/v1/auth/token", data=body, headers={"Content-Type": "application/json"})
    assert_error(response, 413, "payload_too_large")
    assert len(response.get_data()) < 1_000
    form = client.post("/login", data={"username": "pt_advisor", "password": "p" * 100_000})
    assert form.status_code == 413 and len(form.get_data()) < 1_000
    _tried("oversized anonymous bodies", 2)
    assert _counts() == before


def test_error_answers_stay_small_whatever_was_sent(client, login):
    advisor = login("pt_advisor")
    before = _counts()
    unknown = {f"unknown_{i}": i for i in range(20_000)}
    listed = client.post(
        "/api/v1/process-instances",
        json={"process_key": "demo_assistance", "org_unit": "310107014", **unknown},
        headers=advisor,
    )
    body = assert_error(listed, 422)
    assert len(listed.get_data()) < 10_000
    assert len(body["fields"]) <= 21 and "19980" in body["fields"]["_more"][0]
    huge = "9" * 1_900_000
    for url, payload in (
        ("/api/v1/process-instances", {"process_key": huge, "org_unit": "310107014"}),
        ("/api/v1/process-instances", {"process_key": "demo_assistance", "org_unit": huge}),
        ("/api/v1/near-relatives", {"staff_username": huge, "relative_id_number": huge}),
    ):
        response = client.post(url, json=payload, headers=advisor)
        assert 400 <= response.status_code < 500 and response.status_code != 413, response.status_code
        assert_error(response, response.status_code)
        assert len(response.get_data()) < 10_000, (url, len(response.get_data()))
        _tried("echo amplification bodies")
    assert _counts() == before


def test_deep_nesting_and_huge_integers_are_400(client, login):
    advisor = login("pt_advisor")
    instance = start(client, advisor)
    task = task_of(client, advisor, instance["id"], "application")
    before = _counts()
    bodies = [
        "[" * 100_000 + "]" * 100_000,
        '{"data": ' + '{"a": ' * 50_000 + "1" + "}" * 50_001,
        '{"process_key": "demo_assistance", "org_unit": "310107014", "data": {"a": '
        + "[" * 40
        + "]" * 40
        + "}}",
        '{"process_key": "demo_assistance", "org_unit": "310107014", "data": {"n": ' + "9" * 5000 + "}}",
        '{"data": {"household_size": ' + "1" * 5000 + "}}",
    ]
    for body in bodies:
        for url in ("/api/v1/process-instances", f"/api/v1/tasks/{task['id']}/complete"):
            response = client.post(url, data=body, headers={**advisor, "Content-Type": "application/json"})
            assert_error(response, 400, "bad_request")
            _tried("deeply nested or huge-number JSON")
    assert _counts() == before


def test_deadline_and_schedule_values_out_of_range_are_422(client, login):
    advisor, head, admin = login("pt_advisor"), login("pt_head"), login("admin")
    instance = start(client, advisor)
    task = task_of(client, advisor, instance["id"], "application")
    before = _counts()
    for payload in (
        {"extend_by": "P999999999D"},
        {"extend_by": "P9999999999D"},
        {"due_at": "9999-12-31T23:59:59+08:00"},
        {"due_at": "9999-12-31T23:59:59Z"},
    ):
        response = client.post(
            f"/api/v1/tasks/{task['id']}/deadline", json={**payload, "reason": "hostile input"}, headers=head
        )
        body = assert_error(response, 422)
        assert set(body["fields"]) & {"extend_by", "due_at"}, body
        _tried("out-of-range deadlines")
    for scheduled in ("not-a-date", 12, "0001-01-01", "2026-13-45"):
        response = client.post(
            "/api/v1/process-instances",
            json={
                "process_key": "ca_monthly_fund_report",
                "org_unit": "310107",
                "data": {"scheduled_for": scheduled},
            },
            headers=admin,
        )
        assert "scheduled_for" in assert_error(response, 422)["fields"], scheduled
        _tried("bad scheduled_for")
    assert _counts() == before


# --- issue 18 item 14: valid BPMN in another encoding deploys (or is refused clearly), never a 500 ---


@pytest.mark.parametrize(("key", "name", "encoding"), ENCODED)
def test_valid_bpmn_in_another_encoding_deploys(client, login, key, name, encoding):
    admin = login("admin")
    xml = encoded_bpmn(key, name, encoding)
    linted = client.post(
        "/api/v1/process-definitions/lint", data=xml, headers={**admin, "Content-Type": "application/xml"}
    )
    assert linted.status_code == 200 and linted.get_json()["ok"] is True, linted.get_json()
    deployed = client.post(
        "/api/v1/process-definitions", data={"file": (io.BytesIO(xml), f"{key}.bpmn")}, headers=admin
    )
    _tried("non-UTF-8 BPMN uploads")
    assert deployed.status_code == 201, deployed.get_data(as_text=True)[:500]
    assert deployed.get_json()["definition"]["name"] == name
    again = client.post(
        "/api/v1/process-definitions", data=xml, headers={**admin, "Content-Type": "application/xml"}
    )
    assert again.status_code == 200 and again.get_json()["created"] is False  # same content: unchanged
    stored = client.get(f"/api/v1/process-definitions/{key}/xml", headers=admin)
    assert stored.status_code == 200 and name in stored.get_data(as_text=True)
    started = client.post(
        "/api/v1/process-instances", json={"process_key": key, "org_unit": "310107014"}, headers=admin
    )
    assert started.status_code == 201, started.get_json()


def test_a_wrongly_declared_encoding_is_refused_clearly(client, login):
    admin = login("admin")
    xml = encoded_bpmn("enc_lie", "受理审核", "GBK").replace(b'encoding="GBK"', b'encoding="UTF-8"')
    before = _counts()
    for response in (
        client.post(
            "/api/v1/process-definitions", data=xml, headers={**admin, "Content-Type": "application/xml"}
        ),
        client.post(
            "/api/v1/process-definitions",
            data=encoded_bpmn("enc_unknown", "x", "UTF-8").replace(b"UTF-8", b"X-NO-SUCH-CHARSET"),
            headers={**admin, "Content-Type": "application/xml"},
        ),
    ):
        assert_error(response, 422, "bpmn_invalid")
        _tried("non-UTF-8 BPMN uploads")
    assert _counts() == before


# --- issue 18 items 10–12: hostile expressions and BPMN, through the API ----------------------------

from tests import hostile_bpmn  # noqa: E402

HOSTILE_TIMER_TEXTS = [
    "4000000 ** 4000000",
    "&apos;%1000000000d&apos; % 1",
    "&apos;%0300000000d&apos; % 0",
    "(10 ** 900) ** 30",
    "[[[0] * 300] * 300] * 300",
    "f&apos;{1:1000000000}&apos;",
]


def _post_xml(client, path, xml, headers):
    return client.post(path, data=xml, headers={**headers, "Content-Type": "application/xml"})


def test_hostile_expressions_at_lint_and_deploy_are_refused_before_they_run(client, login):
    """Each is refused by a static bound (exponent, repetition, format width) named in the answer — not
    by the evaluation's time budget, which would mean it started computing. No clock is read here."""
    admin = login("admin")
    before = _counts()
    for text in HOSTILE_TIMER_TEXTS:
        xml = hostile_bpmn.timer_after_fill("timeDuration", text, key="hostile_expr")
        lint = _post_xml(client, "/api/v1/process-definitions/lint", xml, admin)
        assert lint.status_code == 200, (text, lint.status_code)
        body = lint.get_json()
        assert body["ok"] is False and all(p["element"] == "wait" for p in body["problems"]), body
        messages = " ".join(p["message"] for p in body["problems"])
        assert "超出计算限制" in messages and "time budget" not in messages, (text, messages)
        deploy = _post_xml(client, "/api/v1/process-definitions", xml, admin)
        error = assert_error(deploy, 422, "bpmn_invalid")
        assert "time budget" not in str(error), (text, error)
        _tried("hostile expressions (lint and deploy)")
        _tried("hostile expressions (lint and deploy)")
    assert _counts() == before


@pytest.mark.parametrize(
    ("name", "xml", "element"),
    [
        ("script cycle", hostile_bpmn.script_cycle(), "count"),
        ("fork cycle", hostile_bpmn.fork_cycle(), "s1"),
        ("P99999Y", hostile_bpmn.timer_after_fill("timeDuration", "P99999Y"), "wait"),
        ("P9999999Y", hostile_bpmn.timer_after_fill("timeDuration", "P9999999Y"), "wait"),
        ("non-duration", hostile_bpmn.timer_after_fill("timeDuration", '"hello"'), "wait"),
        ("R/PT1S", hostile_bpmn.timer_after_fill("timeCycle", "R/PT1S"), "wait"),
        ("R0", hostile_bpmn.timer_after_fill("timeCycle", "R0/PT1H"), "wait"),
        ("timer start R/PT1S", hostile_bpmn.timer_start("R/PT1S", "310107014"), "every"),
        ("unknown org unit", hostile_bpmn.timer_start("R/P1D", "999999999"), "every"),
        ("unknown org level", hostile_bpmn.timer_start("R/P1D", "level:galaxy"), "every"),
    ],
)
def test_hostile_bpmn_deploys_are_refused_naming_element_and_line(client, login, name, xml, element):
    import time

    admin = login("admin")
    before = _counts()
    started = time.monotonic()
    response = _post_xml(client, "/api/v1/process-definitions", xml, admin)
    assert time.monotonic() - started < 5.0, name
    body = assert_error(response, 422, "bpmn_invalid")
    assert any(p["element"] == element and p["line"] for p in body["problems"]), body
    _tried("hostile BPMN deploys (loops, timers, org units)")
    assert _counts() == before


def test_a_failing_automatic_step_is_a_409_incident_admins_see_and_retry(client, login):
    admin, officer = login("admin"), login("pt_officer")
    deployed = _post_xml(client, "/api/v1/process-definitions", hostile_bpmn.gateway_without_default(), admin)
    assert deployed.status_code == 201, deployed.get_json()
    instance = start(client, officer, process_key="hostile_gateway", data={"x": 3})
    fill = task_of(client, officer, instance["id"], "fill")

    response = client.post(f"/api/v1/tasks/{fill['id']}/complete", json={"data": {}}, headers=officer)
    body = assert_error(response, 409, "incident_opened")
    _no_leak(response)
    _tried("automatic steps failing after a completion")
    incident_id = int(body["fields"]["incident"][0])
    assert body["fields"]["element"] == ["gw"]
    # the completion was kept: the task is done, the case runs on with an open incident
    again = client.post(f"/api/v1/tasks/{fill['id']}/complete", json={"data": {}}, headers=officer)
    assert_error(again, 409)
    detail = client.get(f"/api/v1/process-instances/{instance['id']}", headers=admin).get_json()
    assert detail["status"] == "running" and detail["open_tasks"] == []

    assert_error(client.get("/api/v1/incidents", headers=officer), 403)
    listed = client.get("/api/v1/incidents", headers=admin).get_json()
    mine = [i for i in listed["items"] if i["id"] == incident_id]
    assert mine and mine[0]["element"] == "gw" and mine[0]["status"] == "open" and mine[0]["origin"] == "task"
    assert mine[0]["instance_id"] == instance["id"]
    assert_error(client.post(f"/api/v1/incidents/{incident_id}/retry", headers=officer), 403)
    failed = client.post(f"/api/v1/incidents/{incident_id}/retry", headers=admin)
    assert_error(failed, 409, "incident_opened")
    assert client.get(f"/api/v1/incidents/{incident_id}", headers=admin).get_json()["attempts"] == 2

    fixed = client.patch(
        f"/api/v1/process-instances/{instance['id']}/data",
        json={"set": {"x": 1}, "reason": "改正网关所需的数据"},
        headers=admin,
    )
    assert fixed.status_code == 200, fixed.get_json()
    retried = client.post(f"/api/v1/incidents/{incident_id}/retry", headers=admin)
    assert retried.status_code == 200 and retried.get_json()["status"] == "resolved", retried.get_json()
    after = task_of(client, officer, instance["id"], "after")
    assert after["bpmn_id"] == "after"
    assert client.get("/api/v1/incidents?status=open", headers=admin).get_json()["meta"]["total"] == 0
    assert_error(client.get("/api/v1/incidents?status=weird", headers=admin), 422)
    assert_error(client.post("/api/v1/incidents/999999/retry", headers=admin), 404)


def test_an_incident_with_an_idempotency_key_is_kept_and_replayed(client, login):
    admin, officer = login("admin"), login("pt_officer")
    xml = hostile_bpmn.gateway_without_default(key="hostile_gateway_idem")
    assert _post_xml(client, "/api/v1/process-definitions", xml, admin).status_code == 201
    instance = start(client, officer, process_key="hostile_gateway_idem", data={"x": 3})
    fill = task_of(client, officer, instance["id"], "fill")
    headers = {**officer, "Idempotency-Key": "incident-once-1"}
    first = client.post(f"/api/v1/tasks/{fill['id']}/complete", json={"data": {}}, headers=headers)
    body = assert_error(first, 409, "incident_opened")
    _tried("automatic steps failing after a completion")
    replay = client.post(f"/api/v1/tasks/{fill['id']}/complete", json={"data": {}}, headers=headers)
    assert replay.status_code == 409 and replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.get_json() == body
    incident = client.get(f"/api/v1/incidents/{body['fields']['incident'][0]}", headers=admin).get_json()
    assert incident["status"] == "open" and incident["attempts"] == 1  # kept once, not doubled
