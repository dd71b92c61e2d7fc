"""The decision tables API: admins deploy (422 with every problem, nothing written; an unchanged file
makes no version), lint and try a table; anyone logged in lists; a procedure naming an unknown decision is
refused by the process lint with the element's id and name."""

from __future__ import annotations

from pathlib import Path

from api.extensions import db
from engine.decisions.models import DecisionDefinition
from tests.helpers import assert_error

URL = "/api/v1/decisions"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "decisions"
XML = {"Content-Type": "application/xml"}


def _count() -> int:
    return db.session.query(DecisionDefinition).count()


def test_deploy_list_versions_and_try(client, login):
    admin, officer = login("admin"), login("pt_officer")
    listed = client.get(URL, headers=officer)
    assert listed.status_code == 200
    [ca] = [d for d in listed.json if d["key"] == "ca_approval_authority"]
    assert ca["name"] == "市民综合帮扶审批权限" and ca["versions"] >= 1 and "dmn_xml" not in ca

    body = (FIXTURES / "dmn_demo_level.dmn").read_bytes()
    assert client.post(URL, data=body, headers={**officer, **XML}).status_code == 403
    first = client.post(URL, data=body, headers={**admin, **XML})
    assert first.status_code == 201, first.json
    assert first.json["created"] and first.json["decision"]["key"] == "dmn_demo_level"
    again = client.post(URL, data=body, headers={**admin, **XML})
    assert again.status_code == 200 and not again.json["created"]
    v2 = client.post(URL, data=(FIXTURES / "dmn_demo_level_v2.dmn").read_bytes(), headers={**admin, **XML})
    assert v2.status_code == 201 and v2.json["decision"]["version"] == 2
    versions = client.get(f"{URL}/dmn_demo_level", headers=officer).json["versions"]
    assert [v["version"] for v in versions] == [2, 1]
    old_xml = client.get(f"{URL}/dmn_demo_level/xml?version=1", headers=officer)
    assert old_xml.status_code == 200 and old_xml.get_data() == body

    inputs = {"amount_requested": "6000.50", "hardship_category": "dibao_edge"}
    tried = client.post(
        f"{URL}/dmn_demo_level/evaluate", json={"inputs": inputs, "version": 1}, headers=admin
    )
    assert tried.status_code == 200, tried.json
    assert tried.json["result"] == {"review_level": "street", "level_cap": 20000}
    assert [m["row"] for m in tried.json["matched"]] == [2]
    latest = client.post(f"{URL}/dmn_demo_level/evaluate", json={"inputs": inputs}, headers=admin)
    assert latest.json["version"] == 2 and latest.json["result"]["review_level"] == "district"
    ca_try = client.post(
        f"{URL}/ca_approval_authority/evaluate",
        json={
            "inputs": {"proposed_amount": 25000, "needs_district_review": False},
            "process_key": "comprehensive_assistance",
        },
        headers=admin,
    )
    assert ca_try.json["result"] == {"approval_level": "district"}, ca_try.json
    assert (
        client.post(f"{URL}/dmn_demo_level/evaluate", json={"inputs": inputs}, headers=officer).status_code
        == 403
    )
    assert_error(client.get(f"{URL}/nope", headers=officer), 404)
    bad = client.post(
        f"{URL}/dmn_demo_level/evaluate", json={"inputs": {"amount_requested": "many"}}, headers=admin
    )
    assert "inputs" in assert_error(bad, 422)["fields"]


def test_refusals_write_nothing_and_name_every_problem(client, login):
    admin = login("admin")
    before = _count()
    text = (FIXTURES / "dmn_demo_level.dmn").read_text(encoding="utf-8")
    broken = text.replace("&lt;= 5000", "__import__('os')").replace('name="review_level"', 'name="1bad"')
    refused = client.post(URL, data=broken.encode(), headers={**admin, **XML})
    body = assert_error(refused, 422, "bpmn_invalid")
    messages = [p["message"] for p in body["problems"]]
    assert any("row 1: invalid input entry" in m for m in messages)
    assert any("is not a variable name" in m for m in messages)
    assert _count() == before
    lint = client.post(f"{URL}/lint", data=broken.encode(), headers={**admin, **XML})
    assert lint.status_code == 200 and lint.json["ok"] is False and len(lint.json["problems"]) == 2

    process = client.post(
        "/api/v1/process-definitions/lint",
        data=(FIXTURES / "dmn_demo.bpmn").read_bytes(),
        headers={**admin, **XML},
    )
    [problem] = process.json["errors"]
    assert (problem["element"], problem["name"]) == ("decide_level", "判定审批层级")
    assert "unknown decision 'dmn_demo_level'" in problem["message"]
