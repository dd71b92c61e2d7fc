"""Twinning Plan 牵手计划 through the REST API: pairing, four-party agreement, the yearly loop, targets."""

from __future__ import annotations

import datetime as dt

from tests.helpers import assert_error
from tests.procedures.cases import ApiCase
from tests.procedures.helpers import (
    SH,
    SIGNERS,
    WORKERS,
    Twinning,
    aided_sign_off,
    day_log,
    evaluation_data,
    plan,
    run_scheduler,
    signature,
)


def test_pairing_from_the_reference_list(client, login, spring):
    case = Twinning(client, login, "TW04")
    data = case.detail()["data"]
    assert data["county"] == "甘肃省陇南市宕昌县" and data["dispatching_agency"] == "上海公益社工师事务所"
    unknown = ApiCase(client, login, "twinning", "310000", starter="city", viewer="city")
    body = assert_error(
        unknown.submit(
            "needs_assessment",
            "city",
            {"pairing_code": "TW99", "needs_summary": "儿童关爱服务需求", "confirmed_with_gansu": True},
        ),
        422,
    )
    assert "不在牵手计划名单中" in body["fields"]["pairing_code"][0]
    body = assert_error(
        unknown.submit(
            "needs_assessment",
            "city",
            {"pairing_code": "TW04", "needs_summary": "重复结对的需求", "confirmed_with_gansu": True},
        ),
        422,
    )
    assert "已有进行中的牵手计划" in body["fields"]["pairing_code"][0]


def test_the_agreement_takes_effect_only_when_all_four_have_signed(client, login, spring):
    case = Twinning(client, login)
    case.do(
        "agency_selection",
        "city",
        {
            "political_stance": True,
            "sound_management": True,
            "professional_service": True,
            "public_recognition": True,
            "selection_note": "合格",
        },
    )
    # one multi-instance step, one instance per party, each in that party's inbox under its name
    signing = [t for t in case.detail()["open_tasks"] if t["bpmn_id"] == "sign_agreement"]
    assert sorted(t["candidate_role"] for t in signing) == sorted(SIGNERS)
    assert {t["name"] for t in signing} == {
        "签署四方协议（市民政局）",
        "签署四方协议（甘肃省民政厅）",
        "签署四方协议（派出机构）",
        "签署四方协议（受援机构）",
    }
    assert len({t["id"] for t in signing}) == 4
    wrong_party = case.submit("sign_agreement", "city", signature(), role="gansu_officer")
    assert_error(wrong_party, 403)
    unsigned = case.submit("sign_agreement", "city", {**signature(), "signed": False}, role="city_officer")
    assert "signed" in assert_error(unsigned, 422)["fields"]
    for role in ("city_officer", "gansu_officer", "agency_lead"):
        case.do("sign_agreement", SIGNERS[role], signature(), role=role)
        assert "annual_plan" not in case.open() and not case.detail()["data"].get("agreement_effective")
    case.do("sign_agreement", "aided", signature(), role="aided_agency")
    data = case.detail()["data"]
    assert (
        case.open() == ["annual_plan"]
        and data["agreement_effective"] is True
        and data["working_year"] == 2021
    )
    assert {k for k in data if k.startswith("signature_")} == {
        "signature_city_bureau",
        "signature_gansu_department",
        "signature_dispatching_agency",
        "signature_aided_agency",
    }
    # the case keeps one record per party's signature: the step's name with the party, who signed, when
    listed = case.client.get(f"/api/v1/process-instances/{case.id}/records", headers=case.login("city")).json
    signed = [r for r in listed["items"] if r["bpmn_id"] == "sign_agreement"]
    assert sorted(r["actor"] for r in signed) == sorted(SIGNERS.values())
    assert {r["name"] for r in signed} == {
        "签署四方协议（市民政局）",
        "签署四方协议（甘肃省民政厅）",
        "签署四方协议（派出机构）",
        "签署四方协议（受援机构）",
    }
    assert sorted(r["iteration"] for r in signed) == [1, 2, 3, 4]


def test_dispatch_rules_refuse_with_the_rule_named(client, login, spring):
    case = Twinning(client, login)
    case.select_and_sign()
    lead = "tw_agency_lead"
    short_plan = case.submit("annual_plan", lead, plan(2021, 30))
    assert "不少于40天" in assert_error(short_plan, 422)["fields"]["planned_days"][0]
    case.plan(2021, 40)
    refusals = {
        "每年派遣社工不少于2名": WORKERS[:1],
        "全国社会工作者职业资格证书": [WORKERS[0], {**WORKERS[1], "national_certificate": False}],
        "直接服务年限须不少于2年": [WORKERS[0], {**WORKERS[1], "direct_service_years": "1.9"}],
    }
    for message, workers in refusals.items():
        body = assert_error(
            case.submit("dispatch_record", lead, {"workers": workers, "dispatched_on": "2021-04-01"}), 422
        )
        assert message in body["fields"]["workers"][0], body
    case.do("dispatch_record", lead, {"workers": WORKERS, "dispatched_on": "2021-04-01"})
    body = assert_error(case.submit("working_days", lead, {"day_log": day_log(20, 19)}), 422)
    assert "合计不少于40天" in body["fields"]["day_log"][0]
    case.do("working_days", lead, {"day_log": day_log(20, 20)})
    assert case.detail()["data"]["working_days_total"] == 40


