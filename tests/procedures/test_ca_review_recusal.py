"""The democratic review's record (notice 002, 三(二)3) and near-relative recusal at every step
(notice 004, (三)近亲属备案): refusals through the REST API."""

from __future__ import annotations

from sqlalchemy import select

from api.extensions import db
from engine.audit.models import AuditAction, AuditEvent
from tests.helpers import assert_error
from tests.procedures.cases import supply_materials
from tests.procedures.helpers import (
    APPLICANT,
    KEY,
    STREET,
    Case,
    application,
    assess,
    review,
    to_review,
)


def file_relative(client, login, staff="pt_officer", number=APPLICANT):
    response = client.post(
        "/api/v1/near-relatives",
        headers=login("pt_head"),
        json={"staff_username": staff, "relative_id_number": number, "relation": "sibling"},
    )
    assert response.status_code == 201, response.json
    return response.json["id"]


# --- the democratic review ------------------------------------------------------------------------


def test_review_record_names_chair_members_votes_and_vouchers(client, login):
    case = Case(client, login)
    to_review(case)
    case.do("democratic_review", "pt_panel", review(votes_for=4, votes_against=1, abstain=1))
    data = case.detail()["data"]
    assert (data["members_present"], data["votes_for"], data["votes_against"], data["votes_abstain"]) == (
        6,
        4,
        1,
        1,
    )
    assert data["chair_username"] == "pt_officer"
    assert [m["vote"] for m in data["members"]] == ["for"] * 4 + ["against", "abstain"]
    assert data["vouchers_checked"] == ["income_proof", "investigation_record"]
    assert case.open() == ["street_approval"]


def test_the_chair_must_be_a_street_or_district_officer_of_the_case(client, login):
    case = Case(client, login)
    to_review(case)
    for chair in ("pt_panel", "pt_advisor", "pt_other_street_officer", "nobody"):
        body = assert_error(case.submit("democratic_review", "pt_panel", review(chair_username=chair)), 422)
        assert "主持人" in body["fields"]["chair_username"][0], chair
    case.do("democratic_review", "pt_panel", review(chair_username="pt_district"))
    assert case.open() == ["street_approval"]


def test_quorum_counts_the_members_present_and_each_only_once(client, login):
    case = Case(client, login)
    to_review(case)
    body = assert_error(
        case.submit("democratic_review", "pt_panel", review(votes_for=3, votes_against=1)), 422
    )
    assert "法定人数" in body["fields"]["members"][0]
    twice = review()
    twice["members"][1]["name"] = twice["members"][0]["name"]
    body = assert_error(case.submit("democratic_review", "pt_panel", twice), 422)
    assert "重复" in body["fields"]["members"][0]
    no_vouchers = review(vouchers_checked=[])
    assert (
        "vouchers_checked"
        in assert_error(case.submit("democratic_review", "pt_panel", no_vouchers), 422)["fields"]
    )
    no_reason = review(votes_for=3, votes_against=3)
    assert (
        "rejection_reason"
        in assert_error(case.submit("democratic_review", "pt_panel", no_reason), 422)["fields"]
    )
    assert case.open() == ["democratic_review"], "nothing changed"


def test_a_split_panel_rejects_with_the_reason(client, login):
    case = Case(client, login)
    to_review(case)
    case.do(
        "democratic_review", "pt_panel", review(votes_for=3, votes_against=3, rejection_reason="意见分歧")
    )
    final = case.detail()
    assert final["data"]["outcome"] == "rejected" and "意见分歧" in final["data"]["notice_to_applicant"]


# --- recusal --------------------------------------------------------------------------------------


def test_an_advisor_cannot_register_their_own_relatives_application(client, login):
    file_relative(client, login, staff="pt_advisor")
    created = client.post(
        "/api/v1/process-instances",
        json={"process_key": KEY, "org_unit": STREET},
        headers=login("pt_advisor"),
    ).json
    url = f"/api/v1/tasks/{created['open_tasks'][0]['id']}/complete"
    refused = client.post(url, json={"data": application()}, headers=login("pt_advisor"))
    assert "回避" in assert_error(refused, 403)["message"]
    detail = client.get(f"/api/v1/process-instances/{created['id']}", headers=login("pt_head")).json
    assert [t["bpmn_id"] for t in detail["open_tasks"]] == ["application"], "nothing registered"
    # another advisor of the street registers it (with its materials); the relative's case then goes to
    # the district
    supply_materials(client, login("pt_advisor2"), created["open_tasks"][0]["id"])
    done = client.post(url, json={"data": application()}, headers=login("pt_advisor2"))
    assert done.status_code == 200, done.json


def test_an_advisor_cannot_start_a_case_naming_their_relative(client, login):
    file_relative(client, login, staff="pt_advisor")
    refused = client.post(
        "/api/v1/process-instances",
        json={"process_key": KEY, "org_unit": STREET, "data": {"applicant_id_number": APPLICANT}},
        headers=login("pt_advisor"),
    )
    assert "回避" in str(assert_error(refused, 422)["fields"]["data"])


def test_a_filing_made_after_the_case_started_takes_effect_at_the_next_step(client, login):
    case = Case(client, login)
    case.do("acceptance", "pt_officer", {"accepted": True})
    case.do(
        "home_investigation",
        "pt_advisor",
        {"visit_date": "2026-11-18", "findings": "入户核实，情况属实", "household_verified": True},
    )
    filing = file_relative(client, login, staff="pt_officer")
    task = case.task("assessment")
    claim = client.post(f"/api/v1/tasks/{task['id']}/claim", headers=login("pt_officer"))
    assert "回避" in assert_error(claim, 403)["message"]
    assert "回避" in assert_error(case.submit("assessment", "pt_officer", assess()), 403)["message"]
    assigned = client.post(
        f"/api/v1/tasks/{task['id']}/assign", headers=login("pt_head"), json={"username": "pt_officer"}
    )
    assert "username" in assert_error(assigned, 422)["fields"]
    # withdrawn (audited): the officer may handle the case again
    withdrawn = client.post(
        f"/api/v1/near-relatives/{filing}/withdraw", headers=login("pt_head"), json={"reason": "登记有误"}
    )
    assert withdrawn.status_code == 200, withdrawn.json
    case.do("assessment", "pt_officer", assess())
    reasons = db.session.scalars(
        select(AuditEvent.details).where(AuditEvent.action == AuditAction.NEAR_RELATIVE_WITHDRAWN.value)
    ).all()
    assert [d["reason"] for d in reasons] == ["登记有误"]


def test_a_late_filing_also_bars_chairing_and_paying(client, login):
    case = Case(client, login)
    to_review(case)
    file_relative(client, login, staff="pt_finance")
    case.do("democratic_review", "pt_panel", review())
    case.do(
        "street_approval",
        "pt_head",
        {"approval_decision": "approve", "approved_amount": "3000.00", "approval_opinion": "同意"},
    )
    paid = case.submit(
        "disbursement",
        "pt_finance",
        {"amount_paid": "3000.00", "paid_on": "2026-11-20", "payment_method": "bank_transfer"},
    )
    assert "回避" in assert_error(paid, 403)["message"]
