"""Pudong 3A (issue 17): a referral goes to the matched organisation's own users; no other agency can
accept it — tried through the REST API by another agency of the same district, which is refused."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from api.extensions import db
from engine.audit.models import AuditAction, AuditEvent
from engine.users import service as users
from tests.conftest import PASSWORD
from tests.helpers import assert_error
from tests.procedures.cases import ApiCase
from tests.procedures.helpers import APPLICANT, service_org
from tests.web.helpers import Web

STREET = "310115004"
KEY = "service_referral_3a"
NEEDS = {
    "discovery_channel": "big_data",
    "applicant_id_number": APPLICANT,
    "needs_categories": ["employment"],
    "needs_description": "青年失业在家，希望参加技能培训后就业",
}
ASSESS = {"assessment_summary": "有就业意愿，缺乏职业技能", "tier": "advancement", "urgent": False}
MATCH = {"project": "skills_training", "resources": ["job_fair"], "service_org": "PD-SW-A"}
ACCEPT = {"referral_decision": "accept", "planned_start": "2026-12-01"}
SERVICE = {"sessions": 3, "service_summary": "完成三次上门服务", "completed_on": "2027-01-20"}


@pytest.fixture()
def agencies(client, login, _tokens):
    """Agency A (the demo's Pudong agency users) and agency B: other users holding the same agency roles
    in the same district, members of another organisation (made afresh for each test)."""
    for name in ("pd_other_lead", "pd_other_worker"):
        _tokens.pop(name, None)
    session = db.session()
    users.create_user(session, "pd_other_lead", PASSWORD, grants=[("agency_lead", "310115")])
    users.create_user(session, "pd_other_worker", PASSWORD, grants=[("agency_worker", "310115")])
    db.session.commit()
    service_org(client, login, "PD-SW-A", ["pd_agency_lead", "pd_agency_worker"], name="示例服务社甲")
    service_org(client, login, "PD-SW-B", ["pd_other_lead", "pd_other_worker"], name="示例服务社乙")


def _case(client, login):
    case = ApiCase(client, login, KEY, STREET, starter="pd_advisor", viewer="pd_district")
    case.do("needs_discovery", "pd_advisor", NEEDS)
    case.do("assessment", "pd_officer", ASSESS)
    return case


def _claimable(client, login, username):
    listed = client.get("/api/v1/tasks?scope=claimable&per_page=100", headers=login(username))
    assert listed.status_code == 200, listed.json
    return {t["id"] for t in listed.json["items"]}


def test_another_agency_cannot_accept_the_referral(client, login, agencies):
    case = _case(client, login)
    case.do("matching", "pd_officer", MATCH)
    referral = case.task("referral")
    assert case.detail()["data"]["service_org_name"] == "示例服务社甲"
    # not in the other agency's inbox; in the matched one's
    assert referral["id"] not in _claimable(client, login, "pd_other_lead")
    assert referral["id"] in _claimable(client, login, "pd_agency_lead")
    # the other agency is refused, with the reason, on claim, complete and reading the task
    other = login("pd_other_lead")
    for response in (
        client.post(f"/api/v1/tasks/{referral['id']}/claim", headers=other),
        client.post(f"/api/v1/tasks/{referral['id']}/complete", json={"data": ACCEPT}, headers=other),
        client.get(f"/api/v1/tasks/{referral['id']}", headers=other),
    ):
        assert "示例服务社甲" in assert_error(response, 403)["message"]
    assert case.open() == ["referral"]
    # the matched organisation's lead claims it; the other agency still cannot complete it
    assert (
        client.post(f"/api/v1/tasks/{referral['id']}/claim", headers=login("pd_agency_lead")).status_code
        == 200
    )
    refused = client.post(f"/api/v1/tasks/{referral['id']}/complete", json={"data": ACCEPT}, headers=other)
    assert "仅该机构的成员" in assert_error(refused, 403)["message"]
    case.do("referral", "pd_agency_lead", ACCEPT)
    # the service step belongs to the same organisation: its worker, not the other agency's
    service = case.task("service_delivery")
    assert service["id"] not in _claimable(client, login, "pd_other_worker")
    assert_error(case.submit("service_delivery", "pd_other_worker", SERVICE), 403)
    case.do("service_delivery", "pd_agency_worker", SERVICE)
    assert case.open() == ["scoring"]


def test_a_declined_referral_rematched_goes_to_the_new_organisation(client, login, agencies):
    case = _case(client, login)
    case.do("matching", "pd_officer", MATCH)
    case.do("referral", "pd_agency_lead", {"referral_decision": "decline", "decline_reason": "名额已满"})
    case.do("matching", "pd_officer", {**MATCH, "service_org": "PD-SW-B"})
    referral = case.task("referral")
    assert referral["id"] in _claimable(client, login, "pd_other_lead")
    assert referral["id"] not in _claimable(client, login, "pd_agency_lead")
    assert_error(case.submit("referral", "pd_agency_lead", ACCEPT), 403)
    case.do("referral", "pd_other_lead", ACCEPT)


def test_the_match_must_name_a_registered_organisation_with_members(client, login, agencies):
    case = _case(client, login)
    unknown = case.submit("matching", "pd_officer", {**MATCH, "service_org": "PD-NOWHERE"})
    assert "服务机构不存在" in assert_error(unknown, 422)["fields"]["service_org"][0]
    service_org(client, login, "PD-EMPTY", [])
    empty = case.submit("matching", "pd_officer", {**MATCH, "service_org": "PD-EMPTY"})
    assert "尚无成员" in assert_error(empty, 422)["fields"]["service_org"][0]
    service_org(client, login, "PT-SW", ["pt_agency_lead"], district="310107")
    elsewhere = case.submit("matching", "pd_officer", {**MATCH, "service_org": "PT-SW"})
    assert "不服务本区" in assert_error(elsewhere, 422)["fields"]["service_org"][0]
    assert case.open() == ["matching"]


def test_members_are_managed_by_admins_and_audited(client, login, agencies):
    admin = login("admin")
    base = "/api/v1/service-organisations"
    assert_error(
        client.post(base, json={"code": "PD-X", "name": "某机构"}, headers=login("pd_district")), 403
    )
    assert_error(
        client.post(
            f"{base}/PD-SW-A/members", json={"username": "pd_other_lead"}, headers=login("pd_officer")
        ),
        403,
    )
    assert_error(client.post(base, json={"code": "PD-SW-A", "name": "重复"}, headers=admin), 409)
    assert_error(client.post(base, json={"code": "坏 编码", "name": "某机构"}, headers=admin), 422)
    twice = client.post(f"{base}/PD-SW-A/members", json={"username": "pd_agency_lead"}, headers=admin)
    assert "已是本机构成员" in assert_error(twice, 409)["fields"]["username"][0]
    nobody = client.post(f"{base}/PD-SW-A/members", json={"username": "no_such_user"}, headers=admin)
    assert "username" in assert_error(nobody, 422)["fields"]
    listed = client.get(base, headers=login("pd_officer")).json["items"]
    a = next(o for o in listed if o["code"] == "PD-SW-A")
    assert a["district"] == "310115" and {m["username"] for m in a["members"]} == {
        "pd_agency_lead",
        "pd_agency_worker",
    }
    # a member holding a claimed task of the organisation must hand it back before leaving
    case = _case(client, login)
    case.do("matching", "pd_officer", MATCH)
    referral = case.task("referral")
    client.post(f"/api/v1/tasks/{referral['id']}/claim", headers=login("pd_agency_lead"))
    held = client.delete(f"{base}/PD-SW-A/members/pd_agency_lead", headers=admin)
    assert "仍认领着 1 项任务" in assert_error(held, 409)["fields"]["username"][0]
    client.post(f"/api/v1/tasks/{referral['id']}/unclaim", headers=login("pd_agency_lead"))
    removed = client.delete(f"{base}/PD-SW-A/members/pd_agency_lead?reason=调离", headers=admin)
    assert removed.status_code == 204
    # no longer a member: the referral leaves their inbox and they are refused
    assert referral["id"] not in _claimable(client, login, "pd_agency_lead")
    assert_error(client.post(f"/api/v1/tasks/{referral['id']}/claim", headers=login("pd_agency_lead")), 403)
    actions = [
        (e.action, e.details.get("username"))
        for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.action.like("service_org.%")).order_by(AuditEvent.id)
        )
    ]
    assert (AuditAction.SERVICE_ORG_MEMBER_ADDED.value, "pd_other_lead") in actions
    assert actions[-1] == (AuditAction.SERVICE_ORG_MEMBER_REMOVED.value, "pd_agency_lead")
    assert sum(1 for a, _u in actions if a == AuditAction.SERVICE_ORG_CREATED.value) == 2


def test_the_web_inbox_and_task_page_follow_the_organisation(client, login, agencies):
    case = _case(client, login)
    case.do("matching", "pd_officer", MATCH)
    referral = case.task("referral")
    other = Web(client.application.test_client()).login("pd_other_lead")
    assert f"/tasks/{referral['id']}" not in other.get("/?tab=claimable").get_data(as_text=True)
    page = other.get(f"/tasks/{referral['id']}")
    assert page.status_code == 403
    member = Web(client.application.test_client()).login("pd_agency_lead")
    assert f"/tasks/{referral['id']}" in member.get("/?tab=claimable").get_data(as_text=True)
    assert member.get(f"/tasks/{referral['id']}").status_code == 200


def test_only_the_members_are_told_of_the_new_referral(client, login, agencies):
    case = _case(client, login)
    case.do("matching", "pd_officer", MATCH)
    referral = case.task("referral")

    def told(username):
        items = client.get("/api/v1/notifications", headers=login(username)).json["items"]
        return [n for n in items if n.get("task_id") == referral["id"]]

    assert told("pd_agency_lead") and not told("pd_other_lead")


def _updates() -> list[dict]:
    db.session.expire_all()
    return [
        e.details
        for e in db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == AuditAction.SERVICE_ORG_UPDATED.value)
            .order_by(AuditEvent.id)
        )
    ]


def test_a_deactivated_organisation_keeps_its_referral_and_takes_no_new_case(client, login, agencies):
    admin = login("admin")
    base = "/api/v1/service-organisations"
    referred = _case(client, login)
    referred.do("matching", "pd_officer", MATCH)
    referral = referred.task("referral")
    # only admins; a deactivation says why; the district must be a district
    assert_error(
        client.patch(f"{base}/PD-SW-A", json={"active": False, "reason": "x"}, headers=login("pd_district")),
        403,
    )
    silent = client.patch(f"{base}/PD-SW-A", json={"active": False}, headers=admin)
    assert "须说明原因" in assert_error(silent, 422)["fields"]["reason"][0]
    street = client.patch(f"{base}/PD-SW-A", json={"district": STREET}, headers=admin)
    assert "应为区级单位" in assert_error(street, 422)["fields"]["district"][0]
    assert_error(client.patch(f"{base}/PD-NOWHERE", json={"name": "某机构"}, headers=admin), 404)
    assert _updates() == []  # the refusals wrote nothing
    stopped = client.patch(f"{base}/PD-SW-A", json={"active": False, "reason": "服务合同到期"}, headers=admin)
    assert stopped.status_code == 200 and stopped.json["active"] is False
    # a new case cannot be matched with it; the referral it has stays with its members
    fresh = _case(client, login)
    refused = fresh.submit("matching", "pd_officer", MATCH)
    assert "服务机构已停用" in assert_error(refused, 422)["fields"]["service_org"][0]
    assert referral["id"] in _claimable(client, login, "pd_agency_lead")
    referred.do("referral", "pd_agency_lead", ACCEPT)
    # renamed, serving anywhere, reactivated: one event per change with the values before and after
    renamed = client.patch(
        f"{base}/PD-SW-A", json={"name": "示例服务社甲（更名）", "district": None}, headers=admin
    )
    assert renamed.status_code == 200 and renamed.json["district"] is None
    again = client.patch(
        f"{base}/PD-SW-A", json={"active": True, "name": "示例服务社甲（更名）"}, headers=admin
    )
    assert again.status_code == 200 and again.json["active"] is True
    same = client.patch(f"{base}/PD-SW-A", json={"name": "示例服务社甲（更名）"}, headers=admin)
    assert same.status_code == 200
    assert _updates() == [
        {"organisation": "PD-SW-A", "changes": {"active": [True, False]}, "reason": "服务合同到期"},
        {
            "organisation": "PD-SW-A",
            "changes": {"name": ["示例服务社甲", "示例服务社甲（更名）"], "district": ["310115", None]},
            "reason": "",
        },
        {"organisation": "PD-SW-A", "changes": {"active": [False, True]}, "reason": ""},
    ]  # (saving the same name again wrote nothing)
    fresh.do("matching", "pd_officer", MATCH)
    assert fresh.detail()["data"]["service_org_name"] == "示例服务社甲（更名）"


def _listed(page: str) -> dict[str, str]:
    """The options of the matching form's organisation list: code -> the name shown."""
    select = page.split('<select id="f-service_org"')[1].split("</select>")[0]
    return dict(re.findall(r'<option value="([^"]+)"[^>]*>([^<]+)</option>', select))


def test_the_matching_page_lists_the_organisations_the_case_may_be_matched_with(client, login, agencies):
    service_org(client, login, "PD-EMPTY", [], name="无成员机构")
    service_org(client, login, "PT-SW", ["pt_agency_lead"], district="310107", name="普陀机构")
    service_org(client, login, "ANY-SW", ["pd_other_worker"], district=None, name="跨区机构")
    stopped = client.patch(
        "/api/v1/service-organisations/PD-SW-B",
        json={"active": False, "reason": "合同到期"},
        headers=login("admin"),
    )
    assert stopped.status_code == 200
    case = _case(client, login)
    matching = case.task("matching")
    officer = Web(client.application.test_client()).login("pd_officer")
    page = officer.get(f"/tasks/{matching['id']}").get_data(as_text=True)
    # by name, not code: active, serving Pudong or anywhere, with member users
    assert _listed(page) == {"ANY-SW": "跨区机构", "PD-SW-A": "示例服务社甲"}
    assert "承接服务机构" in page and "data-register-empty" not in page
    # a draft naming an organisation no longer listed keeps its value, said to be off the list
    saved = officer.post(f"/tasks/{matching['id']}/draft", data={"service_org": "PD-SW-B"})
    assert saved.status_code == 302, saved.get_data(as_text=True)[:2000]
    page = officer.get(f"/tasks/{matching['id']}").get_data(as_text=True)
    assert _listed(page)["PD-SW-B"] == "PD-SW-B（不在可选名单中）"
    posted = officer.post(
        f"/tasks/{matching['id']}/complete",
        data={
            "project": "skills_training",
            "resources": "job_fair",
            "service_org": "PD-SW-A",
            "action": "complete",
        },
    )
    assert posted.status_code == 302, posted.get_data(as_text=True)[:2000]
    assert case.detail()["data"]["service_org_name"] == "示例服务社甲"


def test_the_matching_page_says_when_no_organisation_may_take_the_case(client, login):
    case = _case(client, login)
    matching = case.task("matching")
    officer = Web(client.application.test_client()).login("pd_officer")
    page = officer.get(f"/tasks/{matching['id']}").get_data(as_text=True)
    assert _listed(page) == {}
    assert 'data-register-empty="service_organisations"' in page and "请联系管理员登记" in page
