"""Process administration through the API: lint, versions with counts, conformance and hostile uploads."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.extensions import db
from engine.bpmn.parsing import MAX_BPMN_BYTES
from engine.models import AuditEvent, ProcessDefinition
from tests.helpers import CONFORMANCE_EXPECTED, assert_error, conformance_files, start

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "bpmn"


def _counts() -> dict[str, int]:
    with Session(db.engine) as s:  # committed state only
        return {
            m.__tablename__: s.scalar(select(func.count()).select_from(m))
            for m in (ProcessDefinition, AuditEvent)
        }


def test_every_conformance_file_has_an_expected_outcome():
    assert sorted(f"{p.parent.name}/{p.name}" for p in conformance_files()) == sorted(CONFORMANCE_EXPECTED)


@pytest.mark.parametrize("path", conformance_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_conformance_deploy_refused_with_named_problem_and_nothing_stored(client, login, path):
    admin = login("admin")
    fragment, element = CONFORMANCE_EXPECTED[f"{path.parent.name}/{path.name}"]
    before = _counts()
    response = client.post(
        "/api/v1/process-definitions",
        data={"file": (io.BytesIO(path.read_bytes()), path.name)},
        headers=admin,
    )
    body = assert_error(response, 422, "bpmn_invalid")
    assert any(fragment in p["message"] and p["element"] == element for p in body["problems"]), body[
        "problems"
    ]
    assert _counts() == before
    linted = client.post(
        "/api/v1/process-definitions/lint",
        data={"file": (io.BytesIO(path.read_bytes()), path.name)},
        headers=admin,
    )
    assert linted.status_code == 200 and linted.json["ok"] is False
    assert linted.json["errors"] == body["problems"]  # the deploy's refusal lists every error too
    assert linted.json["problems"] == [*linted.json["errors"], *linted.json["warnings"]]
    assert all(p["severity"] == "error" for p in linted.json["errors"])
    assert all(p["severity"] == "warning" for p in linted.json["warnings"])
    assert all(p["message_zh"] and p["message_en"] and "name" in p for p in linted.json["problems"])


BOUNDARY = "assistflow-test-boundary"


def _multipart(name: str, data: bytes) -> bytes:
    """A multipart body built by hand (the test client would spool a large one to an unclosed file)."""
    head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n\r\n'
    return head.encode() + data + f"\r\n--{BOUNDARY}--\r\n".encode()


DOCTYPE_ONLY = (
    b'<?xml version="1.0"?><!DOCTYPE definitions SYSTEM "http://example.invalid/bpmn.dtd">'
    b'<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"/>'
)
WRONG_ROOT = b'<?xml version="1.0"?><process xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="p"/>'
OVERSIZED = (
    (FIXTURES / "lint" / "clean.bpmn")
    .read_bytes()
    .replace(b"</bpmn:definitions>", b"<!--" + b"x" * (MAX_BPMN_BYTES + 1) + b"--></bpmn:definitions>")
)


@pytest.mark.parametrize(
    ("name", "data", "status", "reason"),
    [
        ("xxe.bpmn", (FIXTURES / "xxe.bpmn").read_bytes(), 422, "DOCTYPE"),
        ("billion_laughs.bpmn", (FIXTURES / "billion_laughs.bpmn").read_bytes(), 422, "DOCTYPE"),
        ("dtd.bpmn", DOCTYPE_ONLY, 422, "DOCTYPE"),
        ("big.bpmn", OVERSIZED, 413, "file larger than"),
        ("notes.bpmn", b"just some text, not XML", 422, "not well-formed XML"),
        ("wrong_root.bpmn", WRONG_ROOT, 422, "root element must be BPMN definitions"),
    ],
)
def test_hostile_xml_refused_on_deploy_and_lint_and_nothing_stored(client, login, name, data, status, reason):
    admin = login("admin")
    before = _counts()
    for url in ("/api/v1/process-definitions", "/api/v1/process-definitions/lint"):
        upload = client.post(
            url,
            data=_multipart(name, data),
            headers={**admin, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
        )
        raw = client.post(url, data=data, headers={**admin, "Content-Type": "application/xml"})
        for response in (upload, raw):
            if url.endswith("/lint") and status == 422:
                assert response.status_code == 200 and response.json["ok"] is False
                problems = response.json["problems"]
            else:
                body = assert_error(response, status)
                problems = body["problems"]
            assert any(reason in p["message"] for p in problems), problems
            text = response.get_data(as_text=True)
            assert "root:" not in text and "lol" not in text and len(text) < 10_000
    assert _counts() == before


def test_lint_endpoint_admin_only_and_reports_problems(client, login):
    admin = login("admin")
    clean = (FIXTURES / "lint" / "clean.bpmn").read_bytes()
    ok = client.post(
        "/api/v1/process-definitions/lint", data=clean, headers={**admin, "Content-Type": "application/xml"}
    )
    assert ok.status_code == 200
    assert ok.json == {"ok": True, "draft": False, "problems": [], "errors": [], "warnings": []}
    dead = (FIXTURES / "lint" / "dead_end.bpmn").read_bytes()
    bad = client.post(
        "/api/v1/process-definitions/lint", data={"file": (io.BytesIO(dead), "d.bpmn")}, headers=admin
    )
    assert bad.status_code == 200 and bad.json["ok"] is False
    stuck = {
        "message": "死胡同 / dead end: a flow node other than an end event has no outgoing flow",
        "message_zh": "死胡同",
        "message_en": "dead end: a flow node other than an end event has no outgoing flow",
        "element": "stuck",
        "name": "无出口",
        "line": 8,
        "severity": "error",
    }
    assert bad.json["problems"] == bad.json["errors"] == [stuck] and bad.json["warnings"] == []
    before = _counts()
    for user in ("pt_officer", "pt_head", "pt_district"):
        assert_error(
            client.post(
                "/api/v1/process-definitions/lint",
                data=clean,
                headers={**login(user), "Content-Type": "application/xml"},
            ),
            403,
        )
    assert_error(client.post("/api/v1/process-definitions/lint", json={"x": 1}, headers=admin), 422)
    assert _counts() == before


def test_versions_carry_deployer_date_and_running_counts_in_one_query(client, login, app):
    admin = login("admin")
    advisor = login("pt_advisor")
    start(client, advisor)
    start(client, advisor)
    changed = (
        (ROOT / "processes" / "demo_assistance.bpmn")
        .read_bytes()
        .replace("填写帮扶申请".encode(), "填写帮扶申请（二版）".encode())
    )
    deployed = client.post(
        "/api/v1/process-definitions", data=changed, headers={**admin, "Content-Type": "application/xml"}
    )
    assert deployed.status_code == 201, deployed.json
    start(client, advisor)
    from sqlalchemy import event

    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        versions = client.get("/api/v1/process-definitions/demo_assistance", headers=advisor).json["versions"]
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert [(v["version"], v["deployed_by"], v["running_instances"]) for v in versions] == [
        (2, "admin", 1),
        (1, None, 2),
    ]
    assert all(v["deployed_at"] for v in versions)
    definition_queries = [s for s in statements if "process_definition" in s and "bpmn_xml" not in s]
    assert len(definition_queries) == 1, statements
    assert not any("bpmn_xml" in s for s in statements), "the XML is not loaded for a listing"


def test_lint_endpoint_returns_warnings_that_do_not_block_a_deploy(client, login):
    """Issue 18 item 12: an unbounded timer cycle (R/… without a count) is a warning: ``ok`` stays true
    (deployable) and a deploy goes through; a cycle under the minimum is still an error."""
    from tests import hostile_bpmn

    admin = login("admin")
    xml_headers = {**admin, "Content-Type": "application/xml"}
    hourly = hostile_bpmn.timer_after_fill("timeCycle", "R/PT2H")
    linted = client.post("/api/v1/process-definitions/lint", data=hourly, headers=xml_headers)
    assert linted.status_code == 200 and linted.json["ok"] is True, linted.json
    [warning] = linted.json["problems"]
    assert linted.json["warnings"] == [warning] and linted.json["errors"] == []
    assert warning["severity"] == "warning" and warning["element"] == "wait" and warning["line"] == 7
    assert (
        warning["message"].startswith("循环计时器没有次数上限")
        and "unbounded cycle 'R/PT2H'" in warning["message"]
    )
    counted = client.post(
        "/api/v1/process-definitions/lint",
        data=hostile_bpmn.timer_after_fill("timeCycle", "R3/PT2H"),
        headers=xml_headers,
    )
    assert counted.json["ok"] is True and counted.json["problems"] == counted.json["warnings"] == []
    every_second = client.post(
        "/api/v1/process-definitions/lint",
        data=hostile_bpmn.timer_after_fill("timeCycle", "R/PT1S"),
        headers=xml_headers,
    )
    assert every_second.json["ok"] is False
    assert [p["severity"] for p in every_second.json["problems"]] == ["error", "warning"]
    assert "3600 s" in every_second.json["problems"][0]["message"]
    deployed = client.post("/api/v1/process-definitions", data=hourly, headers=xml_headers)
    assert deployed.status_code == 201, deployed.json


def test_lint_endpoint_refuses_a_constant_deadline_too_long_with_element_and_line(client, login):
    admin = login("admin")
    before = _counts()
    xml = (
        (FIXTURES / "lint" / "clean.bpmn")
        .read_bytes()
        .replace(b'value="5 working days"', b'value="PT99999999999H"')
    )
    assert b"PT99999999999H" in xml
    headers = {**admin, "Content-Type": "application/xml"}
    linted = client.post("/api/v1/process-definitions/lint", data=xml, headers=headers)
    assert linted.status_code == 200 and linted.json["ok"] is False
    [problem] = linted.json["problems"]
    assert problem["element"] == "confirm" and problem["line"] == 6 and problem["severity"] == "error"
    assert "PT99999999999H" in problem["message"] and "too long" in problem["message"]
    body = assert_error(
        client.post("/api/v1/process-definitions", data=xml, headers=headers), 422, "bpmn_invalid"
    )
    assert body["problems"] == linted.json["problems"]
    assert _counts() == before
