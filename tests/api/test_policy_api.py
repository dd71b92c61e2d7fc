"""The policy parameters API: anyone logged in reads, admins add versions (422 per field, 403 for
others, nothing written on a refusal)."""

from __future__ import annotations

from api.extensions import db
from engine.policy.models import PolicyParameterSet
from tests.helpers import assert_error

URL = "/api/v1/policy-parameters"


def _count() -> int:
    return db.session.query(PolicyParameterSet).count()


def test_read_and_add_versions(client, login):
    officer, admin = login("pt_officer"), login("admin")
    listed = client.get(URL, headers=officer)
    assert listed.status_code == 200
    assert {"bridge_plan_project", "comprehensive_assistance", "twinning", "demo_assistance"} <= {
        row["process_key"] for row in listed.json
    }
    demo = client.get(f"{URL}/demo_assistance?on=2026-06-01", headers=officer).json
    assert demo["in_force"]["version"] == 1 and demo["in_force"]["values"] == {
        "district_review_threshold": 5000
    }
    assert demo["in_force"]["labels"]["district_review_threshold"].startswith("区级复核金额起点")

    latest = demo["versions"][0]["version"]
    added = client.post(
        f"{URL}/demo_assistance",
        json={
            "effective_from": "2027-01-01",
            "values": {"district_review_threshold": "8000.50"},
            "note": "2027",
        },
        headers=admin,
    )
    assert added.status_code == 201, added.json
    assert added.json["version"] == latest + 1 and added.json["values"] == {
        "district_review_threshold": "8000.50"
    }
    before_2027 = client.get(f"{URL}/demo_assistance?on=2026-12-31", headers=officer).json
    in_2027 = client.get(f"{URL}/demo_assistance?on=2027-01-01", headers=officer).json
    assert (before_2027["in_force"]["version"], in_2027["in_force"]["version"]) == (1, latest + 1)
    assert [v["version"] for v in in_2027["versions"]][:2] == [latest + 1, latest]


def test_refusals_write_nothing(client, login):
    officer, admin = login("pt_officer"), login("admin")
    before = _count()
    body = {"effective_from": "2027-01-01", "values": {"district_review_threshold": 1}}
    assert_error(client.post(f"{URL}/demo_assistance", json=body, headers=officer), 403)
    bad = assert_error(
        client.post(f"{URL}/demo_assistance", json={**body, "values": {"cap": True}}, headers=admin), 422
    )
    assert "values.cap" in bad["fields"]
    assert_error(client.post(f"{URL}/demo_assistance", json={"values": {"x": 1}}, headers=admin), 422)
    assert_error(
        client.post(f"{URL}/demo_assistance", json={**body, "effective_from": "1999-01-01"}, headers=admin),
        422,
    )
    assert_error(client.get(f"{URL}/no_such_procedure", headers=officer), 404)
    assert _count() == before
