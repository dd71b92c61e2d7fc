"""Bridge Plan 桥计划, the notice's rules a second time (issue 17): each one tried through the REST API."""

from __future__ import annotations

from tests.helpers import assert_error
from tests.procedures.cases import ApiCase
from tests.procedures.helpers import (
    FILING,
    GROUPS_DONE,
    PUDONG,
    PUTUO,
    YOUTH,
    Project,
    contract,
    final_report,
    household,
    staff,
    transfer_accepted,
)


def started(client, login, district="310107", year=2026, allocation="100000.00"):
    """A project whose city plan is done (``None`` when ``project`` refused it: see ``plan``)."""
    project = Project.__new__(Project)
    ApiCase.__init__(project, client, login, "bridge_plan_project", district, starter="city", viewer="city")
    project.where = PUTUO if district == "310107" else PUDONG
    return project


def plan(project, year, allocation):
    return project.submit("city_plan", "city", {"project_year": year, "district_allocation": allocation})


def candidate(n, street="310107014", **overrides):
    return {**household(n, street), "hardship": "dibao", "source": "big_data", **YOUTH, **overrides}


def test_city_budget_is_shared_by_the_districts_one_project_each_year(client, login, june):
    putuo = started(client, login)
    assert plan(putuo, 2024, "1000000.00").status_code == 200
    pudong = started(client, login, "310115")
    over = assert_error(plan(pudong, 2024, "800000.01"), 422)
    assert "尚余 800000.00 元" in over["fields"]["district_allocation"][0]
    assert plan(pudong, 2024, "800000.00").status_code == 200
    third = started(client, login, "310101")
    full = assert_error(plan(third, 2024, "0.01"), 422)
    assert "超出 2024 年度市级预算" in full["fields"]["district_allocation"][0]
    # a second Putuo project for 2024 is refused; 2025 is another year (its budget the latest known)
    again = started(client, login)
    twice = assert_error(plan(again, 2024, "1.00"), 409)
    assert "每区每年一个项目" in twice["message"] and "project_year" in twice["fields"]
    assert "尚余 1800000.00 元" in assert_error(plan(again, 2025, "1800000.01"), 422)["message"]
    assert plan(again, 2025, "1800000.00").status_code == 200
    early = started(client, login, "310115")
    assert "市级预算尚未设定" in assert_error(plan(early, 2023, "1.00"), 422)["fields"]["project_year"][0]


def test_candidates_record_the_young_person(client, login, june):
    project = started(client, login)
    assert plan(project, 2026, "100000.00").status_code == 200
    for overrides, expected in [
        ({"youth_education": "below_secondary"}, "中职以上学历"),
        ({"youth_intention": "none"}, "升学或就业意愿"),
    ]:
        body = assert_error(
            project.submit("candidate_list", "pt_district", {"candidates": [candidate(1, **overrides)]}), 422
        )
        assert expected in body["fields"]["candidates"][0], body
    old = assert_error(
        project.submit("candidate_list", "pt_district", {"candidates": [candidate(1, youth_age=40)]}), 422
    )
    assert "青年年龄" in old["fields"]["candidates"][0], old
    missing = candidate(1)
    del missing["youth_intention"]
    assert_error(project.submit("candidate_list", "pt_district", {"candidates": [missing]}), 422)
    project.do("candidate_list", "pt_district", {"candidates": [candidate(1)]})
    kept = project.detail()["data"]["candidates"][0]
    assert kept["youth_education"] == "secondary_vocational" and kept["youth_intention"] == "work"


def test_staff_count_distinct_people_and_only_candidates_are_called_and_listed(client, login, june):
    project = started(client, login)
    assert plan(project, 2026, "100000.00").status_code == 200
    project.do("candidate_list", "pt_district", {"candidates": [candidate(1), candidate(2)]})
    same_person = [*staff(2), {"staff_ref": "S0", "qualification": "counsellor"}]
    body = assert_error(project.submit("agency_contract", "pt_district", contract(staff=same_person)), 422)
    assert "同一人不得重复登记" in body["fields"]["staff"][0]
    project.do("agency_contract", "pt_district", contract())
    assert project.open() == ["agreement_filing"]  # filed with the city before any family is called
    unsigned = {**FILING, "signed_copy_received": False}
    body = assert_error(project.submit("agreement_filing", "city", unsigned), 422)
    assert "双方签章" in body["fields"]["signed_copy_received"][0]
    other_date = {**FILING, "agreement_signed_on": "2026-05-21"}
    body = assert_error(project.submit("agreement_filing", "city", other_date), 422)
    assert "与签约日期 2026-05-20 不符" in body["fields"]["agreement_signed_on"][0]
    assert project.submit("agreement_filing", "pt_district", FILING).status_code == 403  # the city files it
    project.do("agreement_filing", "city", FILING)
    call = {"called_on": "2026-06-05", "willing": True}
    stranger = [{"household_ref": "PT-001", **call}, {"household_ref": "PT-099", **call}]
    body = assert_error(project.submit("willingness_calls", "pt_agency_worker", {"calls": stranger}), 422)
    assert "PT-099 不在区级候选名单中" in body["fields"]["calls"][0]
    both = [{"household_ref": "PT-001", **call}, {"household_ref": "PT-002", **call}]
    project.do("willingness_calls", "pt_agency_worker", {"calls": both})
    project.households = [household(1, "310107014"), household(2, "310107014")]
    other_head = {**project.households[1], "head_id_number": household(7, "310107014")["head_id_number"]}
    listed = project.annual_list(households=[project.households[0], other_head])
    body = assert_error(project.submit("annual_list", "pt_agency_lead", listed), 422)
    assert "与候选名单不符" in body["fields"]["households"][0]


