"""Holiday calendar API: admins only; a year's days validated per field; recompute dry run then apply.

The 2027 days here are test data, not the State Council's schedule (unknown to us)."""

from __future__ import annotations

import datetime as dt

import time_machine
from sqlalchemy import func, select

from api.extensions import db
from engine.deadlines import calendar as cal
from engine.models import AuditEvent, HolidayYear
from tests.factories import open_task, start_demo

SH = cal.SHANGHAI


def _audits(action: str) -> int:
    return db.session().scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    )


def test_non_admins_are_refused(client, login):
    for username in ("pt_officer", "city", "pt_district"):
        headers = login(username)
        assert client.get("/api/v1/calendar/2027", headers=headers).status_code == 403
        put = client.put("/api/v1/calendar/2027", json={"days": []}, headers=headers)
        assert put.status_code == 403 and put.json["error"] == "forbidden"
        assert client.post("/api/v1/calendar/recompute", json={}, headers=headers).status_code == 403
    assert client.get("/api/v1/calendar/2027").status_code == 401
    assert db.session().get(HolidayYear, 2027) is None


def test_bad_days_are_refused_by_field(client, login):
    headers = login("admin")
    bad_date = client.put(
        "/api/v1/calendar/2027", json={"days": [{"date": "2027-02-30", "kind": "holiday"}]}, headers=headers
    )
    assert bad_date.status_code == 422
    assert "date" in str(bad_date.json["fields"])
    bad_kind = client.put(
        "/api/v1/calendar/2027", json={"days": [{"date": "2027-02-03", "kind": "leave"}]}, headers=headers
    )
    assert bad_kind.status_code == 422 and "kind" in str(bad_kind.json["fields"])
    outside_and_twice = client.put(
        "/api/v1/calendar/2027",
        json={
            "days": [
                {"date": "2027-01-01", "kind": "holiday", "name": "元旦"},
                {"date": "2026-12-31", "kind": "holiday"},
                {"date": "2027-01-01", "kind": "workday"},
            ]
        },
        headers=headers,
    )
    assert outside_and_twice.status_code == 422
    assert set(outside_and_twice.json["fields"]) == {"days.1.date", "days.2.date"}
    assert client.put("/api/v1/calendar/1999", json={"days": []}, headers=headers).status_code == 422
    db.session().expire_all()
    assert db.session().get(HolidayYear, 2027) is None
    assert _audits("calendar.year_saved") == 0


def test_enter_a_year_then_recompute(client, login):
    headers = login("admin")
    with time_machine.travel(dt.datetime(2026, 12, 31, 10, 0, tzinfo=SH), tick=False):
        instance = start_demo(db.session())
        db.session().commit()
    task_id = open_task(db.session(), instance.id, "application").id

    with time_machine.travel(dt.datetime(2026, 12, 2, 10, 0, tzinfo=SH), tick=True):
        before = client.get("/api/v1/calendar/2027", headers=headers)
        assert before.status_code == 200
        assert before.json["entered"] is False and before.json["covered"] is False
        assert before.json["missing_years"] == [2027]
        saved = client.put(
            "/api/v1/calendar/2027",
            json={"days": [{"date": "2027-01-01", "kind": "holiday", "name": "元旦"}]},
            headers=headers,
        )
        assert saved.status_code == 200, saved.json
        assert saved.json["entered"] is True and saved.json["source"] == "admin"
        assert saved.json["days"] == [{"date": "2027-01-01", "kind": "holiday", "name": "元旦"}]
        assert saved.json["missing_years"] == []
    assert _audits("calendar.year_saved") == 1

    dry = client.post("/api/v1/calendar/recompute", json={}, headers=headers)
    assert dry.status_code == 200 and dry.json["dry_run"] is True
    assert dry.json["count"] == 1 and dry.json["tasks"][0]["task_id"] == task_id
    assert _audits("task.deadline_recomputed") == 0
    no_reason = client.post("/api/v1/calendar/recompute", json={"dry_run": False}, headers=headers)
    assert no_reason.status_code == 422 and "reason" in no_reason.json["fields"]
    applied = client.post(
        "/api/v1/calendar/recompute", json={"dry_run": False, "reason": "录入2027年"}, headers=headers
    )
    assert applied.status_code == 200 and applied.json["count"] == 1
    assert applied.json["tasks"][0]["after"].startswith("2027-01-06T16:00")  # end of 7 January, Shanghai
    assert _audits("task.deadline_recomputed") == 1 and _audits("calendar.recomputed") == 1
    assert client.post("/api/v1/calendar/recompute", json={}, headers=headers).json["count"] == 0
