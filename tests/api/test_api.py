"""The REST API through the Flask test client: every endpoint and every error code."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.factories import application_data, disbursement_data, review_data, visit_data
from tests.helpers import CONFORMANCE, CONFORMANCE_EXPECTED, assert_error, conformance_id, start, task_of

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "bpmn"
STREET = "310107014"


# --- health, auth ------------------------------------------------------------------------------


def test_health(client):
    response = client.get("/api/v1/health")
    assert response.status_code == 200 and response.json["status"] == "ok"


def test_login_and_me(client, login):
    me = client.get("/api/v1/auth/me", headers=login("pt_officer")).json
    assert me["username"] == "pt_officer"
    assert me["roles"] == [{"role": "street_officer", "org_unit": STREET}]


def test_wrong_password_401(client):
    body = assert_error(
        client.post("/api/v1/auth/token", json={"username": "pt_officer", "password": "nope"}), 401
    )
    assert "密码" in body["message"]
    assert_error(client.post("/api/v1/auth/token", json={"username": "ghost", "password": "x"}), 401)


def test_missing_or_bad_token_401(client):
    assert_error(client.get("/api/v1/tasks"), 401, "unauthorized")
    assert_error(client.get("/api/v1/tasks", headers={"Authorization": "Bearer nonsense"}), 401)


def test_logout_revokes_token(client):
    token = client.post(
        "/api/v1/auth/token", json={"username": "pt_head", "password": "test-password-1"}
    ).json["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    assert client.delete("/api/v1/auth/token", headers=headers).status_code == 204
    assert_error(client.get("/api/v1/auth/me", headers=headers), 401)


def test_malformed_json_400(client, login):
    response = client.post(
        "/api/v1/process-instances",
        data="{not json",
        headers={**login("pt_advisor"), "Content-Type": "application/json"},
    )
    assert_error(response, 400)


def test_schema_errors_422_per_field(client, login):
    response = client.post(
        "/api/v1/process-instances", json={"org_unit": 5, "extra": 1}, headers=login("pt_advisor")
    )
    body = assert_error(response, 422, "validation_failed")
    assert set(body["fields"]) >= {"process_key", "org_unit", "extra"}


# --- definitions -------------------------------------------------------------------------------


def test_definitions_list_versions_xml(client, login):
    headers = login("pt_officer")
    listing = client.get("/api/v1/process-definitions", headers=headers).json
    demo = next(d for d in listing if d["key"] == "demo_assistance")
    assert demo["version"] == 1 and demo["versions"] == 1 and len(demo["sha256"]) == 64
    versions = client.get("/api/v1/process-definitions/demo_assistance", headers=headers).json
    assert [v["version"] for v in versions["versions"]] == [1]
    xml = client.get("/api/v1/process-definitions/demo_assistance/xml?version=1", headers=headers)
    assert xml.status_code == 200 and xml.mimetype == "application/xml" and b"demo_assistance" in xml.data
    assert_error(client.get("/api/v1/process-definitions/nope", headers=headers), 404)
    assert_error(
        client.get("/api/v1/process-definitions/demo_assistance/xml?version=9", headers=headers), 404
    )
    assert_error(
        client.get("/api/v1/process-definitions/demo_assistance/xml?version=x", headers=headers), 422
    )


def _demo_xml() -> bytes:
    return (ROOT / "processes" / "demo_assistance.bpmn").read_bytes()


def test_deploy_new_version_unchanged_and_running_instances_keep_theirs(client, login):
    admin = login("admin")
    advisor = login("pt_advisor")
    old = start(client, advisor)
    changed = _demo_xml().replace("填写帮扶申请".encode(), "填写帮扶申请（新版）".encode())
    response = client.post(
        "/api/v1/process-definitions",
        data={"file": (__import__("io").BytesIO(changed), "demo.bpmn")},
        headers=admin,
    )
    assert response.status_code == 201, response.json
    assert response.json["created"] is True and response.json["definition"]["version"] == 2
    again = client.post(
        "/api/v1/process-definitions", data=changed, headers={**admin, "Content-Type": "application/xml"}
    )
    assert (
        again.status_code == 200
        and again.json["created"] is False
        and again.json["definition"]["version"] == 2
    )
    new = start(client, advisor)
    assert new["definition_version"] == 2 and new["open_tasks"][0]["name"] == "填写帮扶申请（新版）"
    refreshed = client.get(f"/api/v1/process-instances/{old['id']}", headers=advisor).json
    assert refreshed["definition_version"] == 1 and refreshed["open_tasks"][0]["name"] == "填写帮扶申请"


def test_deploy_refusals(client, login):
    admin = login("admin")
    before = client.get("/api/v1/process-definitions", headers=admin).json
    for name in (
        "unsafe_condition.bpmn",
        "unsafe_script.bpmn",
        "no_role.bpmn",
        "xxe.bpmn",
        "billion_laughs.bpmn",
    ):
        response = client.post(
            "/api/v1/process-definitions",
            data=(FIXTURES / name).read_bytes(),
            headers={**admin, "Content-Type": "application/xml"},
        )
        body = assert_error(response, 422, "bpmn_invalid")
        assert body["problems"], name
    assert client.get("/api/v1/process-definitions", headers=admin).json == before, "nothing stored"
    assert_error(client.post("/api/v1/process-definitions", json={"x": 1}, headers=admin), 422)
    officer = login("pt_officer")
    assert_error(
        client.post(
            "/api/v1/process-definitions",
            data=_demo_xml(),
            headers={**officer, "Content-Type": "application/xml"},
        ),
        403,
    )


def test_deploy_names_the_element(client, login):
    response = client.post(
        "/api/v1/process-definitions",
        data=(FIXTURES / "unsafe_condition.bpmn").read_bytes(),
        headers={**login("admin"), "Content-Type": "application/xml"},
    )
    body = assert_error(response, 422)
    assert any(p["element"] == "gw" for p in body["problems"]) and "gw" in body["message"]


def test_oversized_body_413(client, login):
    big = b"<x>" + b" " * (6 * 1024 * 1024) + b"</x>"
    response = client.post(
        "/api/v1/process-definitions", data=big, headers={**login("admin"), "Content-Type": "application/xml"}
    )
    assert_error(response, 413)


# --- instances and tasks -----------------------------------------------------------------------


def test_full_case_through_the_api(client, login):
    advisor, officer, finance = login("pt_advisor"), login("pt_officer"), login("pt_finance")
    instance = start(client, advisor, business_key="CASE-1")
    assert instance["status"] == "running" and instance["org_unit"] == STREET
    assert [t["bpmn_id"] for t in instance["open_tasks"]] == ["application"]
    application = instance["open_tasks"][0]

    detail = client.get(f"/api/v1/tasks/{application['id']}", headers=advisor).json
    assert detail["form"]["key"] == "demo_application" and detail["data"] == {}

    claimed = client.post(f"/api/v1/tasks/{application['id']}/claim", headers=advisor)
    assert claimed.status_code == 200 and claimed.json["assignee"] == "pt_advisor"
    mine = client.get("/api/v1/tasks?scope=mine", headers=advisor).json
    assert [t["id"] for t in mine["items"]] == [application["id"]] and mine["meta"]["total"] == 1

    done = client.post(
        f"/api/v1/tasks/{application['id']}/complete", json={"data": application_data()}, headers=advisor
    )
    assert done.status_code == 200 and done.json["state"] == "completed"
    # the answer names the case's next open task, so a client needs no second request to find it
    (following,) = done.json["next_tasks"]
    assert (following["bpmn_id"], following["state"]) == ("review", "ready")

    review = task_of(client, officer, instance["id"], "review")
    assert review["id"] == following["id"]
    claimable = client.get("/api/v1/tasks?scope=claimable", headers=officer).json
    assert review["id"] in [t["id"] for t in claimable["items"]]
    review_detail = client.get(f"/api/v1/tasks/{review['id']}", headers=officer).json
    assert review_detail["data"]["amount_requested"] == "6000.50"
    reviewed = client.post(
        f"/api/v1/tasks/{review['id']}/complete", json={"data": review_data()}, headers=officer
    )
    assert sorted(t["bpmn_id"] for t in reviewed.json["next_tasks"]) == ["disbursement", "visit"]

    disb = task_of(client, finance, instance["id"], "disbursement")
    visit = task_of(client, advisor, instance["id"], "visit")
    client.post(f"/api/v1/tasks/{disb['id']}/complete", json={"data": disbursement_data()}, headers=finance)
    last = client.post(f"/api/v1/tasks/{visit['id']}/complete", json={"data": visit_data()}, headers=advisor)
    assert last.status_code == 200 and last.json["next_tasks"] == []

    final = client.get(f"/api/v1/process-instances/{instance['id']}", headers=advisor).json
    assert final["status"] == "completed" and final["open_tasks"] == [] and final["ended_at"]
    assert final["data"]["amount_paid"] == "5000.00"
    events = client.get(f"/api/v1/process-instances/{instance['id']}/events", headers=advisor).json
    actions = [e["action"] for e in events]
    assert actions[0] == "instance.started" and actions[-1] == "instance.completed"
    assert "task.claimed" in actions and actions.count("task.completed") == 4
    completed = [e for e in events if e["action"] == "task.completed"]
    assert completed[0]["details"]["data"]["amount_requested"] == "6000.50"


def test_complete_validation_422_per_field_and_nothing_changes(client, login):
    advisor = login("pt_advisor")
    instance = start(client, advisor)
    task_id = instance["open_tasks"][0]["id"]
    bad = application_data(
        household_size=0, amount_requested="12.345", credit_commitment_signed=False, bogus="x"
    )
    body = assert_error(
        client.post(f"/api/v1/tasks/{task_id}/complete", json={"data": bad}, headers=advisor), 422
    )
    assert set(body["fields"]) >= {"household_size", "amount_requested", "credit_commitment_signed", "bogus"}
    after = client.get(f"/api/v1/process-instances/{instance['id']}", headers=advisor).json
    assert after["version"] == instance["version"] and after["open_tasks"][0]["state"] == "ready"
    events = client.get(f"/api/v1/process-instances/{instance['id']}/events", headers=advisor).json
    assert "task.completed" not in [e["action"] for e in events]
    assert_error(client.post(f"/api/v1/tasks/{task_id}/complete", json={}, headers=advisor), 422)
    assert_error(client.post(f"/api/v1/tasks/{task_id}/complete", json={"data": [1]}, headers=advisor), 422)


def test_409_on_completed_task_and_claim_conflict(client, login):
    advisor, advisor2 = login("pt_advisor"), login("pt_advisor2")
    instance = start(client, advisor)
    task_id = instance["open_tasks"][0]["id"]
    assert client.post(f"/api/v1/tasks/{task_id}/claim", headers=advisor).status_code == 200
    assert_error(client.post(f"/api/v1/tasks/{task_id}/claim", headers=advisor2), 409, "conflict")
    client.post(f"/api/v1/tasks/{task_id}/complete", json={"data": application_data()}, headers=advisor)
    assert_error(
        client.post(f"/api/v1/tasks/{task_id}/complete", json={"data": application_data()}, headers=advisor),
        409,
    )
    assert_error(client.post(f"/api/v1/tasks/{task_id}/unclaim", headers=advisor), 409)


def test_unclaim_and_assign(client, login):
    advisor, head = login("pt_advisor"), login("pt_head")
    instance = start(client, advisor)
    task_id = instance["open_tasks"][0]["id"]
    client.post(f"/api/v1/tasks/{task_id}/claim", headers=advisor)
    unclaimed = client.post(f"/api/v1/tasks/{task_id}/unclaim", headers=advisor)
    assert (
        unclaimed.status_code == 200
        and unclaimed.json["state"] == "ready"
        and unclaimed.json["assignee"] is None
    )
    assert_error(
        client.post(f"/api/v1/tasks/{task_id}/assign", json={"username": "pt_advisor2"}, headers=advisor), 403
    )
    body = assert_error(
        client.post(f"/api/v1/tasks/{task_id}/assign", json={"username": "pt_officer"}, headers=head), 422
    )
    assert "username" in body["fields"]
    assigned = client.post(f"/api/v1/tasks/{task_id}/assign", json={"username": "pt_advisor2"}, headers=head)
    assert assigned.status_code == 200 and assigned.json["assignee"] == "pt_advisor2"
    assert_error(client.post(f"/api/v1/tasks/{task_id}/assign", json={}, headers=head), 422)


def test_scope_403_and_404(client, login):
    advisor = login("pt_advisor")
    instance = start(client, advisor)
    task_id = instance["open_tasks"][0]["id"]
    other = login("pd_advisor")
    assert_error(client.get(f"/api/v1/tasks/{task_id}", headers=other), 403, "forbidden")
    assert_error(client.post(f"/api/v1/tasks/{task_id}/claim", headers=other), 403)
    assert_error(client.get(f"/api/v1/process-instances/{instance['id']}", headers=other), 403)
    assert_error(client.get(f"/api/v1/process-instances/{instance['id']}/events", headers=other), 403)
    assert_error(client.get("/api/v1/tasks/999999", headers=advisor), 404, "not_found")
    assert_error(client.get("/api/v1/process-instances/999999", headers=advisor), 404)
    assert_error(client.post("/api/v1/tasks/999999/claim", headers=advisor), 404)
    listing = client.get("/api/v1/process-instances", headers=other).json
    assert instance["id"] not in [i["id"] for i in listing["items"]]
    assert (
        client.get("/api/v1/tasks?scope=all", headers=login("pt_other_street_officer")).json["meta"]["total"]
        == 0
    )
    # starting in a unit outside one's grants
    body = {"process_key": "demo_assistance", "org_unit": "310115004"}
    assert_error(client.post("/api/v1/process-instances", json=body, headers=advisor), 403)


def test_start_errors(client, login):
    advisor = login("pt_advisor")
    assert_error(
        client.post(
            "/api/v1/process-instances", json={"process_key": "nope", "org_unit": STREET}, headers=advisor
        ),
        404,
    )
    assert_error(
        client.post(
            "/api/v1/process-instances",
            json={"process_key": "demo_assistance", "org_unit": "000"},
            headers=advisor,
        ),
        404,
    )
    body = assert_error(
        client.post(
            "/api/v1/process-instances",
            json={"process_key": "demo_assistance", "org_unit": STREET, "data": {"bad key": 1}},
            headers=advisor,
        ),
        422,
    )
    assert "data.bad key" in body["fields"]


def test_list_filters_and_pagination(client, login):
    advisor = login("pt_advisor")
    ids = [start(client, advisor)["id"] for _ in range(3)]
    page = client.get(
        "/api/v1/process-instances?per_page=2&page=1&process_key=demo_assistance", headers=advisor
    ).json
    assert page["meta"] == {"page": 1, "per_page": 2, "total": 3} and len(page["items"]) == 2
    assert {i["id"] for i in page["items"]} <= set(ids)
    assert (
        client.get("/api/v1/process-instances?status=completed", headers=advisor).json["meta"]["total"] == 0
    )
    assert (
        client.get(f"/api/v1/process-instances?org_unit={STREET}", headers=advisor).json["meta"]["total"] == 3
    )
    tasks = client.get("/api/v1/tasks?scope=claimable&per_page=2&sort=created", headers=advisor).json
    assert tasks["meta"]["total"] == 3 and len(tasks["items"]) == 2
    filtered = client.get("/api/v1/tasks?process_key=auto_loop", headers=advisor).json
    assert filtered["meta"]["total"] == 0
    assert_error(client.get("/api/v1/tasks?scope=everything", headers=advisor), 422)
    assert_error(client.get("/api/v1/tasks?per_page=100000", headers=advisor), 422)
    assert_error(client.get("/api/v1/process-instances?status=weird", headers=advisor), 422)


def test_unknown_route_and_method(client, login):
    assert_error(client.get("/api/v1/nowhere", headers=login("pt_advisor")), 404)
    assert_error(client.put("/api/v1/health"), 405)


def test_openapi_document(client):
    spec = client.get("/api/openapi.json").json
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]
    for path in (
        "/api/v1/auth/token",
        "/api/v1/process-definitions",
        "/api/v1/process-definitions/{key}",
        "/api/v1/process-definitions/{key}/xml",
        "/api/v1/process-instances",
        "/api/v1/process-instances/{instance_id}",
        "/api/v1/process-instances/{instance_id}/events",
        "/api/v1/tasks",
        "/api/v1/tasks/{task_id}",
        "/api/v1/tasks/{task_id}/claim",
        "/api/v1/tasks/{task_id}/unclaim",
        "/api/v1/tasks/{task_id}/complete",
        "/api/v1/tasks/{task_id}/assign",
    ):
        assert path in paths, path
    assert "StartArgs" in spec["components"]["schemas"]


@pytest.mark.parametrize("folder", ["malformed", "miwg-reference"])
def test_conformance_deploys_refused_with_a_reason(client, login, folder):
    admin = login("admin")
    for file in sorted((CONFORMANCE / folder).iterdir()):
        with file.open("rb") as data:
            response = client.post(
                "/api/v1/process-definitions", data={"file": (data, file.name)}, headers=admin
            )
        assert response.status_code == 422, (file.name, response.status_code, response.json)
        assert response.json["error"] == "bpmn_invalid" and response.json["message"], file.name
        fragment, _element = CONFORMANCE_EXPECTED[conformance_id(file)]
        assert any(fragment in p["message"] for p in response.json["problems"]), file.name
