"""Pudong 3A service assistance 浦东“3A”服务救助, driven through the REST API as each role would."""

from __future__ import annotations

import pytest

from tests.helpers import assert_error
from tests.procedures.cases import ApiCase
from tests.procedures.helpers import APPLICANT, service_org
from tests.web.helpers import Web

STREET = "310115004"  # Pudong: only Pudong units run 3A
KEY = "service_referral_3a"


@pytest.fixture(autouse=True)
def organisations(client, login):
    """Two Pudong service organisations whose members are the demo's Pudong agency users."""
    for code in ("org_social_work_a", "org_social_work_b"):
        service_org(client, login, code, ["pd_agency_lead", "pd_agency_worker"])


class Case(ApiCase):
    def __init__(self, client, login):
        super().__init__(client, login, KEY, STREET, starter="pd_advisor", viewer="pd_district")


NEEDS = {
    "discovery_channel": "big_data",
    "applicant_id_number": APPLICANT,
    "needs_categories": ["employment", "skills"],
    "needs_description": "青年失业在家，希望参加技能培训后就业",
}
ASSESS = {"assessment_summary": "有就业意愿，缺乏职业技能", "tier": "advancement", "urgent": False}
MATCH = {"project": "skills_training", "resources": ["job_fair"], "service_org": "org_social_work_a"}


PUBLICATION = {
    "published_on": "2027-01-25",
    "channels": ["bulletin_board", "website"],
    "published_items": ["progress", "results"],
    "published_text": "本街镇技能培训项目完成8次培训，推荐就业岗位2个，受助人满意。",
}


def to_referral(case):
    case.do("needs_discovery", "pd_advisor", NEEDS)
    case.do("assessment", "pd_officer", ASSESS)
    case.do("matching", "pd_officer", MATCH)


def test_needs_to_scored_closure(client, login):
    case = Case(client, login)
    case.do("needs_discovery", "pd_advisor", NEEDS)
    # the decision table r3a_tier suggests the tier from the needs: the assessment starts from it
    assert case.detail()["data"]["tier"] == "advancement"
    case.do("assessment", "pd_officer", ASSESS)
    case.do("matching", "pd_officer", MATCH)
    assert case.open() == ["referral"]
    case.do("referral", "pd_agency_lead", {"referral_decision": "accept", "planned_start": "2026-12-01"})
    case.do(
        "service_delivery",
        "pd_agency_worker",
        {"sessions": 8, "service_summary": "完成8次技能培训并推荐2个岗位", "completed_on": "2027-01-20"},
    )
    case.do("scoring", "pd_officer", {"recipient_score": 5, "staff_score": 4, "comments": "服务及时"})
    assert case.open() == ["publication"]
    case.do("publication", "pd_officer", PUBLICATION)
    final = case.detail()
    assert final["status"] == "completed"
    assert final["data"]["average_score"] == 4.5 and final["data"]["published"] is True


def test_the_assessment_form_starts_from_the_decision_tables_suggestion(client, login):
    """The tier the decision table suggested is selected on the assessment's page, with a notice naming
    the field; the officer may change it (the record keeps what was submitted)."""
    case = Case(client, login)
    case.do("needs_discovery", "pd_advisor", {**NEEDS, "needs_categories": ["family_function"]})
    assessment = case.task("assessment")
    officer = Web(client.application.test_client()).login("pd_officer")
    page = officer.get(f"/tasks/{assessment['id']}").get_data(as_text=True)
    assert "「帮扶层级」已按决策表的建议预填，请确认或改定" in page
    select = page[page.index('name="tier"') :]
    select = select[: select.index("</select>")]
    assert 'value="accompany" selected' in select and 'value="advancement" selected' not in select
    assert "_suggested" not in page
    case.do("assessment", "pd_officer", {**ASSESS, "tier": "advancement"})  # changed by the officer
    assert case.detail()["data"]["tier"] == "advancement"
    again = officer.get(f"/tasks/{case.task('matching')['id']}").get_data(as_text=True)
    assert "决策表的建议" not in again  # the matching form has no field the table suggests


