"""The policy numbers that were still in Python (issue 17, issue 19's yearly parameters) are policy
parameters now: seeded with the old values (migration 0029), read by the case from the set in force when
it started — a new set applies to new cases while a case already running keeps its values."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

import pytest
import time_machine

from engine.db import utcnow
from engine.deadlines import calendar as cal
from engine.errors import Conflict
from engine.forms import with_check_digit
from engine.policy import service as policy
from engine.procedures import bridge_rules
from tests.helpers import assert_error
from tests.procedures.cases import ApiCase, fresh_token
from tests.procedures.helpers import Case, approve, pay, review, to_review

STREET = "310107014"
MOVED = {
    "comprehensive_assistance": {"follow_up_wait": "P30D"},
    "bridge_plan_project": {"min_avg_visits": 5, "min_group_activities": 4, "city_budget": 1800000},
    "bridge_plan_household": {"min_visits": 5},
    "twinning": {"plan_first_year": 2021, "plan_last_year": 2025, "shortfall_check_date": "11-30"},
    "foundation_fee_check": {"max_fee_rate": "0.025"},
    "special_care_visits": {"min_weekly_visits": 2, "care_weeks": 13},
    "street_response": {
        "level1_responders": "district_civil_affairs,street_office,police,medical",
        "level2_responders": "street_office,committee,police",
        "level3_responders": "street_office",
        "level1_deadline": "2 hours",
        "level2_deadline": "6 hours",
        "level3_deadline": "24 hours",
    },
}


def _new_set(client, headers, key, effective_from, **changes):
    """Through the API, as an admin: the next version of ``key``'s parameters with ``changes``."""
    current = client.get(f"/api/v1/policy-parameters/{key}?on={effective_from}", headers=headers).json
    values = {**current["in_force"]["values"], **changes}
    saved = client.post(
        f"/api/v1/policy-parameters/{key}",
        json={"effective_from": effective_from, "values": values, "note": "测试 / test"},
        headers=headers,
    )
    assert saved.status_code == 201, saved.json
    return saved.json


def test_the_moved_numbers_are_seeded_with_their_old_values(session):
    for key, values in MOVED.items():
        in_force = policy.in_force(session, key, dt.date(2026, 6, 1))
        assert in_force is not None, key
        for name, value in values.items():
            assert in_force.values[name] == value, (key, name)


def test_the_city_budget_is_a_yearly_parameter(session):
    assert bridge_rules.city_budget(session, 2023) is None  # the notice gives 2024 first
    assert bridge_rules.city_budget(session, 2024) == Decimal("1800000.00")
    assert bridge_rules.city_budget(session, 2026) == Decimal("1800000.00")  # the latest earlier year's
    values = {**policy.in_force(session, "bridge_plan_project", dt.date(2026, 1, 1)).values}
    policy.save(
        session,
        "bridge_plan_project",
        effective_from=dt.date(2027, 1, 1),
        values={**values, "city_budget": 2000000},
    )
    assert bridge_rules.city_budget(session, 2027) == Decimal("2000000.00")
    assert bridge_rules.city_budget(session, 2026) == Decimal("1800000.00")
    # a 2028 set that leaves the budget out keeps 2027's figure
    policy.save(
        session,
        "bridge_plan_project",
        effective_from=dt.date(2028, 1, 1),
        values={k: v for k, v in values.items() if k != "city_budget"},
    )
    assert bridge_rules.city_budget(session, 2028) == Decimal("2000000.00")


def test_a_case_older_than_a_parameter_reads_the_version_it_copied(session):
    started = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    old = SimpleNamespace(
        process_key="special_care_visits",
        started_at=started,
        data={"_params": {"process_key": "special_care_visits", "version": 1, "values": {}}},
    )
    assert policy.case_value(session, old, "min_weekly_visits") == 2
    without = SimpleNamespace(process_key="special_care_visits", started_at=started, data={})
    assert policy.case_value(session, without, "care_weeks") == 13  # the set in force on its start day
    nothing = SimpleNamespace(process_key="no_such_procedure", started_at=started, data={})
    with pytest.raises(Conflict):
        policy.case_value(session, nothing, "care_weeks")


