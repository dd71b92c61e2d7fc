"""Citizen comprehensive assistance 市民综合帮扶, driven end to end through the REST API as each role would."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from sqlalchemy.orm import sessionmaker

from api.extensions import db
from engine.deadlines import calendar as cal
from engine.deadlines import service as deadlines
from tests.helpers import assert_error
from tests.procedures.cases import fresh_token
from tests.procedures.helpers import (
    APPLICANT,
    KEY,
    STREET,
    Case,
    application,
    approve,
    assess,
    pay,
    review,
    to_review,
)


def test_normal_path_to_closure_with_30_day_follow_up(client, login):
    case = Case(client, login)
    assert case.open() == ["acceptance"]
    to_review(case)
    case.do("democratic_review", "pt_panel", review())
    assert case.open() == ["street_approval"]
    case.do("street_approval", "pt_head", approve())
    case.do("disbursement", "pt_finance", pay())
    assert case.open() == []  # waiting 30 days for the follow-up
    timers = client.get(f"/api/v1/process-instances/{case.id}/timers", headers=login("pt_head")).json
    assert [t["bpmn_id"] for t in timers] == ["follow_up_wait"]
    due = dt.datetime.fromisoformat(timers[0]["due_at"])
    assert dt.timedelta(days=29, hours=23) < due - dt.datetime.now(dt.UTC) <= dt.timedelta(days=30)
    with time_machine.travel(due + dt.timedelta(minutes=1), tick=False):
        deadlines.run_due(sessionmaker(bind=db.engine, expire_on_commit=False))
        headers = fresh_token(client, "pt_advisor")
        follow_up = next(
            t for t in client.get(f"/api/v1/process-instances/{case.id}", headers=headers).json["open_tasks"]
        )
        assert follow_up["bpmn_id"] == "follow_up_visit"
        response = client.post(
            f"/api/v1/tasks/{follow_up['id']}/complete",
            headers=headers,
            json={
                "data": {
                    "visit_date": "2026-12-21",
                    "situation": "病情稳定，生活基本正常",
                    "still_needs_help": False,
                }
            },
        )
        assert response.status_code == 200, response.json
    case.do(
        "feedback",
        "pt_officer",
        {"satisfaction": "satisfied", "feedback": "感谢及时帮助", "case_closed": True},
    )
    final = case.detail()
    assert final["status"] == "completed" and final["data"]["outcome"] == "closed"
    assert final["data"]["amount_paid"] == "3000.00"


def test_fast_track_b_skips_the_home_investigation(client, login):
    case = Case(client, login, hardship_category="dibao_edge", still_in_difficulty=True)
    case.do("acceptance", "pt_officer", {"accepted": True})
    assert case.open() == ["assessment"]


def test_other_families_get_the_home_investigation(client, login):
    case = Case(client, login, hardship_category="dibao", still_in_difficulty=False)
    case.do("acceptance", "pt_officer", {"accepted": True})
    assert case.open() == ["home_investigation"]


def test_fast_track_a_pays_first_and_files_within_10_working_days(client, login):
    case = Case(client, login, fast_track_help_first=True, emergency_reason="突发火灾，无处栖身")
    assert case.open() == ["emergency_disbursement"]
    over = case.submit(
        "emergency_disbursement", "pt_finance", {"amount_paid": "5000.01", "paid_on": "2026-11-20"}
    )
    assert "amount_paid" in assert_error(over, 422)["fields"]
    case.do("emergency_disbursement", "pt_finance", {"amount_paid": "2000.00", "paid_on": "2026-11-20"})
    task = case.task("complete_file")
    assert task["deadline"] == "10 working days"
    created = dt.datetime.fromisoformat(task["created_at"])
    expected = cal.end_of_day(cal.add_working_days(cal.local_day(created), 10))
    assert dt.datetime.fromisoformat(task["due_at"]) == expected
    case.do(
        "complete_file",
        "pt_officer",
        {"documents_complete": True, "investigation_summary": "已补齐材料并核实"},
    )
    assert case.open() == ["assessment"], "the paperwork starts the ordinary review chain"


@pytest.mark.parametrize(
    ("step", "data", "reason"),
    [
        (
            "acceptance",
            {"accepted": False, "rejection_reason": "不属于本街镇户籍或居住"},
            "不属于本街镇户籍或居住",
        ),
        (
            "assessment",
            {
                "assessment_opinion": "家庭收入超出标准",
                "assessment_decision": "reject",
                "rejection_reason": "家庭收入超出标准",
            },
            "家庭收入超出标准",
        ),
        (
            "democratic_review",
            review(votes_for=2, votes_against=4, rejection_reason="评议认为已有其他救助覆盖"),
            "评议认为已有其他救助覆盖",
        ),
        (
            "street_approval",
            {"approval_decision": "reject", "approval_opinion": "不同意", "rejection_reason": "材料不实"},
            "材料不实",
        ),
    ],
)
def test_rejection_at_each_review_step_is_recorded_with_a_notice(client, login, step, data, reason):
    case = Case(client, login)
    roles = {
        "acceptance": "pt_officer",
        "assessment": "pt_officer",
        "democratic_review": "pt_panel",
        "street_approval": "pt_head",
    }
    if step != "acceptance":
        case.do("acceptance", "pt_officer", {"accepted": True})
        case.do(
            "home_investigation",
            "pt_advisor",
            {"visit_date": "2026-11-18", "findings": "入户核实，情况属实", "household_verified": True},
        )
    if step in ("democratic_review", "street_approval"):
        case.do("assessment", "pt_officer", assess())
    if step == "street_approval":
        case.do("democratic_review", "pt_panel", review())
    case.do(step, roles[step], data)
    final = case.detail()
    assert final["status"] == "completed" and final["data"]["outcome"] == "rejected"
    assert reason in final["data"]["notice_to_applicant"]


def test_district_approval_above_the_amount_threshold(client, login):
    case = Case(client, login, amount_requested="30000.00")
    case.do("acceptance", "pt_officer", {"accepted": True})
    case.do(
        "home_investigation",
        "pt_advisor",
        {"visit_date": "2026-11-18", "findings": "入户核实，情况属实", "household_verified": True},
    )
    case.do("assessment", "pt_officer", assess("25000.00"))
    case.do("democratic_review", "pt_panel", review())
    assert case.open() == ["district_approval"]
    over = case.submit("district_approval", "pt_district", approve("25000.01"))
    assert "approved_amount" in assert_error(over, 422)["fields"]
    case.do("district_approval", "pt_district", approve("25000.00"))
    over = case.submit("disbursement", "pt_finance", pay("25000.01"))
    body = assert_error(over, 422)
    assert "不得超过批准金额" in body["fields"]["amount_paid"][0]
    case.do("disbursement", "pt_finance", pay("24999.99"))
    assert case.detail()["data"]["amount_paid"] == "24999.99"


def test_rule_refusals_name_the_rule(client, login):
    created = client.post(
        "/api/v1/process-instances",
        json={"process_key": KEY, "org_unit": STREET},
        headers=login("pt_advisor"),
    ).json
    task_id = created["open_tasks"][0]["id"]
    url = f"/api/v1/tasks/{task_id}/complete"
    headers = login("pt_advisor")
    body = assert_error(
        client.post(url, json={"data": application(credit_commitment_signed=False)}, headers=headers), 422
    )
    assert "credit_commitment_signed" in body["fields"]
    body = assert_error(
        client.post(url, json={"data": application(aid_types=["money", "goods"])}, headers=headers), 422
    )
    assert "goods_description" in body["fields"]
    body = assert_error(
        client.post(url, json={"data": application(fast_track_help_first=True)}, headers=headers), 422
    )
    assert "emergency_reason" in body["fields"]
    body = assert_error(
        client.post(url, json={"data": application(applicant_id_number="123")}, headers=headers), 422
    )
    assert "applicant_id_number" in body["fields"]

    case = Case(client, login)
    to_review(case)
    body = assert_error(
        case.submit("democratic_review", "pt_panel", review(votes_for=3, votes_against=1)),
        422,
    )
    assert "法定人数" in body["fields"]["members"][0]
    assert case.open() == ["democratic_review"], "nothing changed"


def test_assessment_cannot_propose_more_than_requested(client, login):
    case = Case(client, login)
    case.do("acceptance", "pt_officer", {"accepted": True})
    case.do(
        "home_investigation",
        "pt_advisor",
        {"visit_date": "2026-11-18", "findings": "入户核实，情况属实", "household_verified": True},
    )
    body = assert_error(case.submit("assessment", "pt_officer", assess("5000.01")), 422)
    assert "不得超过申请金额" in body["fields"]["proposed_amount"][0]


def test_near_relative_steps_aside_and_district_reviews(client, login):
    head = login("pt_head")
    filed = client.post(
        "/api/v1/near-relatives",
        headers=head,
        json={"staff_username": "pt_officer", "relative_id_number": APPLICANT, "relation": "sibling"},
    )
    assert filed.status_code == 201 and "*" in filed.json["relative_id_number"]
    assert_error(
        client.post(
            "/api/v1/near-relatives",
            headers=login("pt_advisor"),
            json={"staff_username": "pt_officer", "relative_id_number": APPLICANT, "relation": "sibling"},
        ),
        403,
    )
    body = assert_error(
        client.post(
            "/api/v1/near-relatives",
            headers=head,
            json={
                "staff_username": "nobody",
                "relative_id_number": "123456789012345678",
                "relation": "cousin",
            },
        ),
        422,
    )
    assert set(body["fields"]) >= {"relation"}

    case = Case(client, login)
    data = case.detail()["data"]
    assert data["near_relative_staff"] == ["pt_officer"] and data["needs_district_review"] is True
    acceptance = case.task("acceptance")
    refused = client.post(f"/api/v1/tasks/{acceptance['id']}/claim", headers=login("pt_officer"))
    assert "回避" in assert_error(refused, 403)["message"]
    assert "回避" in assert_error(case.submit("acceptance", "pt_officer", {"accepted": True}), 403)["message"]
    assigned = client.post(
        f"/api/v1/tasks/{acceptance['id']}/assign", headers=head, json={"username": "pt_officer"}
    )
    assert "username" in assert_error(assigned, 422)["fields"]
    case.do("acceptance", "pt_officer2", {"accepted": True})
    case.do(
        "home_investigation",
        "pt_advisor",
        {"visit_date": "2026-11-18", "findings": "入户核实，情况属实", "household_verified": True},
    )
    case.do("assessment", "pt_officer2", assess("1000.00"))
    chaired = assert_error(case.submit("democratic_review", "pt_panel", review()), 422)
    assert "回避" in chaired["fields"]["chair_username"][0], "the relative may not chair the review either"
    case.do("democratic_review", "pt_panel", review(chair_username="pt_head"))
    assert case.open() == ["district_approval"], (
        "a near relative's case goes to the district even for small sums"
    )