def test_a_city_level_agency_role_cannot_complete_a_districts_annual_list(client, login, june):
    project = Project(client, login, households=1)
    city_agency = project.submit("annual_list", "tw_agency_lead", project.annual_list())  # agency_lead@310000
    assert city_agency.status_code == 403, city_agency.json
    assert project.open() == ["annual_list"]
    project.do("annual_list", "pt_agency_lead", project.annual_list())  # the district's own agency can


def test_typical_cases_are_the_projects_households_and_visits_are_checked(client, login, june):
    project = Project(client, login, households=2)
    cases = project.confirm()
    project.do(
        "midterm_report", "pt_agency_lead", {"summary": "中期进展顺利，服务按计划推进", "spent_to_date": "0"}
    )
    project.do("group_work", "pt_agency_worker", GROUPS_DONE)
    for case, visits in zip(cases, (5, 3), strict=True):
        case.assess_and_plan()
        for _ in range(visits):
            case.record()
        case.record("close")
        closing = {"post_test_score": 70, "summary": "目标达成，予以结案", "short_visits_reason": "家庭外出"}
        case.do("closure", "pt_agency_lead", closing)
    stranger = final_report(refs=("PT-001", "PT-777"))
    body = assert_error(project.submit("final_report", "pt_agency_lead", stranger), 422)
    assert "PT-777 不是本项目的服务家庭" in body["fields"]["typical_cases"][0]
    twice = assert_error(
        project.submit("final_report", "pt_agency_lead", final_report(refs=("PT-001",) * 2)), 422
    )
    assert "已作为典型案例" in twice["fields"]["typical_cases"][0]
    few = assert_error(project.submit("final_report", "pt_agency_lead", final_report(refs=("PT-001",))), 422)
    assert "典型案例不少于2个" in few["fields"]["typical_cases"][0]
    # 8 visits for 2 households: 4.00 on average, fewer than 5 — refused without a written reason
    short = assert_error(project.submit("final_report", "pt_agency_lead", final_report()), 422)
    assert "平均每户走访 4.00 次" in short["fields"]["visits_shortfall_reason"][0]
    explained = {**final_report(), "visits_shortfall_reason": "一户家庭长期外出务工，走访次数不足"}
    project.do("final_report", "pt_agency_lead", explained)
    data = project.detail()["data"]
    assert data["visits_per_served_household"] == "4.00" and data["households_served"] == 2


def test_typical_cases_need_five_when_the_project_has_five(client, login, june):
    project = Project(client, login, households=5)
    cases = project.confirm()
    project.do(
        "midterm_report", "pt_agency_lead", {"summary": "中期进展顺利，服务按计划推进", "spent_to_date": "0"}
    )
    project.do("group_work", "pt_agency_worker", GROUPS_DONE)
    for case in cases:
        case.do("needs_assessment", "pt_agency_worker", {"family_withdraws": True})
        case.do(
            "withdrawal",
            "pt_agency_lead",
            {
                "withdrawn_on": "2026-06-30",
                "reason": "家庭搬离",
                "closure_record": "经协商退出",
                "plan_adjustment": "报区",
            },
        )
    refs = [f"PT-00{i}" for i in range(1, 6)]
    few = assert_error(
        project.submit("final_report", "pt_agency_lead", final_report("100.00", refs=refs[:4])), 422
    )
    assert "典型案例不少于5个" in few["fields"]["typical_cases"][0]
    project.do("final_report", "pt_agency_lead", final_report("100.00", refs=refs))


def test_report_deadlines_follow_the_project_year(client, login, june):
    """Mid-term by 30 September of the project year (default: the notice is silent), the summary and the
    evaluation by the end of January of the next year (五、时间节点) — not so many working days after."""
    project = Project(client, login, households=1)
    case = project.confirm()[0]
    assert project.task("midterm_report")["due_at"].startswith("2026-09-30T")
    project.do(
        "midterm_report", "pt_agency_lead", {"summary": "中期进展顺利，服务按计划推进", "spent_to_date": "0"}
    )
    project.do("group_work", "pt_agency_worker", GROUPS_DONE)
    case.do("needs_assessment", "pt_agency_worker", {"family_withdraws": True})
    case.do(
        "withdrawal",
        "pt_agency_lead",
        {
            "withdrawn_on": "2026-06-30",
            "reason": "家庭搬离",
            "closure_record": "经协商退出",
            "plan_adjustment": "报区",
        },
    )
    # the final report opens once every household's closure message has reached the project
    assert project.task("final_report")["due_at"].startswith("2027-01-31T")
    project.do("final_report", "pt_agency_lead", final_report("100.00", refs=("PT-001",)))
    assert project.task("district_acceptance")["due_at"].startswith("2027-01-31T")


