"""A Camunda Modeler diagram deployed through the API and run to its end: the starter's own step lands
in their queue, candidate groups and users reach the right inboxes, dueDate gives a deadline, the
ignored attributes are lint warnings."""

from __future__ import annotations

from tests.conftest import ROOT
from tests.helpers import STREET

FILE = ROOT / "tests" / "fixtures" / "bpmn" / "camunda" / "camunda_modeler_review.bpmn"
XML = {"Content-Type": "application/xml"}


def _open(client, headers, instance_id):
    return client.get(f"/api/v1/process-instances/{instance_id}", headers=headers).json


def test_a_camunda_modeler_diagram_deploys_and_runs(client, login):
    admin = login("admin")
    linted = client.post("/api/v1/process-definitions/lint", data=FILE.read_bytes(), headers={**admin, **XML})
    assert linted.status_code == 200 and linted.json["ok"] is True and linted.json["errors"] == []
    assert {w["element"] for w in linted.json["warnings"]} == {"camunda_review", "review", "sign"}
    deployed = client.post("/api/v1/process-definitions", data=FILE.read_bytes(), headers={**admin, **XML})
    assert deployed.status_code == 201, deployed.json

    # the starter holds a role with a step in the procedure (street_officer: "review"); the first step
    # is the starter's own, the review is any street officer's
    advisor, officer, head = login("pt_officer"), login("pt_officer2"), login("pt_head")
    started = client.post(
        "/api/v1/process-instances",
        json={"process_key": "camunda_review", "org_unit": STREET},
        headers=advisor,
    )
    assert started.status_code == 201, started.json
    case = started.json
    [fill] = case["open_tasks"]
    # camunda:assignee="${starter}", camunda:initiator="starter": claimed by the starter, in their queue
    assert (fill["bpmn_id"], fill["state"], fill["assignee"]) == ("fill", "claimed", "pt_officer")
    mine = client.get("/api/v1/tasks?scope=mine", headers=advisor).json
    assert fill["id"] in [t["id"] for t in mine["items"]]
    assert _open(client, advisor, case["id"])["data"]["starter"] == "pt_officer"
    detail = client.get(f"/api/v1/tasks/{fill['id']}", headers=advisor).json
    assert detail["form"]["key"] == "demo_review"  # embedded:app:forms/demo-review.html
    # nobody else may do the starter's step
    refused = client.post(
        f"/api/v1/tasks/{fill['id']}/complete",
        json={"data": {"decision": "approve", "amount_approved": "100.00", "opinion": "同意"}},
        headers=officer,
    )
    assert refused.status_code in (403, 409)
    done = client.post(
        f"/api/v1/tasks/{fill['id']}/complete",
        json={"data": {"decision": "approve", "amount_approved": "100.00", "opinion": "同意申请"}},
        headers=advisor,
    )
    assert done.status_code == 200, done.json
    [review] = done.json["next_tasks"]
    assert review["bpmn_id"] == "review" and review["candidate_role"] == "street_officer"
    assert review["due_at"] is not None  # camunda:dueDate ${dateTime().plusDays(3).toDate()}
    claimable = client.get("/api/v1/tasks?scope=claimable", headers=officer).json
    assert review["id"] in [t["id"] for t in claimable["items"]]
    reviewed = client.post(
        f"/api/v1/tasks/{review['id']}/complete",
        json={"data": {"decision": "approve", "amount_approved": "100.00", "opinion": "情况属实"}},
        headers=officer,
    )
    assert reviewed.status_code == 200, reviewed.json
    [sign] = reviewed.json["next_tasks"]
    assert sign["candidate_role"] == "street_head" and sign["assignee"] is None  # assignee="jdoe" ignored
    signed = client.post(f"/api/v1/tasks/{sign['id']}/complete", json={"data": {}}, headers=head)
    assert signed.status_code == 200, signed.json
    final = _open(client, advisor, case["id"])
    assert final["status"] == "completed"
    events = client.get(f"/api/v1/process-instances/{case['id']}/events", headers=advisor).json
    assigned = [e for e in events if e["action"] == "task.assigned"]
    assert len(assigned) == 1 and assigned[0]["details"]["reason"] == "initiator"
