"""Fast track A 先帮扶、事后补办手续 (notice 002, 三(二)4): the immediate aid has its own cap and authority,
and after it the ordinary chain (assessment, democratic review, approval) still runs."""

from __future__ import annotations

from tests.helpers import assert_error
from tests.procedures.helpers import Case, approve, assess, pay, review

PAPERWORK = {"documents_complete": True, "investigation_summary": "已补齐材料并核实"}


def emergency(amount, paid_on="2026-11-20"):
    return {"amount_paid": amount, "paid_on": paid_on}


def test_emergency_over_the_cap_needs_the_district_and_its_amount(client, login):
    case = Case(
        client,
        login,
        fast_track_help_first=True,
        emergency_reason="突发火灾，无处栖身",
        amount_requested="8000.00",
    )
    assert case.open() == ["emergency_district_approval"], "above the street's cap the district decides"
    refused = case.submit(
        "emergency_district_approval",
        "pt_head",
        {
            "emergency_decision": "approve",
            "emergency_approved_amount": "6000.00",
            "emergency_opinion": "同意",
        },
    )
    assert_error(refused, 403)
    over = case.submit(
        "emergency_district_approval",
        "pt_district",
        {
            "emergency_decision": "approve",
            "emergency_approved_amount": "8000.01",
            "emergency_opinion": "同意",
        },
    )
    assert "emergency_approved_amount" in assert_error(over, 422)["fields"]
    case.do(
        "emergency_district_approval",
        "pt_district",
        {
            "emergency_decision": "approve",
            "emergency_approved_amount": "6000.00",
            "emergency_opinion": "同意",
        },
    )
    body = assert_error(case.submit("emergency_disbursement", "pt_finance", emergency("6000.01")), 422)
    assert "先行帮扶限额" in body["fields"]["amount_paid"][0]
    case.do("emergency_disbursement", "pt_finance", emergency("6000.00"))
    assert case.open() == ["complete_file"]


def test_district_refusing_the_emergency_sends_the_case_the_ordinary_way(client, login):
    case = Case(
        client,
        login,
        fast_track_help_first=True,
        emergency_reason="突发火灾，无处栖身",
        amount_requested="8000.00",
    )
    case.do(
        "emergency_district_approval",
        "pt_district",
        {"emergency_decision": "reject", "emergency_opinion": "不属急难情形，按常规程序"},
    )
    assert case.open() == ["acceptance"]


def test_street_cap_refuses_more_than_the_cap(client, login):
    case = Case(
        client,
        login,
        fast_track_help_first=True,
        emergency_reason="突发火灾，无处栖身",
        amount_requested="5000.00",
    )
    data = case.detail()["data"]
    assert data["emergency_cap"] == 5000 and data["emergency_decision"] == "none"
    body = assert_error(case.submit("emergency_disbursement", "pt_finance", emergency("5000.01")), 422)
    assert "amount_paid" in body["fields"]


def test_after_the_emergency_payment_the_review_chain_runs_and_pays_the_balance(client, login):
    case = Case(client, login, fast_track_help_first=True, emergency_reason="突发火灾，无处栖身")
    case.do("emergency_disbursement", "pt_finance", emergency("2000.00"))
    assert case.open() == ["complete_file"]
    case.do("complete_file", "pt_officer", PAPERWORK)
    assert case.open() == ["assessment"]
    case.do("assessment", "pt_officer", assess("4000.00"))
    assert case.open() == ["democratic_review"]
    case.do("democratic_review", "pt_panel", review())
    case.do("street_approval", "pt_head", approve("4000.00"))
    assert case.open() == ["disbursement"], "the balance after the immediate aid is still to pay"
    body = assert_error(case.submit("disbursement", "pt_finance", pay("2000.01")), 422)
    assert "先行发放" in body["fields"]["amount_paid"][0]
    case.do("disbursement", "pt_finance", pay("2000.00"))
    assert case.open() == []  # waiting for the follow-up visit
    data = case.detail()["data"]
    assert data["emergency_amount_paid"] == "2000.00" and data["amount_paid"] == "2000.00"


def test_emergency_covering_the_approved_amount_skips_the_second_payment(client, login):
    case = Case(client, login, fast_track_help_first=True, emergency_reason="突发火灾，无处栖身")
    case.do("emergency_disbursement", "pt_finance", emergency("3000.00"))
    case.do("complete_file", "pt_officer", PAPERWORK)
    case.do("assessment", "pt_officer", assess("3000.00"))
    case.do("democratic_review", "pt_panel", review())
    case.do("street_approval", "pt_head", approve("3000.00"))
    assert case.open() == []
    timers = client.get(f"/api/v1/process-instances/{case.id}/timers", headers=login("pt_head")).json
    assert [t["bpmn_id"] for t in timers] == ["follow_up_wait"]


def test_refusal_after_the_emergency_payment_ends_with_a_notice(client, login):
    case = Case(client, login, fast_track_help_first=True, emergency_reason="突发火灾，无处栖身")
    case.do("emergency_disbursement", "pt_finance", emergency("1000.00"))
    case.do("complete_file", "pt_officer", PAPERWORK)
    case.do(
        "assessment",
        "pt_officer",
        {
            "assessment_opinion": "核实后不符合条件",
            "assessment_decision": "reject",
            "rejection_reason": "收入超标",
        },
    )
    final = case.detail()
    assert final["status"] == "completed" and final["data"]["outcome"] == "rejected"
    assert final["data"]["emergency_amount_paid"] == "1000.00"
