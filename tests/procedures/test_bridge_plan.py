"""Bridge Plan 桥计划 through the REST API: the district project, its household cases and every rule."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from api.extensions import db
from engine.ledger.models import ServiceRecord
from tests.helpers import assert_error
from tests.procedures.cases import ApiCase
from tests.procedures.helpers import (
    FILING,
    GROUPS_DONE,
    PUDONG,
    PUTUO,
    SH,
    YOUTH,
    Household,
    Project,
    contract,
    final_report,
    household,
    lines,
    needs,
    run_scheduler,
    staff,
    transfer_accepted,
)


def test_project_and_households_normal_path_to_payment(client, login, june):
    project = Project(client, login)
    assert project.open() == ["annual_list"]
    cases = project.confirm()
    assert len(cases) == 2
    data = project.detail()["data"]
    assert Decimal(data["budget_total"]) == Decimal("8000.00") and Decimal(data["budget_cap"]) == Decimal(
        "10000"
    )
    assert project.open() == ["group_work", "midterm_report"]
    first = cases[0].detail()
    assert first["org_unit"] == "310107014" and first["data"]["budget_share"] == "4000.00"

    june.move_to(dt.datetime(2026, 7, 1, 9, 5, tzinfo=SH))
    run_scheduler()
    assert project.open() == ["group_work", "midterm_report", "monthly_report"]
    report = {
        "report_month": 6,
        "households_served": 2,
        "visits": 4,
        "group_activities": 1,
        "spent_to_date": "1000.00",
        "progress": "已完成需求评估",
    }
    project.do("monthly_report", "pt_agency_worker", report)
    project.do(
        "midterm_report",
        "pt_agency_lead",
        {"summary": "中期进展顺利，服务按计划推进", "spent_to_date": "3000.00"},
    )
    group = {"group_action": "group", "group_ref": "G1", "group_name": "就业技能小组"}
    project.do(
        "group_work",
        "pt_agency_worker",
        {**group, "members": [{"household_ref": "PT-001"}, {"household_ref": "PT-002"}]},
    )
    for n in range(4):
        activity = {"group_action": "activity", "group_ref": "G1", "happened_on": f"2026-{7 + n:02d}-10"}
        project.do("group_work", "pt_agency_worker", {**activity, "topic": "求职技能", "attendance": 2})
    project.do("group_work", "pt_agency_worker", GROUPS_DONE)

    for case in cases:
        case.assess_and_plan()
        for _ in range(5):
            case.record()
        case.record("close")
        case.do("closure", "pt_agency_lead", {"post_test_score": 75, "summary": "目标达成，予以结案"})
        assert case.detail()["status"] == "completed"
    project.do("final_report", "pt_agency_lead", final_report())
    data = project.detail()["data"]
    assert (
        data["households_total"] == 2 and data["visits_total"] == 10 and data["satisfaction_rate"] == "100.0"
    )
    assert data["groups"] == [{"group_ref": "G1", "name": "就业技能小组", "members": 2, "activities": 4}]
    assert data["spending_by_category"] == {"comprehensive_services": "8000.00"} and (
        data["visits_per_household"] == "5.00"
    )
    project.do(
        "district_acceptance",
        "pt_district",
        {"acceptance_decision": "accept", "accepted_amount": "8000.00", "opinion": "验收合格"},
    )
    project.do(
        "payment",
        "pt_district_finance",
        {"amount_paid": "8000.00", "payee": "agency", "paid_on": "2026-12-30"},
    )
    final = project.detail()
    assert (
        final["status"] == "completed" and final["open_tasks"] == []
    )  # the report cycle ended with the service


def test_monthly_reports_one_per_month_and_overdue_ones_escalate(client, login, june):
    project = Project(client, login, households=1)
    project.confirm()
    june.move_to(dt.datetime(2026, 8, 1, 9, 5, tzinfo=SH))
    run_scheduler()  # July 1 and August 1 both passed
    reports = [t for t in project.detail()["open_tasks"] if t["bpmn_id"] == "monthly_report"]
    assert len(reports) == 2
    body = {
        "report_month": 6,
        "households_served": 1,
        "visits": 2,
        "group_activities": 0,
        "spent_to_date": "0",
        "progress": "需求评估完成",
    }
    ok = client.post(
        f"/api/v1/tasks/{reports[0]['id']}/complete", json={"data": body}, headers=login("pt_agency_worker")
    )
    assert ok.status_code == 200, ok.json
    again = client.post(
        f"/api/v1/tasks/{reports[1]['id']}/complete", json={"data": body}, headers=login("pt_agency_worker")
    )
    assert "已报送" in assert_error(again, 422)["fields"]["report_month"][0]
    june.move_to(dt.datetime(2026, 8, 20, 9, 5, tzinfo=SH))  # five working days long past
    run_scheduler()
    task = client.get(f"/api/v1/tasks/{reports[1]['id']}", headers=login("city")).json
    assert task["sla"] == "red" and task["escalated_role"] == "city_officer"


def test_rule_refusals_name_the_rule(client, login, june):
    project = Project.__new__(Project)
    ApiCase.__init__(project, client, login, "bridge_plan_project", "310107", starter="city", viewer="city")
    project.where, project.households = PUTUO, [household(i, "310107014") for i in (1, 2)]
    project.do("city_plan", "city", {"project_year": 2026, "district_allocation": "100000.00"})
    outside = {**household(9, "310115004"), "hardship": "dibao", "source": "big_data", **YOUTH}
    body = assert_error(project.submit("candidate_list", "pt_district", {"candidates": [outside]}), 422)
    assert "不属于本区" in body["fields"]["candidates"][0]
    project.do(
        "candidate_list",
        "pt_district",
        {
            "candidates": [
                {**h, "hardship": "dibao", "source": "big_data", **YOUTH} for h in project.households
            ]
        },
    )
    body = assert_error(project.submit("agency_contract", "pt_district", contract(staff=staff(2, 3))), 422)
    assert "持证工作人员不少于3名" in body["fields"]["staff"][0]
    project.do("agency_contract", "pt_district", contract())
    project.do("agreement_filing", "city", FILING)
    project.do(
        "willingness_calls",
        "pt_agency_worker",
        {
            "calls": [
                {"household_ref": "PT-001", "called_on": "2026-06-05", "willing": True},
                {"household_ref": "PT-002", "called_on": "2026-06-05", "willing": False},
            ]
        },
    )
    body = assert_error(project.submit("annual_list", "pt_agency_lead", project.annual_list()), 422)
    assert "未确认服务意愿" in body["fields"]["households"][0]
    project.households = project.households[:1]
    no_reason = project.annual_list()
    del no_reason["fewer_reason"]
    body = assert_error(project.submit("annual_list", "pt_agency_lead", no_reason), 422)
    assert "不足20户，须书面说明理由" in body["fields"]["fewer_reason"][0]
    over = project.annual_list(budget_lines=lines("3000.00", "2000.01"))
    body = assert_error(project.submit("annual_list", "pt_agency_lead", over), 422)
    assert "平均每户不得超过5000元" in body["fields"]["budget_lines"][0]
    cash = project.annual_list(budget_lines=lines("1000.00", payee="household_cash"))
    body = assert_error(project.submit("annual_list", "pt_agency_lead", cash), 422)
    assert "不得以现金形式发给服务对象家庭" in body["fields"]["budget_lines"][0]
    project.do("annual_list", "pt_agency_lead", project.annual_list(budget_lines=lines("5000.00")))
    project.do("district_confirmation", "pt_district", {"decision": "return", "opinion": "请补充说明"})
    assert project.open() == ["annual_list"]  # returned for changes: nothing opened yet
    assert project.detail()["data"].get("household_case_ids") is None


def test_twenty_households_need_no_reason(client, login, june):
    project = Project(client, login, households=20)
    data = project.annual_list(budget_lines=lines("100000.00"))
    assert "fewer_reason" not in data
    project.do("annual_list", "pt_agency_lead", data)
    project.do("district_confirmation", "pt_district", {"decision": "approve", "opinion": "同意"})
    assert len(project.detail()["data"]["household_case_ids"]) == 20


def test_closing_with_fewer_than_five_visits_needs_a_reason(client, login, june):
    case = Project(client, login, households=1).confirm()[0]
    case.assess_and_plan()
    for _ in range(3):
        case.record()
    case.record("group", content="小组活动：就业技能")
    case.record("close")
    body = assert_error(
        case.submit("closure", "pt_agency_lead", {"post_test_score": 60, "summary": "学生入伍，提前结案"}),
        422,
    )
    assert "仅 3 次" in body["fields"]["short_visits_reason"][0], body
    case.do(
        "closure",
        "pt_agency_lead",
        {
            "post_test_score": 60,
            "summary": "学生入伍，提前结案",
            "short_visits_reason": "学生入伍，家庭无需继续服务",
        },
    )
    final = case.detail()
    assert (
        final["status"] == "completed"
        and final["data"]["visit_count"] == 3
        and final["data"]["group_count"] == 1
    )


@pytest.mark.parametrize("stage", ["needs_assessment", "household_plan", "case_work"])
def test_withdrawal_at_any_stage_closes_with_a_record(client, login, june, stage):
    case = Project(client, login, households=1).confirm()[0]
    if stage == "needs_assessment":
        case.do("needs_assessment", "pt_agency_worker", {"family_withdraws": True})
    elif stage == "household_plan":
        case.do("needs_assessment", "pt_agency_worker", needs())
        case.do("household_plan", "pt_agency_worker", {"family_withdraws": True})
    else:
        case.assess_and_plan()
        case.record()
        case.record("withdraw")
    assert case.open() == ["withdrawal"]
    assert (
        "closure_record"
        in assert_error(
            case.submit(
                "withdrawal",
                "pt_agency_lead",
                {"withdrawn_on": "2026-06-30", "reason": "家庭搬离", "plan_adjustment": "名单调整并报区"},
            ),
            422,
        )["fields"]
    )
    case.do(
        "withdrawal",
        "pt_agency_lead",
        {
            "withdrawn_on": "2026-06-30",
            "reason": "家庭搬离",
            "closure_record": "经协商退出服务，已告知",
            "plan_adjustment": "名单调整并报区",
        },
    )
    final = case.detail()
    assert final["status"] == "completed" and final["data"]["outcome"] == "withdrawn"


def test_transfer_moves_the_case_and_its_budget_share(client, login, june):
    putuo = Project(client, login, households=2)
    cases = putuo.confirm()
    pudong = Project(client, login, where=PUDONG, households=1, prefix="PD")
    pudong.confirm()
    moving = cases[0]
    moving.assess_and_plan()
    moving.record()
    moving.record("transfer")
    same = assert_error(
        moving.submit("transfer", "pt_district", {"target_street": "310107015", "reason": "人户分离"}), 422
    )
    assert "无需转介" in same["fields"]["target_street"][0]
    moving.do("transfer", "pt_district", {"target_street": "310115004", "reason": "人户分离，实际居住浦东"})
    transfer_accepted(moving)
    moved = moving.detail()
    assert moved["org_unit"] == "310115004" and moving.open() == ["case_work"]
    # the receiving district's worker carries on; the sending district no longer sees the case
    assert (
        client.get(f"/api/v1/process-instances/{moving.id}", headers=login("pt_agency_worker")).status_code
        == 403
    )
    mine = client.get("/api/v1/tasks?scope=claimable", headers=login("pd_agency_worker")).json
    assert moving.id in {t["instance_id"] for t in mine["items"]}
    moving.where = PUDONG
    for _ in range(4):
        moving.record()
    moving.record("close")
    moving.do("closure", "pd_agency_lead", {"post_test_score": 70, "summary": "在居住地完成服务"})
    # the budget share moved: Pudong now holds 4000 + 4000, Putuo 4000
    cases[1].assess_and_plan()
    for _ in range(5):
        cases[1].record()
    cases[1].record("close")
    cases[1].do("closure", "pt_agency_lead", {"post_test_score": 70, "summary": "服务目标完成"})
    putuo.do(
        "midterm_report", "pt_agency_lead", {"summary": "中期进展顺利，一户转出", "spent_to_date": "100.00"}
    )
    putuo.do("group_work", "pt_agency_worker", GROUPS_DONE)
    over = assert_error(
        putuo.submit("final_report", "pt_agency_lead", final_report("4000.01", refs=("PT-002",))), 422
    )
    assert "超过预算上限 4000.00" in over["fields"]["spending_lines"][0]
    putuo.do("final_report", "pt_agency_lead", final_report("4000.00", refs=("PT-002",)))
    assert putuo.detail()["data"]["households_total"] == 1
    events = client.get(f"/api/v1/process-instances/{pudong.id}/events", headers=login("city")).json
    assert any(e["action"] == "case.transferred" for e in events)


def test_final_report_waits_for_every_household_and_five_typical_cases(client, login, june):
    project = Project(client, login, households=1)
    case = project.confirm()[0]
    project.do(
        "midterm_report", "pt_agency_lead", {"summary": "中期进展顺利，服务按计划推进", "spent_to_date": "0"}
    )
    project.do("group_work", "pt_agency_worker", GROUPS_DONE)
    # the project waits for every household's closure message: no final report yet, and the case page
    # says what it waits for
    assert "final_report" not in project.open()
    page = client.get(f"/api/v1/process-instances/{project.id}", headers=login("admin")).json
    assert page["status"] == "running"
    case.do("needs_assessment", "pt_agency_worker", {"family_withdraws": True})
    case.do(
        "withdrawal",
        "pt_agency_lead",
        {
            "withdrawn_on": "2026-06-30",
            "reason": "家庭搬离",
            "closure_record": "经协商退出服务",
            "plan_adjustment": "名单调整并报区",
        },
    )
    assert "final_report" in project.open()  # the closure message arrived
    assert project.detail()["data"]["last_closure"] == {"household_ref": "PT-001", "outcome": "withdrawn"}
    twice = final_report("100.00", refs=("PT-001", "PT-001"))
    few = assert_error(project.submit("final_report", "pt_agency_lead", twice), 422)
    assert "已作为典型案例" in few["fields"]["typical_cases"][0]
    project.do("final_report", "pt_agency_lead", final_report("100.00", refs=("PT-001",)))
    more = assert_error(
        project.submit(
            "district_acceptance",
            "pt_district",
            {"acceptance_decision": "accept", "accepted_amount": "100.01", "opinion": "验收"},
        ),
        422,
    )
    assert "核定金额不得超过实际支出" in more["fields"]["accepted_amount"][0]
    project.do(
        "district_acceptance", "pt_district", {"acceptance_decision": "rectify", "opinion": "材料不全"}
    )
    project.do("rectification", "pt_agency_lead", {"rectification": "已补齐全部材料"})
    project.do(
        "district_acceptance",
        "pt_district",
        {"acceptance_decision": "accept", "accepted_amount": "100.00", "opinion": "验收合格"},
    )
    cash = assert_error(
        project.submit(
            "payment",
            "pt_district_finance",
            {"amount_paid": "100.01", "payee": "agency", "paid_on": "2026-12-30"},
        ),
        422,
    )
    assert "拨付金额不得超过核定金额" in cash["fields"]["amount_paid"][0]
    household_cash = project.submit(
        "payment",
        "pt_district_finance",
        {"amount_paid": "100.00", "payee": "household", "paid_on": "2026-12-30"},
    )
    assert "payee" in assert_error(household_cash, 422)["fields"]


def test_a_service_item_counts_in_one_project_only_and_other_projects_are_flagged(client, login, june):
    putuo = Project(client, login, households=1)
    case = putuo.confirm()[0]
    case.assess_and_plan()
    case.record("service", service_item_ref="JOB-2026-0001", content="链接就业培训资源")
    again = case.submit(
        "case_work",
        "pt_agency_worker",
        {
            "action": "service",
            "happened_on": "2026-06-21",
            "content": "再次记录",
            "service_item_ref": "JOB-2026-0001",
        },
    )
    assert "已在本项目记录" in assert_error(again, 422)["fields"]["service_item_ref"][0]
    # the same family served by another project (a Pudong project lists it too): flagged, and the
    # item already counted here cannot be counted there
    same_head = {
        **household(1, PUDONG["street"], "PD"),
        "head_id_number": putuo.households[0]["head_id_number"],
    }
    pudong = Project(client, login, where=PUDONG, rows=[same_head])
    pudong.do("annual_list", "pd_agency_lead", pudong.annual_list())
    flagged = pudong.detail()["data"]["flagged_households"]
    assert flagged[0]["household_ref"] == "PD-001" and flagged[0]["projects"][0]["name"] == "桥计划"
    pudong.do("district_confirmation", "pd_district_officer", {"decision": "approve", "opinion": "同意"})
    other = Household(pudong, pudong.detail()["data"]["household_case_ids"][0])
    other.do("needs_assessment", "pd_agency_worker", needs())
    assert other.detail()["data"]["served_by_other_projects"][0]["process_key"] == "bridge_plan_household"
    other.do(
        "household_plan",
        "pd_agency_worker",
        {"goals": "稳定就业并增加收入", "methods": ["resources"], "planned_visits": 5},
    )
    twice = other.submit(
        "case_work",
        "pd_agency_worker",
        {
            "action": "service",
            "happened_on": "2026-06-22",
            "content": "就业培训",
            "service_item_ref": "JOB-2026-0001",
        },
    )
    assert "已计入其他民政项目（桥计划）" in assert_error(twice, 422)["fields"]["service_item_ref"][0]
    assert (
        db.session.scalar(select(func.count()).select_from(ServiceRecord)) == 1
    )  # the refusal wrote nothing


def test_a_household_with_300_visits_completes_correctly(client, login, june):
    case = Project(client, login, households=1).confirm()[0]
    case.assess_and_plan()
    task_id = case.task("case_work")["id"]
    headers = login("pt_agency_worker")
    body = {"data": {"action": "visit", "happened_on": "2026-07-01", "content": "入户走访"}}
    for _ in range(300):
        response = client.post(f"/api/v1/tasks/{task_id}/complete", json=body, headers=headers)
        assert response.status_code == 200, response.json
        task_id = case.task("case_work")["id"]
    case.record("close")
    case.do("closure", "pt_agency_lead", {"post_test_score": 90, "summary": "三百次走访后结案"})
    final = case.detail()
    assert final["status"] == "completed" and final["data"]["visit_count"] == 300
    assert db.session.scalar(select(func.count()).select_from(ServiceRecord)) == 300
    # every visit is its own record, all listed (two pages of 200)
    listed = [
        r
        for page in (1, 2)
        for r in client.get(
            f"/api/v1/process-instances/{case.id}/records?per_page=200&page={page}", headers=login("city")
        ).json["items"]
        if r["bpmn_id"] == "case_work" and r["data"]["action"] == "visit"
    ]
    assert [r["iteration"] for r in listed] == list(range(1, 301))
