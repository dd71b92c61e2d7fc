"""Project assistance 项目帮扶 (notice 002, 二(二)): the application reaches the foundation's research and
filing step instead of running as an individual case."""

from __future__ import annotations

from tests.helpers import assert_error
from tests.procedures.helpers import Case


def project_case(client, login, case):
    data = case.detail()["data"]
    assert data["outcome"] == "closed" and "基金会" in data["notice_to_applicant"]
    sub = client.get(f"/api/v1/process-instances/{data['project_case_id']}", headers=login("foundation")).json
    assert sub["process_key"] == "ca_project_assistance"
    return sub


def complete(client, login, sub, username, data):
    task = next(t for t in sub["open_tasks"] if t["bpmn_id"] == "project_research")
    return client.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": data}, headers=login(username))


def test_project_application_goes_to_the_foundation_not_the_individual_chain(client, login):
    case = Case(
        client, login, assistance_form="project", aid_types=["services"], services_description="助餐服务"
    )
    detail = case.detail()
    assert detail["status"] == "completed" and case.open() == [], "no acceptance, review or payment here"
    sub = project_case(client, login, case)
    assert [t["bpmn_id"] for t in sub["open_tasks"]] == ["project_research"]
    assert sub["data"]["services_description"] == "助餐服务"
    # only the foundation does the research and filing
    assert complete(client, login, sub, "pt_officer", {"filing_decision": "decline"}).status_code in (
        403,
        404,
    )
    missing = complete(client, login, sub, "foundation", {"filing_decision": "new_project"})
    assert {"project_name", "project_plan", "filing_number", "filed_on"} <= set(
        assert_error(missing, 422)["fields"]
    )
    done = complete(
        client,
        login,
        sub,
        "foundation",
        {
            "filing_decision": "new_project",
            "project_name": "困难老人助餐项目",
            "project_plan": "一类一策：为独居困难老人提供助餐服务",
            "filing_number": "BK-2026-001",
            "filed_on": "2026-11-25",
        },
    )
    assert done.status_code == 200, done.json
    final = client.get(f"/api/v1/process-instances/{sub['id']}", headers=login("foundation")).json
    assert final["status"] == "completed" and "困难老人助餐项目" in final["data"]["notice_to_applicant"]


def test_the_foundation_may_decline_with_a_reason(client, login):
    case = Case(client, login, assistance_form="project")
    sub = project_case(client, login, case)
    assert (
        "rejection_reason"
        in assert_error(complete(client, login, sub, "foundation", {"filing_decision": "decline"}), 422)[
            "fields"
        ]
    )
    done = complete(
        client, login, sub, "foundation", {"filing_decision": "decline", "rejection_reason": "暂无对应项目"}
    )
    assert done.status_code == 200, done.json
    final = client.get(f"/api/v1/process-instances/{sub['id']}", headers=login("pt_head")).json
    assert final["data"]["outcome"] == "rejected" and "暂无对应项目" in final["data"]["notice_to_applicant"]


def test_individual_applications_still_take_the_individual_chain(client, login):
    case = Case(client, login)
    assert case.open() == ["acceptance"] and "project_case_id" not in case.detail()["data"]
