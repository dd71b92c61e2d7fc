"""Pudong 3A service assistance 浦东“3A”服务救助, driven through the REST API as each role would."""

from __future__ import annotations

import pytest

from tests.helpers import assert_error
from tests.procedures.cases import ApiCase
from tests.procedures.helpers import APPLICANT

STREET = "310107014"
KEY = "service_referral_3a"


class Case(ApiCase):
    def __init__(self, client, login):
        super().__init__(client, login, KEY, STREET, viewer="pt_district")


NEEDS = {
    "discovery_channel": "big_data",
    "applicant_id_number": APPLICANT,
    "needs_categories": ["employment", "skills"],
    "needs_description": "青年失业在家，希望参加技能培训后就业",
}
ASSESS = {"assessment_summary": "有就业意愿，缺乏职业技能", "tier": "advancement", "urgent": False}
MATCH = {"project": "skills_training", "resources": ["job_fair"], "service_org": "org_social_work_a"}


def to_referral(case):
    case.do("needs_discovery", "pt_advisor", NEEDS)
    case.do("assessment", "pt_officer", ASSESS)
    case.do("matching", "pt_officer", MATCH)


def test_needs_to_scored_closure(client, login):
    case = Case(client, login)
    to_referral(case)
    assert case.open() == ["referral"]
    case.do("referral", "pt_agency_lead", {"referral_decision": "accept", "planned_start": "2026-12-01"})
    case.do(
        "service_delivery",
        "pt_agency_worker",
        {"sessions": 8, "service_summary": "完成8次技能培训并推荐2个岗位", "completed_on": "2027-01-20"},
    )
    case.do("scoring", "pt_officer", {"recipient_score": 5, "staff_score": 4, "comments": "服务及时"})
    final = case.detail()
    assert final["status"] == "completed"
    assert final["data"]["average_score"] == 4.5 and final["data"]["published"] is True


def test_declined_referral_returns_to_matching(client, login):
    case = Case(client, login)
    to_referral(case)
    case.do(
        "referral", "pt_agency_lead", {"referral_decision": "decline", "decline_reason": "本季度培训名额已满"}
    )
    assert case.open() == ["matching"]
    events = client.get(f"/api/v1/process-instances/{case.id}/events", headers=login("pt_district")).json
    declined = [
        e for e in events if e["action"] == "task.completed" and e["details"]["bpmn_id"] == "referral"
    ]
    assert declined[0]["details"]["data"]["decline_reason"] == "本季度培训名额已满"
    case.do("matching", "pt_officer", {**MATCH, "service_org": "org_social_work_b"})
    case.do("referral", "pt_agency_lead", {"referral_decision": "accept", "planned_start": "2026-12-05"})
    assert case.open() == ["service_delivery"]
    assert case.detail()["data"]["service_org"] == "org_social_work_b"


@pytest.mark.parametrize(
    ("tier", "project", "ok"),
    [
        ("advancement", "skills_training", True),
        ("advancement", "elderly_companionship", False),
        ("assistance", "emergency_relief", True),
        ("assistance", "education_support", False),
        ("accompany", "psychological_support", True),
    ],
)
def test_project_must_come_from_the_tiers_library(client, login, tier, project, ok):
    case = Case(client, login)
    case.do("needs_discovery", "pt_advisor", NEEDS)
    case.do("assessment", "pt_officer", {**ASSESS, "tier": tier})
    response = case.submit("matching", "pt_officer", {**MATCH, "project": project})
    if ok:
        assert response.status_code == 200, response.json
    else:
        assert "项目库" in assert_error(response, 422)["fields"]["project"][0]


def test_rule_refusals(client, login):
    case = Case(client, login)
    body = assert_error(
        case.submit("needs_discovery", "pt_advisor", {**NEEDS, "discovery_channel": "rumour"}), 422
    )
    assert "discovery_channel" in body["fields"]
    to_referral(case)
    body = assert_error(case.submit("referral", "pt_agency_lead", {"referral_decision": "decline"}), 422)
    assert "decline_reason" in body["fields"]
    assert_error(
        case.submit("referral", "pt_advisor", {"referral_decision": "accept", "planned_start": "2026-12-01"}),
        403,
    )
    case.do("referral", "pt_agency_lead", {"referral_decision": "accept", "planned_start": "2026-12-01"})
    body = assert_error(
        case.submit(
            "service_delivery",
            "pt_agency_worker",
            {"sessions": 0, "service_summary": "未开展", "completed_on": "2027-01-20"},
        ),
        422,
    )
    assert "sessions" in body["fields"]
    case.do(
        "service_delivery",
        "pt_agency_worker",
        {"sessions": 3, "service_summary": "完成三次上门服务", "completed_on": "2027-01-20"},
    )
    body = assert_error(case.submit("scoring", "pt_officer", {"recipient_score": 6, "staff_score": 0}), 422)
    assert set(body["fields"]) == {"recipient_score", "staff_score"}
