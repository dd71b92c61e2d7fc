"""A restart loses nothing: a second app on the same database carries the case on."""

from __future__ import annotations

from api import create_app
from engine.definitions import service as definitions
from tests.conftest import DB_URL
from tests.factories import application_data


def test_restart_continues_the_case(client, login):
    advisor = login("pt_advisor")
    instance = client.post(
        "/api/v1/process-instances",
        json={"process_key": "demo_assistance", "org_unit": "310107014"},
        headers=advisor,
    ).json
    task_id = instance["open_tasks"][0]["id"]
    assert (
        client.post(
            f"/api/v1/tasks/{task_id}/complete", json={"data": application_data()}, headers=advisor
        ).status_code
        == 200
    )

    definitions.SPEC_CACHE.clear()  # as after a process restart
    second = create_app({"SQLALCHEMY_DATABASE_URI": DB_URL, "TESTING": True})
    other = second.test_client()
    token = other.post(
        "/api/v1/auth/token", json={"username": "pt_officer", "password": "test-password-1"}
    ).json["token"]
    headers = {"Authorization": f"Bearer {token}"}
    detail = other.get(f"/api/v1/process-instances/{instance['id']}", headers=headers).json
    assert [t["bpmn_id"] for t in detail["open_tasks"]] == ["review"]
    assert detail["data"]["amount_requested"] == "6000.50"
    with second.app_context():
        from api.extensions import db

        db.engine.dispose()