def test_working_day_shortfall_escalates_before_year_end(client, login, spring):
    case = Twinning(client, login)
    case.select_and_sign()
    case.plan(2021)
    case.do("dispatch_record", "tw_agency_lead", {"workers": WORKERS, "dispatched_on": "2021-04-01"})
    assert case.open() == ["service_project", "working_days"]
    spring.move_to(dt.datetime(2021, 11, 30, 9, 5, tzinfo=SH))
    run_scheduler()
    assert case.open() == ["days_shortfall", "service_project", "working_days"]
    alert = case.task("days_shortfall")
    assert alert["candidate_role"] == "city_officer"
    case.do("days_shortfall", "city", {"measures": "约谈派出机构，12月补足派驻天数"})
    case.do("working_days", "tw_agency_lead", {"day_log": day_log(30, 12)})
    assert case.open() == ["service_project"]


def test_five_working_years_then_the_joint_summary_with_targets(client, login, spring):
    case = Twinning(client, login, "TW02")
    case.select_and_sign()
    over = None
    for year in range(2021, 2026):
        assert case.detail()["data"]["working_year"] == year
        if year == 2021:
            case.plan(2021)
            case.do("dispatch_record", "tw_agency_lead", {"workers": WORKERS, "dispatched_on": "2021-04-01"})
            case.do(
                "service_project",
                "tw_agency_lead",
                {"project_name": "童伴成长计划", "beneficiaries": 150, "project_summary": "开展儿童关爱服务"},
            )
            case.do("working_days", "tw_agency_lead", {"day_log": day_log(25, 20)})
            for bpmn_id, user in (
                ("internal_supervision", "tw_agency_lead"),
                ("external_supervision", "expert"),
            ):
                case.do(bpmn_id, user, {"supervised_on": "2021-10-10", "findings": "服务规范，建议加强记录"})
            over = case.submit("annual_evaluation", "city", evaluation_data(subsidy_amount="30000.01"))
            case.do("annual_evaluation", "city", evaluation_data())
        else:
            case.year()
    assert "不得超过3万元" in assert_error(over, 422)["fields"]["subsidy_amount"][0]
    assert case.open() == ["summary_evaluation"]
    case.do("summary_evaluation", "city", {"summary": "五年结对帮扶成效显著，社工站运行良好"})
    final = case.detail()
    data = final["data"]
    assert final["status"] == "completed"
    assert [e["year"] for e in data["evaluations"]] == [2021, 2022, 2023, 2024, 2025]
    assert data["subsidy_total"] == "150000.00" and data["beneficiaries_total"] == 5 * 420
    assert (
        data["years_evaluated"] == [2021, 2022, 2023, 2024, 2025] and data["agencies_developed_total"] == 10
    )
    progress = {t["key"]: t for t in data["targets_progress"]}
    assert progress["beneficiaries"]["achieved"] == 5 * 420 and progress["beneficiaries"]["met"] is True
    assert progress["areas"] == {**progress["areas"], "target": 11, "achieved": 1, "met": False}
    # the "agencies developed" target counts the agencies developed each year (2 × 5), not the pairing
    assert progress["agencies"] == {**progress["agencies"], "target": 10, "achieved": 10, "met": True}
    listed = client.get("/api/v1/reference/twinning-targets", headers=login("gansu")).json
    assert {t["key"]: t["achieved"] for t in listed}["training_person_times"] == 5 * 65


def test_selection_needs_a_firm_political_stance(client, login, spring):
    case = Twinning(client, login, "TW05")
    selection = {
        "political_stance": False,
        "sound_management": True,
        "professional_service": True,
        "public_recognition": True,
        "selection_note": "机构管理规范",
    }
    assert (
        "political_stance" in assert_error(case.submit("agency_selection", "city", selection), 422)["fields"]
    )
    del selection["political_stance"]
    assert (
        "political_stance" in assert_error(case.submit("agency_selection", "city", selection), 422)["fields"]
    )


def test_a_case_started_now_works_in_the_current_year(client, login, june):
    """Started in June 2026 (after the plan's 2021–2025): its one working year is 2026, with 2026 dates."""
    case = Twinning(client, login, "TW06")
    case.select_and_sign()
    data = case.detail()["data"]
    assert (data["first_year"], data["last_year"], data["working_year"]) == (2026, 2026, 2026)
    stale = assert_error(case.submit("annual_plan", "tw_agency_lead", plan(2021)), 422)
    assert "本工作年度（2026年）" in stale["fields"]["signed_on"][0]
    case.year()
    assert case.open() == ["summary_evaluation"]
    case.do("summary_evaluation", "city", {"summary": "当年结对帮扶完成，社工站运行良好"})
    final = case.detail()["data"]
    assert final["years_evaluated"] == [2026] and final["beneficiaries_total"] == 420


