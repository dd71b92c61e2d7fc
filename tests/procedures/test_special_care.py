"""Special-care visits 特殊关爱对象走访 (Putuo work points 2024 (九)): a weekly schedule, at least two
visits a week, and a missed-visit warning for the street officer — end to end through the REST API."""

from __future__ import annotations

import datetime as dt

import time_machine
from sqlalchemy.orm import sessionmaker

from api.extensions import db
from engine.deadlines import calendar as cal
from engine.deadlines import service as deadlines
from engine.forms import with_check_digit
from tests.helpers import assert_error
from tests.procedures.cases import ApiCase, fresh_token

SH = cal.SHANGHAI
STREET = "310107014"
PERSON = with_check_digit("99999919400101002")  # area code 999999 is not allocated: nobody's number
MONDAY = dt.datetime(2026, 11, 2, 10, 0, tzinfo=SH)
ENROL = {
    "person_id_number": PERSON,
    "care_category": "elderly_alone",
    "care_reason": "独居高龄，行动不便",
    "address_note": "某小区某号楼",
}


def visit(day, kind="home_visit"):
    return {"visit_date": day, "visit_kind": kind, "situation": "身体状况平稳"}


def wake():
    deadlines.run_due(sessionmaker(bind=db.engine, expire_on_commit=False))


def test_weekly_visits_warn_when_fewer_than_two_and_the_period_ends_in_a_review(client):
    relog = lambda username: fresh_token(client, username)  # noqa: E731
    with time_machine.travel(MONDAY, tick=False):
        case = ApiCase(client, relog, "special_care_visits", STREET, viewer="pt_head")
        assert case.open() == ["enrolment"]
        missing = case.submit("enrolment", "pt_advisor", {**ENROL, "person_id_number": "123"})
        assert "person_id_number" in assert_error(missing, 422)["fields"]
        case.do("enrolment", "pt_advisor", ENROL)
        assert case.open() == []  # the week runs
        timers = client.get(f"/api/v1/process-instances/{case.id}/timers", headers=relog("pt_head")).json
        assert [t["bpmn_id"] for t in timers] == ["week_wait"]
        assert dt.datetime.fromisoformat(timers[0]["due_at"]) == dt.datetime(2026, 11, 9, tzinfo=SH)
    # week 1: two visits on two days -> no warning
    with time_machine.travel(dt.datetime(2026, 11, 9, 0, 1, tzinfo=SH), tick=False):
        wake()
        assert case.open() == ["weekly_visits"]
        outside = case.submit(
            "weekly_visits",
            "pt_advisor",
            {"visits": [visit("2026-11-03"), visit("2026-11-09")], "continue_care": True},
        )
        assert "visits.1.visit_date" in assert_error(outside, 422)["fields"], "the 9th is next week"
        case.do(
            "weekly_visits",
            "pt_advisor",
            {"visits": [visit("2026-11-03"), visit("2026-11-06", "accompanied")], "continue_care": True},
        )
        assert case.open() == [], "two visits: no warning, the next week runs"
    # week 2: two visits on the same day count once -> the warning opens for the street officer
    with time_machine.travel(dt.datetime(2026, 11, 16, 0, 1, tzinfo=SH), tick=False):
        wake()
        case.do(
            "weekly_visits",
            "pt_advisor",
            {"visits": [visit("2026-11-10"), visit("2026-11-10", "outdoor")], "continue_care": True},
        )
        data = case.detail()["data"]
        assert data["visits_counted"] == 1 and data["visits_short"] is True
        assert case.open() == ["care_warning"]
        assert_error(
            case.submit(
                "care_warning",
                "pt_advisor",
                {"warning_cause": "顾问病假", "measures": "安排补访", "make_up_visit_date": "2026-11-17"},
            ),
            403,
        )
        case.do(
            "care_warning",
            "pt_officer",
            {"warning_cause": "顾问病假", "measures": "安排其他顾问补访", "make_up_visit_date": "2026-11-17"},
        )
        assert case.open() == []
    # week 3: no visits at all, care stops -> warning, then the period review
    with time_machine.travel(dt.datetime(2026, 11, 23, 0, 1, tzinfo=SH), tick=False):
        wake()
        case.do("weekly_visits", "pt_advisor", {"visits": [], "continue_care": False})
        assert case.open() == ["care_warning"]
        case.do(
            "care_warning",
            "pt_officer",
            {"warning_cause": "对象入院治疗", "measures": "医院探望", "make_up_visit_date": "2026-11-24"},
        )
        assert case.open() == ["period_review"]
        case.do("period_review", "pt_officer", {"period_summary": "对象已入住养老机构", "next_period": False})
        final = case.detail()
        assert final["status"] == "completed" and final["data"]["outcome"] == "closed"
        assert final["data"]["weeks_done"] == 3


def test_a_continuing_period_opens_the_next_case(client):
    relog = lambda username: fresh_token(client, username)  # noqa: E731
    with time_machine.travel(MONDAY, tick=False):
        case = ApiCase(client, relog, "special_care_visits", STREET, viewer="pt_head")
        case.do("enrolment", "pt_advisor", ENROL)
    with time_machine.travel(dt.datetime(2026, 11, 9, 0, 1, tzinfo=SH), tick=False):
        wake()
        case.do(
            "weekly_visits",
            "pt_advisor",
            {"visits": [visit("2026-11-03"), visit("2026-11-05")], "continue_care": False},
        )
        case.do("period_review", "pt_officer", {"period_summary": "情况稳定，继续关爱", "next_period": True})
        nxt = case.detail()["data"]["next_period_case_id"]
        follow = client.get(f"/api/v1/process-instances/{nxt}", headers=relog("pt_head")).json
        assert follow["process_key"] == "special_care_visits"
        assert [t["bpmn_id"] for t in follow["open_tasks"]] == ["enrolment"]
