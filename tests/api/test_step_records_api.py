"""GET /api/v1/process-instances/<id>/records and GET /api/v1/tasks/<id>/record."""

from __future__ import annotations

from tests.helpers import assert_error
from tests.procedures.helpers import APPLICANT, INVESTIGATION, Case


def _task_id(client, login, case, bpmn_id):
    history = client.get("/api/v1/tasks?state=completed&scope=all&per_page=200", headers=login("admin")).json
    return next(t["id"] for t in history["items"] if t["instance_id"] == case.id and t["bpmn_id"] == bpmn_id)


def test_a_case_lists_its_records_in_order_labelled_and_masked(client, login, june):
    case = Case(client, login)
    case.do("acceptance", "pt_officer", {"accepted": True})
    case.do("home_investigation", "pt_advisor", INVESTIGATION)
    body = client.get(f"/api/v1/process-instances/{case.id}/records", headers=login("pt_head")).json
    assert body["meta"]["total"] == 3
    assert [r["bpmn_id"] for r in body["items"]] == ["application", "acceptance", "home_investigation"]
    investigation = body["items"][2]
    assert investigation["actor"] == "pt_advisor" and investigation["iteration"] == 1
    assert investigation["form_key"] == "ca_investigation"
    assert [(f["name"], f["label"], f["value"]) for f in investigation["fields"]] == [
        ("visit_date", "调查日期", "2026-06-08"),
        ("findings", "核实情况", INVESTIGATION["findings"]),
        ("household_verified", "家庭情况属实", True),
    ]
    application = body["items"][0]
    assert application["data"]["applicant_id_number"] != APPLICANT
    assert application["data"]["applicant_id_number"].endswith(APPLICANT[-4:])
    assert "*" in application["data"]["applicant_id_number"]
    page = client.get(
        f"/api/v1/process-instances/{case.id}/records?per_page=2&page=2", headers=login("pt_head")
    ).json
    assert [r["bpmn_id"] for r in page["items"]] == ["home_investigation"]


def test_a_finished_task_is_readable_by_everyone_who_sees_the_case(client, login, june):
    case = Case(client, login)
    case.do("acceptance", "pt_officer", {"accepted": True})
    case.do("home_investigation", "pt_advisor", INVESTIGATION)
    task_id = _task_id(client, login, case, "home_investigation")
    # the street officer does not hold the investigation's role: the task itself is not theirs ...
    assert_error(client.get(f"/api/v1/tasks/{task_id}", headers=login("pt_officer")), 403)
    # ... its record is, as they see the case
    record = client.get(f"/api/v1/tasks/{task_id}/record", headers=login("pt_officer"))
    assert record.status_code == 200, record.json
    assert record.json["task_id"] == task_id and record.json["data"]["visit_date"] == "2026-06-08"
    # another street sees neither the case nor the record
    assert_error(client.get(f"/api/v1/tasks/{task_id}/record", headers=login("pt_other_street_officer")), 403)
    assert_error(
        client.get(f"/api/v1/process-instances/{case.id}/records", headers=login("pt_other_street_officer")),
        403,
    )
    # an open task has no record yet; an unknown one is not found
    open_id = case.task("assessment")["id"]
    assert_error(client.get(f"/api/v1/tasks/{open_id}/record", headers=login("pt_officer")), 404)
    assert_error(client.get("/api/v1/tasks/999999/record", headers=login("pt_officer")), 404)
    assert_error(client.get("/api/v1/process-instances/999999/records", headers=login("pt_officer")), 404)
    assert_error(
        client.get(f"/api/v1/process-instances/{case.id}/records?per_page=0", headers=login("pt_head")), 422
    )
