"""Deadline, SLA, timer and notification endpoints through the Flask test client."""

from __future__ import annotations

import datetime as dt

import time_machine
from sqlalchemy.orm import sessionmaker

from api.extensions import db
from engine.deadlines import calendar as cal
from engine.deadlines import service as deadlines
from tests.helpers import assert_error, start

SH = cal.SHANGHAI
MONDAY = dt.datetime(2026, 11, 2, 10, 0, tzinfo=SH)


def at(moment):
    return time_machine.travel(moment, tick=False)


def run_scheduler(moment):
    with at(moment):
        return deadlines.run_due(sessionmaker(bind=db.engine, expire_on_commit=False))


def test_tasks_carry_due_and_sla_and_filter_by_colour(client, login):
    advisor = login("pt_advisor")
    with at(MONDAY):
        instance = start(client, advisor)
    task = instance["open_tasks"][0]
    assert task["due_at"].startswith("2026-11-05T16:00:00") and task["deadline"] == "3 working days"
    with at(MONDAY):
        assert task["sla"] == "green"
        assert client.get("/api/v1/tasks?sla=green", headers=advisor).json["meta"]["total"] == 1
        assert client.get("/api/v1/tasks?overdue=true", headers=advisor).json["meta"]["total"] == 0
    with at(dt.datetime(2026, 11, 5, 9, 0, tzinfo=SH)):
        detail = client.get(f"/api/v1/tasks/{task['id']}", headers=advisor).json
        assert detail["sla"] == "yellow"
        assert [t["id"] for t in client.get("/api/v1/tasks?sla=yellow", headers=advisor).json["items"]] == [
            task["id"]
        ]
    with at(dt.datetime(2026, 11, 9, 9, 0, tzinfo=SH)):
        assert client.get("/api/v1/tasks?sla=orange&overdue=true", headers=advisor).json["meta"]["total"] == 1
    with at(dt.datetime(2026, 11, 12, 9, 0, tzinfo=SH)):
        assert client.get("/api/v1/tasks?sla=red", headers=advisor).json["meta"]["total"] == 1
    assert_error(client.get("/api/v1/tasks?sla=purple", headers=advisor), 422)
    assert_error(client.get("/api/v1/tasks?overdue=perhaps", headers=advisor), 422)


def test_change_deadline_endpoint(client, login):
    advisor, head = login("pt_advisor"), login("pt_head")
    with at(MONDAY):
        task = start(client, advisor)["open_tasks"][0]
        url = f"/api/v1/tasks/{task['id']}/deadline"
        assert_error(client.post(url, json={"extend_by": "2 days", "reason": "需要"}, headers=advisor), 403)
        body = assert_error(client.post(url, json={"extend_by": "2 days"}, headers=head), 422)
        assert "reason" in body["fields"]
        body = assert_error(client.post(url, json={"reason": "需要补材料"}, headers=head), 422)
        assert set(body["fields"]) == {"due_at", "extend_by"}
        assert_error(
            client.post(url, json={"extend_by": "someday", "reason": "需要补材料"}, headers=head), 422
        )
        assert_error(
            client.post(url, json={"due_at": "not a date", "reason": "需要补材料"}, headers=head), 422
        )
        ok = client.post(url, json={"extend_by": "2个工作日", "reason": "需要补材料"}, headers=head)
        assert ok.status_code == 200 and ok.json["due_at"].startswith("2026-11-09T16:00:00")
        new = client.post(
            url, json={"due_at": "2026-12-01T18:00:00+08:00", "reason": "延至月底"}, headers=head
        )
        assert new.status_code == 200 and new.json["due_at"].startswith("2026-12-01T10:00:00")
        events = client.get(f"/api/v1/process-instances/{task['instance_id']}/events", headers=head).json
        reasons = [e["details"]["reason"] for e in events if e["action"] == "task.deadline_changed"]
        assert reasons == ["需要补材料", "延至月底"]


def test_timers_endpoint(client, login):
    officer = login("pt_officer")
    with at(MONDAY):
        instance = start(
            client, login("pt_officer"), process_key="timer_boundary"
        )  # its first step is theirs
        timers = client.get(f"/api/v1/process-instances/{instance['id']}/timers", headers=officer).json
    assert [t["bpmn_id"] for t in timers] == ["daily", "remind", "timeout"]
    assert timers[0]["due_at"].startswith("2026-11-03T02:00:00")
    assert_error(
        client.get(f"/api/v1/process-instances/{instance['id']}/timers", headers=login("pd_advisor")), 403
    )


def test_notifications_endpoints(client, login):
    advisor = login("pt_advisor")
    with at(MONDAY):
        start(client, advisor)
    run_scheduler(dt.datetime(2026, 11, 5, 9, 0, tzinfo=SH))
    page = client.get("/api/v1/notifications", headers=advisor).json
    assert page["meta"]["unread"] == 1 and page["items"][0]["kind"] == "reminder"
    assert "即将到期" in page["items"][0]["title"]
    note_id = page["items"][0]["id"]
    assert_error(client.post(f"/api/v1/notifications/{note_id}/read", headers=login("pt_advisor2")), 404)
    read = client.post(f"/api/v1/notifications/{note_id}/read", headers=advisor)
    assert read.status_code == 200 and read.json["read_at"]
    assert client.get("/api/v1/notifications?unread_only=true", headers=advisor).json["meta"]["total"] == 0
    other = login("pt_advisor2")
    # the other advisor of the street: told of the new application to claim, and reminded of it
    kinds = sorted(n["kind"] for n in client.get("/api/v1/notifications", headers=other).json["items"])
    assert kinds == ["new_task", "reminder"], kinds
    assert client.post("/api/v1/notifications/read-all", headers=other).json == {"marked": 2}
    assert client.get("/api/v1/notifications", headers=other).json["meta"]["unread"] == 0
    assert client.get("/api/v1/notifications", headers=login("pd_advisor")).json["meta"]["total"] == 0
