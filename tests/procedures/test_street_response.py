"""Three-colour warning and three-level response for people in difficulty on the street (Putuo work
points 2024 (十)): the level follows the situation, each level has its lead, responders and deadline."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.helpers import assert_error
from tests.procedures.cases import ApiCase

STREET = "310107014"


def report(**overrides):
    data = {
        "found_on": "2026-11-20",
        "location": "某路某号公交站",
        "source": "patrol",
        "danger_to_life": False,
        "extreme_weather": False,
        "vulnerable": [],
        "description": "一名男子在公交站过夜",
    }
    data.update(overrides)
    return data


def respond(*responders, higher=False):
    return {
        "arrived": True,
        "responders": list(responders),
        "actions": "现场劝导并提供食物",
        "needs_higher_level": higher,
    }


CLOSE = {"disposition": "rescue_station", "follow_up": "救助站安置，三日后回访"}


def started(client, login, **situation):
    case = ApiCase(client, login, "street_response", STREET, starter="pt_officer", viewer="pt_district")
    case.do("report", "pt_officer", report(**situation))
    return case


@pytest.mark.parametrize(
    ("situation", "colour", "step", "lead", "deadline"),
    [
        ({"danger_to_life": True}, "red", "level1_response", "pt_district", "2 hours"),
        ({"extreme_weather": True}, "red", "level1_response", "pt_district", "2 hours"),
        ({"vulnerable": ["elderly"]}, "orange", "level2_response", "pt_head", "6 hours"),
        ({}, "yellow", "level3_response", "pt_officer", "24 hours"),
    ],
)
def test_the_situation_sets_the_warning_and_the_level(client, login, situation, colour, step, lead, deadline):
    case = started(client, login, **situation)
    data = case.detail()["data"]
    assert data["warning_level"] == colour and data["response_level"] == int(step[5])
    assert case.open() == [step]
    task = case.task(step)
    assert task["deadline"] == deadline
    due = dt.datetime.fromisoformat(task["due_at"]) - dt.datetime.fromisoformat(task["created_at"])
    if deadline.endswith("hours"):
        assert due == dt.timedelta(hours=int(deadline.split()[0]))
    others = {"pt_district", "pt_head", "pt_officer"} - {lead}
    for other in sorted(others):
        if other == "pt_district":
            continue  # the district head supervises the street's work and may step in
        assert case.submit(step, other, respond("street_office")).status_code in (403, 422), other


def test_a_red_warning_needs_the_district_police_and_medical_on_the_spot(client, login):
    case = started(client, login, danger_to_life=True)
    body = assert_error(
        case.submit("level1_response", "pt_district", respond("street_office", "police")), 422
    )
    assert "区民政局" in body["fields"]["responders"][0] and "医疗急救" in body["fields"]["responders"][0]
    top = respond("district_civil_affairs", "street_office", "police", "medical", higher=True)
    assert (
        "needs_higher_level"
        in assert_error(case.submit("level1_response", "pt_district", top), 422)["fields"]
    )
    case.do(
        "level1_response",
        "pt_district",
        respond("district_civil_affairs", "street_office", "police", "medical"),
    )
    assert case.open() == ["closure"]
    case.do("closure", "pt_officer", {**CLOSE, "disposition": "hospital"})
    final = case.detail()
    assert final["status"] == "completed" and final["data"]["outcome"] == "closed"


def test_a_yellow_case_escalates_level_by_level(client, login):
    case = started(client, login)
    case.do("level3_response", "pt_officer", respond("street_office", higher=True))
    assert case.open() == ["level2_response"]
    assert case.detail()["data"]["warning_level"] == "orange"
    body = assert_error(case.submit("level2_response", "pt_head", respond("street_office")), 422)
    assert "居（村）委会" in body["fields"]["responders"][0]
    case.do("level2_response", "pt_head", respond("street_office", "committee", "police", higher=True))
    assert case.open() == ["level1_response"]
    data = case.detail()["data"]
    assert (data["warning_level"], data["response_level"]) == ("red", 1)
    case.do(
        "level1_response",
        "pt_district",
        respond("district_civil_affairs", "street_office", "police", "medical"),
    )
    case.do("closure", "pt_officer", CLOSE)
    assert case.detail()["status"] == "completed"


def test_a_yellow_case_handled_at_its_level(client, login):
    case = started(client, login)
    assert (
        "arrived"
        in assert_error(
            case.submit("level3_response", "pt_officer", {**respond("street_office"), "arrived": False}), 422
        )["fields"]
    )
    case.do("level3_response", "pt_officer", respond("street_office", "committee"))
    case.do("closure", "pt_officer", {"disposition": "refused_followed", "follow_up": "每日巡查关注"})
    assert case.detail()["data"]["outcome"] == "closed"
