"""``/api/v1/process-definitions/<key>/diff``: a candidate against a deployed version, or two versions."""

from __future__ import annotations

from api.extensions import db
from engine.definitions import service as definitions
from tests.conftest import ROOT

KEY = "comprehensive_assistance"
URL = f"/api/v1/process-definitions/{KEY}/diff"
CA = (ROOT / "processes" / "comprehensive_assistance.bpmn").read_bytes()
EDITED = (ROOT / "tests" / "fixtures" / "modeler" / "ca_edited_in_browser.bpmn").read_bytes()
XML = {"Content-Type": "application/xml"}


def _deploy_edited() -> int:
    definition, created = definitions.deploy(db.session(), EDITED, source="test")
    assert created
    db.session.commit()
    return definition.version


def test_candidate_against_the_latest_version(client, login):
    latest = definitions.latest(db.session(), KEY).version
    response = client.post(URL, data=EDITED, headers={**login("admin"), **XML})
    assert response.status_code == 200, response.json
    body = response.json
    assert (body["key"], body["from_version"], body["to_version"]) == (KEY, latest, None)
    assert body["added"] == [] and body["removed"] == []
    changed = {e["id"]: e for e in body["changed"]}
    assert set(changed) == {
        "application",
        "Lane_district_officer",
        "district_approval",
        # the district's help-first approval sits in the same lane (notice 002: above the street cap)
        "emergency_district_approval",
        "gw_emergency_approved",
        "f_gw_accept_gw_rejected",
    }
    assert {"attribute": "deadline", "old": "3 working days", "new": "5 working days"} in changed[
        "application"
    ]["changes"]
    assert changed["application"]["type"] == "userTask"


def test_candidate_as_an_uploaded_file_and_against_a_given_version(client, login):
    new = _deploy_edited()
    response = client.post(
        f"{URL}?against={new - 1}",
        data={"file": (__import__("io").BytesIO(CA), "ca.bpmn")},
        headers=login("admin"),
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, response.json
    assert response.json["from_version"] == new - 1
    assert response.json["changed"] == []
    against_new = client.post(URL, data=CA, headers={**login("admin"), **XML}).json
    assert against_new["from_version"] == new
    assert {e["id"] for e in against_new["changed"]} >= {"application"}


def test_two_deployed_versions(client, login):
    new = _deploy_edited()
    body = client.get(f"{URL}?from={new - 1}&to={new}", headers=login("admin")).json
    assert (body["from_version"], body["to_version"]) == (new - 1, new)
    assert "application" in {e["id"] for e in body["changed"]}
    default = client.get(URL, headers=login("admin")).json  # latest against the one before
    assert (default["from_version"], default["to_version"], default["changed"]) == (
        new - 1,
        new,
        body["changed"],
    )
    reverse = client.get(f"{URL}?from={new}&to={new - 1}", headers=login("admin")).json
    (app,) = [e for e in reverse["changed"] if e["id"] == "application"]
    assert {"attribute": "name", "old": "帮扶申请登记（网上）", "new": "帮扶申请登记"} in app["changes"]


def test_refusals_are_clear_4xx(client, login):
    admin = login("admin")
    only_version = client.get("/api/v1/process-definitions/twinning", headers=admin).json["versions"]
    assert len(only_version) == 1
    first = client.get("/api/v1/process-definitions/twinning/diff", headers=admin)
    assert first.status_code == 422 and "from" in first.json["fields"]
    assert client.get(f"{URL}?from=999", headers=admin).status_code == 404
    assert client.get(f"{URL}?from=0", headers=admin).status_code == 422
    assert client.get("/api/v1/process-definitions/nope/diff", headers=admin).status_code == 404
    assert (
        client.post("/api/v1/process-definitions/nope/diff", data=CA, headers={**admin, **XML}).status_code
        == 404
    )
    broken = client.post(URL, data=b"<bpmn:definitions", headers={**admin, **XML})
    assert broken.status_code == 422 and broken.json["error"] == "bpmn_invalid"
    assert "not well-formed" in broken.json["problems"][0]["message"]
    hostile = client.post(URL, data=b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', headers={**admin, **XML})
    assert hostile.status_code == 422 and "DOCTYPE" in hostile.json["message"]
    no_body = client.post(URL, json={}, headers=admin)
    assert no_body.status_code == 422 and "file" in no_body.json["fields"]


def test_only_admins(client, login):
    for username in ("pt_officer", "pt_district", "city"):
        headers = login(username)
        assert client.post(URL, data=CA, headers={**headers, **XML}).status_code == 403
        assert client.get(URL, headers=headers).status_code == 403
    assert client.get(URL).status_code == 401