def test_a_transfer_goes_only_into_a_project_that_confirmed_its_list(client, login, june):
    moving = Project(client, login, households=1).confirm()[0]
    pudong = Project(client, login, where=PUDONG, households=1, prefix="PD")  # at its annual list
    moving.assess_and_plan()
    moving.record("transfer")
    body = assert_error(
        moving.submit("transfer", "pt_district", {"target_street": "310115004", "reason": "人户分离"}), 422
    )
    assert "尚未确认年度名单" in body["fields"]["target_street"][0]
    assert moving.detail()["org_unit"] == "310107014"  # nothing moved
    pudong.confirm()
    request = {"target_street": "310115004", "reason": "人户分离，实际居住浦东"}
    # the city may refuse to coordinate, and the district of residence may decline: the case stays
    moving.do("transfer", "pt_district", request)
    moving.do("transfer_coordination", "city", {"coordination_decision": "refuse", "opinion": "暂不转介"})
    assert moving.open() == ["case_work"] and moving.detail()["org_unit"] == "310107014"
    moving.record("transfer")
    moving.do("transfer", "pt_district", request)
    moving.do("transfer_coordination", "city", {"coordination_decision": "coordinate", "opinion": "请接收"})
    # the acceptance is the receiving district's step: in its inbox, not the sending district's
    task = moving.task("transfer_acceptance")["id"]
    claimable = client.get("/api/v1/tasks?scope=claimable", headers=login("pd_district_officer")).json[
        "items"
    ]
    assert task in {t["id"] for t in claimable}
    moving.do(
        "transfer_acceptance", "pd_district_officer", {"receiving_decision": "decline", "opinion": "名额已满"}
    )
    assert moving.open() == ["case_work"] and moving.detail()["org_unit"] == "310107014"
    moving.record("transfer")
    moving.do("transfer", "pt_district", request)
    transfer_accepted(moving)
    assert moving.detail()["org_unit"] == "310115004" and moving.open() == ["case_work"]


def test_groups_are_records_with_members_and_four_activities_each(client, login, june):
    project = Project(client, login, households=2)
    cases = project.confirm()
    worker = "pt_agency_worker"

    def group_work(data):
        return project.submit("group_work", worker, data)

    setup = {"group_action": "group", "group_ref": "G1", "group_name": "亲子沟通小组"}
    body = assert_error(group_work({**setup, "members": [{"household_ref": "PT-009"}]}), 422)
    assert "PT-009 不是本项目的服务家庭" in body["fields"]["members"][0]
    twice = [{"household_ref": "PT-001"}, {"household_ref": "PT-001"}]
    assert "重复" in assert_error(group_work({**setup, "members": twice}), 422)["fields"]["members"][0]
    assert "members" in assert_error(group_work(setup), 422)["fields"]  # a group names its members
    project.do("group_work", worker, {**setup, "members": [{"household_ref": "PT-001"}]})
    again = assert_error(group_work({**setup, "members": [{"household_ref": "PT-002"}]}), 422)
    assert "已建立" in again["fields"]["group_ref"][0]
    activity = {
        "group_action": "activity",
        "group_ref": "G1",
        "happened_on": "2026-07-10",
        "topic": "沟通技巧",
    }
    unknown = assert_error(group_work({**activity, "group_ref": "G2", "attendance": 1}), 422)
    assert "尚未建立" in unknown["fields"]["group_ref"][0]
    crowded = assert_error(group_work({**activity, "attendance": 2}), 422)
    assert "多于小组成员" in crowded["fields"]["attendance"][0]
    for _ in range(3):
        project.do("group_work", worker, {**activity, "attendance": 1})
    short = assert_error(group_work(GROUPS_DONE), 422)
    assert "G1（3次）" in short["fields"]["group_action"][0]
    project.do("group_work", worker, {**activity, "attendance": 1})
    project.do("group_work", worker, GROUPS_DONE)
    assert project.open() == ["midterm_report"]  # the final report waits for the mid-term report too
    project.do(
        "midterm_report", "pt_agency_lead", {"summary": "中期进展顺利，服务按计划推进", "spent_to_date": "0"}
    )
    for case in cases:
        case.assess_and_plan()
        for _ in range(5):
            case.record()
        case.record("close")
        case.do("closure", "pt_agency_lead", {"post_test_score": 70, "summary": "目标达成，予以结案"})
    project.do("final_report", "pt_agency_lead", final_report())
    groups = project.detail()["data"]["groups"]
    assert groups == [{"group_ref": "G1", "name": "亲子沟通小组", "members": 1, "activities": 4}]
    records = client.get(
        f"/api/v1/process-instances/{project.id}/records?per_page=50", headers=login("city")
    ).json["items"]
    assert [r["data"]["group_action"] for r in records if r["bpmn_id"] == "group_work"] == [
        "group",
        "activity",
        "activity",
        "activity",
        "activity",
        "done",
    ]