def test_declined_referral_returns_to_matching(client, login):
    case = Case(client, login)
    to_referral(case)
    case.do(
        "referral", "pd_agency_lead", {"referral_decision": "decline", "decline_reason": "本季度培训名额已满"}
    )
    assert case.open() == ["matching"]
    events = client.get(f"/api/v1/process-instances/{case.id}/events", headers=login("pd_district")).json
    declined = [
        e for e in events if e["action"] == "task.completed" and e["details"]["bpmn_id"] == "referral"
    ]
    assert declined[0]["details"]["data"]["decline_reason"] == "本季度培训名额已满"
    case.do("matching", "pd_officer", {**MATCH, "service_org": "org_social_work_b"})
    case.do("referral", "pd_agency_lead", {"referral_decision": "accept", "planned_start": "2026-12-05"})
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
    case.do("needs_discovery", "pd_advisor", NEEDS)
    case.do("assessment", "pd_officer", {**ASSESS, "tier": tier})
    response = case.submit("matching", "pd_officer", {**MATCH, "project": project})
    if ok:
        assert response.status_code == 200, response.json
    else:
        assert "项目库" in assert_error(response, 422)["fields"]["project"][0]


def test_rule_refusals(client, login):
    case = Case(client, login)
    body = assert_error(
        case.submit("needs_discovery", "pd_advisor", {**NEEDS, "discovery_channel": "rumour"}), 422
    )
    assert "discovery_channel" in body["fields"]
    to_referral(case)
    body = assert_error(case.submit("referral", "pd_agency_lead", {"referral_decision": "decline"}), 422)
    assert "decline_reason" in body["fields"]
    assert_error(
        case.submit("referral", "pd_advisor", {"referral_decision": "accept", "planned_start": "2026-12-01"}),
        403,
    )
    case.do("referral", "pd_agency_lead", {"referral_decision": "accept", "planned_start": "2026-12-01"})
    body = assert_error(
        case.submit(
            "service_delivery",
            "pd_agency_worker",
            {"sessions": 0, "service_summary": "未开展", "completed_on": "2027-01-20"},
        ),
        422,
    )
    assert "sessions" in body["fields"]
    case.do(
        "service_delivery",
        "pd_agency_worker",
        {"sessions": 3, "service_summary": "完成三次上门服务", "completed_on": "2027-01-20"},
    )
    body = assert_error(case.submit("scoring", "pd_officer", {"recipient_score": 6, "staff_score": 0}), 422)
    assert set(body["fields"]) == {"recipient_score", "staff_score"}


def test_only_pudong_units_run_3a(client, login):
    refused = client.post(
        "/api/v1/process-instances",
        json={"process_key": KEY, "org_unit": "310107014"},
        headers=login("pt_advisor"),
    )
    assert "仅限浦东新区" in assert_error(refused, 422)["fields"]["org_unit"][0]


def test_publication_is_a_step_with_what_is_published(client, login):
    case = Case(client, login)
    to_referral(case)
    case.do("referral", "pd_agency_lead", {"referral_decision": "accept", "planned_start": "2026-12-01"})
    case.do(
        "service_delivery",
        "pd_agency_worker",
        {"sessions": 3, "service_summary": "完成三次上门服务", "completed_on": "2027-01-20"},
    )
    case.do("scoring", "pd_officer", {"recipient_score": 4, "staff_score": 4})
    assert case.detail()["status"] == "running" and case.open() == ["publication"]
    no_results = assert_error(
        case.submit("publication", "pd_officer", {**PUBLICATION, "published_items": ["progress"]}), 422
    )
    assert "项目成果" in no_results["fields"]["published_items"][0]
    personal = {**PUBLICATION, "published_text": f"受助人 {APPLICANT} 已完成培训并就业"}
    body = assert_error(case.submit("publication", "pd_officer", personal), 422)
    assert "不得包含身份证号" in body["fields"]["published_text"][0]
    case.do("publication", "pd_officer", PUBLICATION)
    final = case.detail()
    assert final["status"] == "completed" and final["data"]["published"] is True
    assert final["data"]["channels"] == ["bulletin_board", "website"]
    record = client.get(f"/api/v1/process-instances/{case.id}/records", headers=login("pd_district")).json
    published = [r for r in record["items"] if r["bpmn_id"] == "publication"]
    assert published[0]["data"]["published_items"] == ["progress", "results"]