def test_the_aided_agency_signs_the_plan_and_days_count_for_this_years_workers(client, login, spring):
    case = Twinning(client, login, "TW07")
    case.select_and_sign()
    lead = "tw_agency_lead"
    case.do("annual_plan", lead, plan(2021))
    assert case.open() == ["annual_plan_aided"]  # the plan is not in force until the aided agency signs
    assert case.submit("annual_plan_aided", lead, aided_sign_off(2021)).status_code == 403
    refused = assert_error(
        case.submit("annual_plan_aided", "aided", {**aided_sign_off(2021), "plan_agreed": False}), 422
    )
    assert "plan_agreed" in refused["fields"]
    case.do("annual_plan_aided", "aided", aided_sign_off(2021))
    signatures = case.detail()["data"]["annual_plan_signatures"]
    assert signatures == {"year": 2021, "dispatching_agency": "2021-03-20", "aided_agency": "2021-03-25"}
    twice = [WORKERS[0], {**WORKERS[1], "worker_ref": "W1"}]
    body = assert_error(
        case.submit("dispatch_record", lead, {"workers": twice, "dispatched_on": "2021-04-01"}), 422
    )
    assert "同一社工不得重复登记" in body["fields"]["workers"][0]
    late = assert_error(
        case.submit("dispatch_record", lead, {"workers": WORKERS, "dispatched_on": "2022-01-05"}), 422
    )
    assert "派遣日期须在本工作年度（2021年）内" in late["fields"]["dispatched_on"][0]
    case.do("dispatch_record", lead, {"workers": WORKERS, "dispatched_on": "2021-04-01"})
    stranger = [*day_log(25), {"worker_ref": "W9", "from_date": "2021-05-01", "days": 20}]
    body = assert_error(case.submit("working_days", lead, {"day_log": stranger}), 422)
    assert "W9 不是 2021 年度派遣的社工" in body["fields"]["day_log"][0]
    next_year = assert_error(case.submit("working_days", lead, {"day_log": day_log(25, 20, year=2022)}), 422)
    assert "须在 2021 年度内" in next_year["fields"]["day_log"][0]
    case.do("working_days", lead, {"day_log": day_log(25, 20)})
    assert case.detail()["data"]["working_days_total"] == 45


def test_moving_back_from_the_signatures_before_and_after_one_is_given(client, login, spring):
    selection = {
        "political_stance": True,
        "sound_management": True,
        "professional_service": True,
        "public_recognition": True,
        "selection_note": "合格",
    }
    back = {"task_element_id": "agency_selection", "reason": "派出机构需重新遴选"}
    case = Twinning(client, login)
    case.do("agency_selection", "city", selection)
    url = f"/api/v1/process-instances/{case.id}/move-back"
    # nobody has signed yet: the four open signatures are withdrawn, the selection reopens
    assert client.post(url, json=back, headers=login("admin")).status_code == 200
    assert case.open() == ["agency_selection"]
    case.do("agency_selection", "city", selection)
    case.do("sign_agreement", "city", signature(), role="city_officer")
    # one party has signed: refused in words (not yet supported), nothing changed
    refused = assert_error(client.post(url, json=back, headers=login("admin")), 409)
    assert "多实例环节已有部分实例办结" in refused["message"]
    assert case.open() == ["sign_agreement"] * 3


def test_the_second_year_waits_for_both_records_and_keeps_each_years_entries(client, login, spring):
    """Year two's records in the other order: the working days first, the service project last. The
    join used to fire on the first record (counting year one's) and the project's branch wrote year
    one's working days back over year two's."""
    case = Twinning(client, login, "TW08")
    case.select_and_sign()
    case.year(days=(25, 20))
    assert case.detail()["data"]["working_year"] == 2022
    lead = "tw_agency_lead"
    case.plan(2022)
    case.do("dispatch_record", lead, {"workers": WORKERS, "dispatched_on": "2022-04-01"})
    case.do("working_days", lead, {"day_log": day_log(30, 28, year=2022)})
    assert case.open() == ["service_project"]  # supervision waits for the project too
    data = case.detail()["data"]
    assert data["working_days_total"] == 58 and data["day_log"][0]["from_date"] == "2022-04-01"
    case.do(
        "service_project",
        lead,
        {"project_name": "乡村儿童之家", "beneficiaries": 90, "project_summary": "第二年度的服务项目"},
    )
    assert sorted(case.open()) == ["external_supervision", "internal_supervision"]
    data = case.detail()["data"]
    assert data["project_name"] == "乡村儿童之家"
    assert data["working_days_total"] == 58 and [r["days"] for r in data["day_log"]] == [30, 28]
    assert {r["from_date"] for r in data["day_log"]} == {"2022-04-01"}