def test_follow_up_wait_new_cases_take_the_new_set_old_cases_keep_theirs(client, login):
    old = Case(client, login)
    today = cal.local_day(utcnow()).isoformat()
    _new_set(client, login("admin"), "comprehensive_assistance", today, follow_up_wait="P14D")
    new = Case(client, login)
    assert old.detail()["data"]["follow_up_wait"] == "P30D"
    assert new.detail()["data"]["follow_up_wait"] == "P14D"
    waits = {}
    for name, case in (("old", old), ("new", new)):
        to_review(case)
        case.do("democratic_review", "pt_panel", review())
        case.do("street_approval", "pt_head", approve())
        case.do("disbursement", "pt_finance", pay())
        timers = client.get(f"/api/v1/process-instances/{case.id}/timers", headers=login("pt_head")).json
        assert [t["bpmn_id"] for t in timers] == ["follow_up_wait"]
        waits[name] = dt.datetime.fromisoformat(timers[0]["due_at"]) - utcnow()
    assert dt.timedelta(days=29) < waits["old"] <= dt.timedelta(days=30)
    assert dt.timedelta(days=13) < waits["new"] <= dt.timedelta(days=14)


def _report():
    return {
        "found_on": "2026-11-20",
        "location": "某路某号公交站",
        "source": "patrol",
        "danger_to_life": False,
        "extreme_weather": False,
        "vulnerable": [],
        "description": "一名男子在公交站过夜",
    }


def _respond(*responders):
    return {
        "arrived": True,
        "responders": list(responders),
        "actions": "现场劝导",
        "needs_higher_level": False,
    }


def test_street_response_levels_new_cases_take_the_new_set_old_cases_keep_theirs(client, login):
    def started():
        case = ApiCase(client, login, "street_response", STREET, starter="pt_officer", viewer="pt_district")
        case.do("report", "pt_officer", _report())
        return case

    old = started()
    today = cal.local_day(utcnow()).isoformat()
    _new_set(
        client,
        login("admin"),
        "street_response",
        today,
        level3_responders="street_office,committee",
        level3_deadline="12 hours",
    )
    new = started()
    assert old.task("level3_response")["deadline"] == "24 hours"
    assert new.task("level3_response")["deadline"] == "12 hours"
    task = new.task("level3_response")
    due = dt.datetime.fromisoformat(task["due_at"]) - dt.datetime.fromisoformat(task["created_at"])
    assert due == dt.timedelta(hours=12)
    refused = assert_error(new.submit("level3_response", "pt_officer", _respond("street_office")), 422)
    assert "居（村）委会" in refused["fields"]["responders"][0]
    old.do("level3_response", "pt_officer", _respond("street_office"))  # the old case keeps its set
    new.do("level3_response", "pt_officer", _respond("street_office", "committee"))


ENROL = {
    "person_id_number": with_check_digit("99999919400101002"),  # area 999999: nobody's number
    "care_category": "elderly_alone",
    "care_reason": "独居高龄，行动不便",
    "address_note": "某小区某号楼",
}


def _visit(day):
    return {"visit_date": day, "visit_kind": "home_visit", "situation": "身体状况平稳"}


def test_special_care_new_cases_take_the_new_minimum_old_cases_keep_two(client):
    from sqlalchemy.orm import sessionmaker

    from api.extensions import db
    from engine.deadlines import service as deadlines

    enrol = ENROL

    def relog(username):
        return fresh_token(client, username)

    def wake():
        deadlines.run_due(sessionmaker(bind=db.engine, expire_on_commit=False))

    with time_machine.travel(dt.datetime(2026, 11, 2, 10, 0, tzinfo=cal.SHANGHAI), tick=False):
        old = ApiCase(client, relog, "special_care_visits", STREET, viewer="pt_head")
        old.do("enrolment", "pt_advisor", enrol)
        _new_set(client, relog("admin"), "special_care_visits", "2026-11-03", min_weekly_visits=3)
    with time_machine.travel(dt.datetime(2026, 11, 3, 10, 0, tzinfo=cal.SHANGHAI), tick=False):
        new = ApiCase(client, relog, "special_care_visits", STREET, viewer="pt_head")
        new.do("enrolment", "pt_advisor", enrol)
    with time_machine.travel(dt.datetime(2026, 11, 10, 0, 1, tzinfo=cal.SHANGHAI), tick=False):
        wake()
        week = {"visits": [_visit("2026-11-04"), _visit("2026-11-06")], "continue_care": True}
        old.do("weekly_visits", "pt_advisor", week)
        new.do("weekly_visits", "pt_advisor", week)
        assert old.detail()["data"]["visits_short"] is False and old.open() == []
        assert new.detail()["data"]["visits_short"] is True and new.open() == ["care_warning"]
