"""Instance operations over the REST API: permissions, reasons, suspend refusing completion, migration."""

from __future__ import annotations

from api.extensions import db
from engine.definitions import service as definitions
from tests.helpers import assert_error
from tests.procedures.cases import ApiCase
from tests.procedures.helpers import application, ca_variant

API = "/api/v1/process-instances"


def ca_case(client, login):
    case = ApiCase(client, login, "comprehensive_assistance", "310107014", viewer="pt_head")
    case.do("application", "pt_advisor", application())
    return case


def test_suspend_resume_terminate_over_the_api(client, login):
    case = ca_case(client, login)
    assert_error(
        client.post(f"{API}/{case.id}/suspend", json={"reason": "x"}, headers=login("pt_officer")), 403
    )
    assert_error(
        client.post(f"{API}/{case.id}/suspend", json={"reason": "x"}, headers=login("pd_district")), 403
    )
    body = assert_error(client.post(f"{API}/{case.id}/suspend", json={}, headers=login("pt_district")), 422)
    assert "reason" in body["fields"]
    ok = client.post(f"{API}/{case.id}/suspend", json={"reason": "核查"}, headers=login("pt_district"))
    assert ok.status_code == 200 and ok.json["status"] == "suspended"
    # a suspended case refuses completion
    assert_error(case.submit("acceptance", "pt_officer", {"accepted": True}), 409)
    assert_error(
        client.post(f"{API}/{case.id}/suspend", json={"reason": "again"}, headers=login("admin")), 409
    )
    ok = client.post(f"{API}/{case.id}/resume", json={"reason": "核查完毕"}, headers=login("admin"))
    assert ok.status_code == 200 and ok.json["status"] == "running"
    case.do("acceptance", "pt_officer", {"accepted": True})
    ok = client.post(f"{API}/{case.id}/terminate", json={"reason": "撤回"}, headers=login("admin"))
    assert ok.status_code == 200 and ok.json["status"] == "terminated"
    assert case.open() == []
    events = client.get(f"{API}/{case.id}/events", headers=login("admin")).json
    actions = [e["action"] for e in events]
    assert {"instance.suspended", "instance.resumed", "instance.terminated"} <= set(actions)


def test_move_back_edit_data_and_reassign_over_the_api(client, login):
    case = ca_case(client, login)
    case.do("acceptance", "pt_officer", {"accepted": True})
    admin = login("admin")
    bad = client.post(
        f"{API}/{case.id}/move-back", json={"task_element_id": "assessment", "reason": "x"}, headers=admin
    )
    assert "task_element_id" in assert_error(bad, 422)["fields"]
    ok = client.post(
        f"{API}/{case.id}/move-back",
        json={"task_element_id": "acceptance", "reason": "受理有误"},
        headers=admin,
    )
    assert ok.status_code == 200, ok.json
    assert case.open() == ["acceptance"]
    patch = client.patch(
        f"{API}/{case.id}/data", json={"set": {"household_size": 4}, "reason": "户籍变更"}, headers=admin
    )
    assert patch.status_code == 200, patch.json
    assert case.detail()["data"]["household_size"] == 4
    assert_error(
        client.patch(f"{API}/{case.id}/data", json={"set": {"a b": 1}, "reason": "x"}, headers=admin), 422
    )
    task = case.task("acceptance")
    moved = client.post(
        f"/api/v1/tasks/{task['id']}/reassign",
        json={"username": "pt_officer2", "reason": "原经办人休假"},
        headers=login("pt_district"),
    )
    assert moved.status_code == 200 and moved.json["assignee"] == "pt_officer2"
    assert_error(
        client.post(
            f"/api/v1/tasks/{task['id']}/reassign",
            json={"username": "pt_officer", "reason": "x"},
            headers=login("pt_head"),
        ),
        403,
    )


def test_migration_over_the_api(client, login):
    old = ca_case(client, login)
    at_investigation = ca_case(client, login)
    at_investigation.do("acceptance", "pt_officer", {"accepted": True})
    v1 = old.detail()["definition_version"]
    definition, _ = definitions.deploy(
        db.session(),
        ca_variant(rename="受理（新版）", deadline="7 working days", drop="home_investigation"),
        source="test",
    )
    db.session.commit()
    admin = login("admin")
    dry = client.post(
        f"{API}/{old.id}/migrate", json={"target_version": definition.version, "dry_run": True}, headers=admin
    )
    assert dry.json == {"id": old.id, "can_migrate": True, "migrated": False, "reasons": []}
    batch = client.post(
        "/api/v1/process-definitions/comprehensive_assistance/migrate",
        json={"from_version": v1, "to_version": definition.version, "dry_run": True},
        headers=admin,
    )
    assert {r["id"]: r["can_migrate"] for r in batch.json} == {old.id: True, at_investigation.id: False}
    done = client.post(
        "/api/v1/process-definitions/comprehensive_assistance/migrate",
        json={"from_version": v1, "to_version": definition.version, "dry_run": False, "reason": "新版"},
        headers=admin,
    )
    assert {r["id"]: r["migrated"] for r in done.json} == {old.id: True, at_investigation.id: False}
    detail = old.detail()
    assert detail["definition_version"] == definition.version
    assert (
        detail["open_tasks"][0]["name"] == "受理（新版）"
        and detail["open_tasks"][0]["deadline"] == "7 working days"
    )
    refused = client.post(
        f"{API}/{at_investigation.id}/migrate",
        json={"target_version": definition.version, "reason": "x"},
        headers=admin,
    )
    assert "home_investigation" in assert_error(refused, 409)["message"]
    missing = client.post(
        f"{API}/{old.id}/migrate", json={"target_version": 999, "reason": "x"}, headers=admin
    )
    assert "target_version" in assert_error(missing, 422)["fields"]
