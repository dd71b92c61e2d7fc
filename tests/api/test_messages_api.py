"""``POST /api/v1/messages``: an admin (or a system acting as one) sends a message or a signal to the
cases waiting for it; everyone else is refused; bad input is a 422 naming its field."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import STREET, assert_error, start

MESSAGES = Path(__file__).resolve().parents[1] / "fixtures" / "bpmn" / "messages"


def _deploy(client, admin, name):
    response = client.post(
        "/api/v1/process-definitions",
        data=(MESSAGES / f"{name}.bpmn").read_bytes(),
        headers={**admin, "Content-Type": "application/xml"},
    )
    assert response.status_code == 201, response.json


def test_an_admin_sends_a_message_to_the_waiting_case(client, login):
    admin, officer = login("admin"), login("pt_officer")
    _deploy(client, admin, "msg_started")
    body = {"name": "case_referred", "correlation": "R-API", "org_unit": STREET, "payload": {"from": "PT"}}
    assert_error(client.post("/api/v1/messages", json=body, headers=officer), 403)

    started = client.post("/api/v1/messages", json=body, headers=admin)
    assert started.status_code == 200, started.json
    assert started.json["result"] == "started"
    [case_id] = started.json["started"]
    case = client.get(f"/api/v1/process-instances/{case_id}", headers=admin).json
    assert case["business_key"] == "R-API" and case["data"]["referral"] == {"from": "PT"}

    withdraw = {"name": "referral_withdrawn", "correlation": "R-API"}
    sent = client.post("/api/v1/messages", json=withdraw, headers=admin)
    assert sent.json["result"] == "delivered" and sent.json["delivered"] == [case_id]
    assert client.get(f"/api/v1/process-instances/{case_id}", headers=admin).json["status"] == "completed"

    again = client.post("/api/v1/messages", json=withdraw, headers=admin)
    assert again.json["result"] == "ended" and "ended" in again.json["reason"]


def test_signals_start_events_and_bad_input(client, login):
    admin = login("admin")
    _deploy(client, admin, "msg_signal_wait")
    _deploy(client, admin, "msg_started")
    ids = [start(client, admin, process_key="msg_signal_wait")["id"] for _ in range(3)]
    sent = client.post("/api/v1/messages", json={"name": "policy_changed", "kind": "signal"}, headers=admin)
    assert sent.json["result"] == "broadcast" and sorted(sent.json["delivered"]) == sorted(ids)

    no_unit = client.post(
        "/api/v1/messages", json={"name": "case_referred", "correlation": "R1"}, headers=admin
    )
    assert "org_unit" in assert_error(no_unit, 422)["fields"]
    started = client.post(
        "/api/v1/messages",
        json={"name": "case_referred", "correlation": "R1", "org_unit": STREET, "payload": {"a": 1}},
        headers=admin,
    )
    assert started.json["result"] == "started" and len(started.json["started"]) == 1

    for bad, field in (({"correlation": "x"}, "name"), ({"name": "x", "payload": [1]}, "payload")):
        assert field in assert_error(client.post("/api/v1/messages", json=bad, headers=admin), 422)["fields"]
    unknown_unit = client.post("/api/v1/messages", json={"name": "x", "org_unit": "999"}, headers=admin)
    assert "org_unit" in assert_error(unknown_unit, 422)["fields"]
    nobody = client.post("/api/v1/messages", json={"name": "x", "correlation": "y"}, headers=admin)
    assert nobody.status_code == 200 and nobody.json["result"] == "buffered"
