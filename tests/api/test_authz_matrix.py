"""Authorization matrix: every REST endpoint and every web page × role × scope → the expected status.

One Putuo comprehensive-assistance case (street 310107014, 长风新村街道) waits at its acceptance step (a
street officer's task); one Pudong case waits at its application. Each identity below is a role at a
scope relative to the Putuo case: its own street (or district), another street of the same district,
another district, the city, or nobody. Each row of ``PROBES`` is one request with its expected status per
identity (the default for logged-in users, overridden per identity; anonymous gets 401 from the API and
a redirect to the login page from the web app). A probe that changes something undoes it.

The world is built once for the module (outside the per-test cleanup, which it runs itself at the end),
so the whole matrix takes a few seconds. ``test_every_route_is_in_the_matrix`` fails for a route without
a row, and the leak tests look at what lists, filters, counts, exports and error messages give away.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import PASSWORD, clean_up
from tests.helpers import make_extra_users
from tests.procedures.cases import supply_materials
from tests.procedures.helpers import APPLICANT, application
from tests.web.helpers import Web

STREET, OTHER_DISTRICT_STREET = "310107014", "310115004"
BUSINESS_KEY, PD_BUSINESS_KEY = "AUTHZ-PT-1", "AUTHZ-PD-1"
HOUSEHOLD_HEAD, HOUSEHOLD_HEAD_ID = "权限测试居民", "999999197707070070"  # check digit 0 (see world)
# A Twinning case for pairing TW01 (city level): the procedure-bound rows.
TW_BUSINESS_KEY = "TW01"

# identity -> username (role/scope relative to the Putuo case): every one of the 15 roles at least once
WHO: dict[str, str | None] = {
    "advisor/own": "pt_advisor",
    "advisor/district": "pt_other_advisor",
    "advisor/other": "pd_advisor",
    "street_officer/own": "pt_officer",
    "street_officer/district": "pt_other_street_officer",
    "street_officer/other": "pd_officer",
    "street_head/own": "pt_head",
    "street_head/district": "pt_other_head",
    "review_panel/own": "pt_panel",
    "finance/own": "pt_finance",
    "district_officer/own": "pt_district",
    "district_officer/other": "pd_district_officer",
    "district_head/own": "pt_district_head",
    "city_officer/city": "city",
    "foundation/city": "foundation",
    "agency_worker/own": "pt_agency_worker",
    "agency_worker/other": "pd_agency_worker",
    "agency_lead/own": "pt_agency_lead",
    # agency_lead at city level, bound to the Twinning procedure and to pairing TW01 (engine.scope)
    "agency_lead/tw01": "tw01_lead",
    "agency_lead/tw02": "tw02_lead",
    "gansu_officer/city": "gansu",
    "aided_agency/city": "aided",
    "supervisor_expert/city": "expert",
    "admin/city": "admin",
    "anonymous": None,
}
STAFF = [k for k in WHO if k != "anonymous"]
# Whose grants cover the Putuo case: its unit, and comprehensive assistance among the grant's procedures
# (by default the procedures whose lanes use the role; supervisors and admins: every procedure). The
# agencies, the foundation and the Twinning roles work on other procedures and do not read it.
CASE_SCOPE = {
    "advisor/own",
    "street_officer/own",
    "street_head/own",
    "review_panel/own",
    "finance/own",
    "district_officer/own",
    "district_head/own",
    "city_officer/city",
    "admin/city",
}
# Who may see its acceptance task: the street officers who may claim it, supervisors above it, admins.
SUPERVISORS = {
    "street_head/own",
    "district_officer/own",
    "district_head/own",
    "city_officer/city",
    "admin/city",
}
TASK_SEERS = {"street_officer/own"} | SUPERVISORS
DASHBOARD = {"street_head/own", "street_head/district", "district_officer/own", "district_officer/other"} | {
    "district_head/own",
    "city_officer/city",
    "foundation/city",
    "admin/city",
}
# In the case's scope with a role that verifies identity (engine.privacy.ID_NUMBER_ROLES): full numbers
# through the audited reveal.
ID_READERS = {
    "street_officer/own",
    "street_head/own",
    "district_officer/own",
    "district_head/own",
    "admin/city",
}
# Supervisors whose unit contains the filed staff member's (pt_officer2, street 310107014): they file
# near relatives (and withdraw the filing: the row's undo); other supervisors are refused (issue 18 item 7).
FILERS = {"street_head/own", "district_officer/own", "district_head/own", "city_officer/city", "admin/city"}
# Instance operations: admins anywhere, district heads in their district (pt_district heads Putuo).
OPERATORS = {"district_officer/own", "district_head/own", "admin/city"}
# The web app offers a procedure to whoever holds its first step's role (and admins).
STARTERS = {"advisor/own", "advisor/district", "advisor/other", "admin/city"}
# The Twinning case (pairing TW01): the city, the Gansu side, the aided agency, the experts, the agency
# bound to TW01 and admins; not the agency bound to TW02, nor anyone of the districts.
TW_SCOPE = {
    "city_officer/city",
    "gansu_officer/city",
    "aided_agency/city",
    "supervisor_expert/city",
    "agency_lead/tw01",
    "admin/city",
}


def only(ok: int, who: set[str], *, other: int = 403) -> dict[str, int]:
    return {k: (ok if k in who else other) for k in STAFF}


def everyone(ok: int) -> dict[str, int]:
    return dict.fromkeys(STAFF, ok)


@dataclasses.dataclass
class Probe:
    method: str
    path: str  # with {case}, {pd_case}, {tw_case}, {task}, {note}
    expect: dict[str, int]  # per staff identity
    endpoint: str  # the url_map endpoint this row covers
    json: Any = None  # API body
    form: dict[str, Any] | None = None  # web form
    anonymous: int | None = None  # default: 401 (API) or a login redirect (web)
    fresh: bool = False  # a fresh login (the probe ends it: logout, language switch)
    # a request undoing a success, as "METHOD path" ({created}: the id the success answered with)
    undo: str | None = None
    undo_json: Any = None

    @property
    def web(self) -> bool:
        return not self.path.startswith("/api/")

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


API, T = "/api/v1", "/api/v1/tasks/{task}"


READY = 200  # a holiday calendar short of 30 days is 'degraded', not 503: the answer is the same any day
PROBES = [
    # --- REST API ---------------------------------------------------------------------------------------
    Probe("GET", "/api/openapi.json", everyone(200), "api-docs.openapi_json", anonymous=200),
    Probe("POST", f"{API}/households", everyone(422), "households.create", json={"residence_street": "none"}),
    Probe(
        "POST",
        f"{API}/households/lookup",
        only(200, CASE_SCOPE, other=404),
        "households.lookup",
        json={"id_number": HOUSEHOLD_HEAD_ID},
    ),
    Probe("GET", f"{API}/households/{{household}}", only(200, CASE_SCOPE, other=404), "households.get"),
    Probe("GET", f"{API}/households/999999999", everyone(404), "households.get"),
    Probe(
        "PATCH",
        f"{API}/households/{{household}}",
        only(200, CASE_SCOPE, other=404),
        "households.update",
        json={},
    ),
    Probe(
        "POST",
        f"{API}/households/{{household}}/members",
        only(422, CASE_SCOPE, other=404),
        "households.add_member",
        json={"name": "权限测试乙", "relation": "child", "id_number": "1"},
    ),
    Probe(
        "PATCH",
        f"{API}/households/people/{{person}}",
        only(200, CASE_SCOPE, other=404),
        "households.update_member",
        json={},
    ),
    Probe("GET", f"{API}/cases", everyone(200), "cases.search"),
    Probe("GET", f"{API}/cases?name=权限测试", everyone(200), "cases.search"),
    Probe("GET", f"{API}/health", everyone(200), "health", anonymous=200),
    Probe("GET", f"{API}/health/live", everyone(200), "health_live", anonymous=200),
    Probe("GET", f"{API}/health/ready", everyone(READY), "health_ready", anonymous=READY),
    Probe("GET", "/metrics", everyone(200), "metrics_scrape", anonymous=200),
    Probe(
        "POST",
        f"{API}/auth/token",
        everyone(201),
        "auth.create_token",
        json={"password": PASSWORD},
        anonymous=401,
    ),
    Probe("DELETE", f"{API}/auth/token", everyone(204), "auth.revoke_token", fresh=True),
    Probe("GET", f"{API}/auth/me", everyone(200), "auth.me"),
    Probe(
        "POST",
        f"{API}/auth/password",
        everyone(422),
        "auth.change_password",
        json={"current_password": "not-the-password", "new_password": "a-new-passw0rd"},
    ),
    Probe(
        "POST",
        f"{API}/near-relatives",
        only(201, FILERS),
        "near_relatives.file_near_relative",
        json={"staff_username": "pt_officer2", "relative_id_number": APPLICANT, "relation": "spouse"},
        undo="POST /api/v1/near-relatives/{created}/withdraw",
        undo_json={"reason": "授权矩阵测试撤回"},
    ),
    Probe(
        "POST",
        f"{API}/near-relatives",
        only(422, FILERS | {"street_head/district", "district_officer/other"}),
        "near_relatives.file_near_relative",
        json={"staff_username": "pt_officer2", "relative_id_number": "0" * 18, "relation": "spouse"},
    ),
    Probe(
        "POST",
        f"{API}/near-relatives/999999999/withdraw",
        everyone(404),
        "near_relatives.withdraw_near_relative",
        json={"reason": "不存在的备案"},
    ),
    Probe("GET", f"{API}/notifications", everyone(200), "notifications.list_notifications"),
    Probe(
        "POST",
        f"{API}/notifications/{{note}}/read",
        only(200, {"street_officer/own"}, other=404),
        "notifications.mark_read",
    ),
    Probe("POST", f"{API}/notifications/read-all", everyone(200), "notifications.mark_all_read"),
    # incidents (issue 18 item 11): admins only; no incident 999999999 exists
    Probe("GET", f"{API}/incidents", only(200, {"admin/city"}), "incidents.list_incidents"),
    Probe("GET", f"{API}/incidents/999999999", only(404, {"admin/city"}), "incidents.get_incident"),
    Probe("POST", f"{API}/incidents/999999999/retry", only(404, {"admin/city"}), "incidents.retry_incident"),
    Probe(
        "POST",
        f"{API}/incidents/999999999/skip",
        only(404, {"admin/city"}),
        "incidents.skip_incident",
        json={"reason": "权限测试"},
    ),
    # messages and signals (issue 19): admins only; a signal nobody waits for changes nothing
    Probe(
        "POST",
        f"{API}/messages",
        only(200, {"admin/city"}),
        "messages.send_message",
        json={"name": "authz_probe_signal", "kind": "signal"},
    ),
    # user accounts (issue 18, second pass): admins only; no user no_such_user exists
    Probe("GET", f"{API}/users", only(200, {"admin/city"}), "users.list_accounts"),
    Probe(
        "POST",
        f"{API}/users/no_such_user/unlock",
        only(404, {"admin/city"}),
        "users.unlock",
        json={"reason": "权限测试"},
    ),
    Probe(
        "POST",
        f"{API}/users/no_such_user/deactivate",
        only(404, {"admin/city"}),
        "users.deactivate",
        json={"reason": "权限测试"},
    ),
    Probe(
        "POST",
        f"{API}/users/no_such_user/reactivate",
        only(404, {"admin/city"}),
        "users.reactivate",
        json={"reason": "权限测试"},
    ),
    Probe("GET", f"{API}/process-definitions", everyone(200), "process_definitions.list_definitions"),
    Probe(
        "POST", f"{API}/process-definitions", only(422, {"admin/city"}), "process_definitions.deploy", json={}
    ),
    Probe(
        "POST",
        f"{API}/process-definitions/lint",
        only(422, {"admin/city"}),
        "process_definitions.lint",
        json={},
    ),
    Probe(
        "GET",
        f"{API}/process-definitions/comprehensive_assistance",
        everyone(200),
        "process_definitions.get_versions",
    ),
    Probe(
        "GET",
        f"{API}/process-definitions/comprehensive_assistance/xml",
        everyone(200),
        "process_definitions.get_xml",
    ),
    Probe(
        "POST",
        f"{API}/process-definitions/comprehensive_assistance/diff",
        only(422, {"admin/city"}),
        "process_definitions.diff_candidate",
        json={},
    ),
    Probe(  # one deployed version: nothing earlier to compare with
        "GET",
        f"{API}/process-definitions/comprehensive_assistance/diff",
        only(422, {"admin/city"}),
        "process_definitions.diff_versions",
    ),
    Probe(
        "GET",
        f"{API}/process-definitions/comprehensive_assistance/diff?from=1&to=1",
        only(200, {"admin/city"}),
        "process_definitions.diff_versions",
    ),
    Probe("GET", f"{API}/forms", only(200, {"admin/city"}), "forms.list_forms"),
    Probe("GET", f"{API}/document-templates", only(200, {"admin/city"}), "document_templates.list_templates"),
    Probe(
        "GET",
        f"{API}/document-templates/acceptance_notice",
        only(200, {"admin/city"}),
        "document_templates.get_template",
    ),
    Probe(  # an empty text: refused, nothing saved
        "POST",
        f"{API}/document-templates/acceptance_notice/versions",
        only(422, {"admin/city"}),
        "document_templates.save_template",
        json={"source": " "},
    ),
    Probe("GET", f"{API}/forms/demo_review", only(200, {"admin/city"}), "forms.get_form"),
    Probe(
        "POST", f"{API}/forms/demo_review/versions", only(422, {"admin/city"}), "forms.save_version", json={}
    ),
    Probe("POST", f"{API}/forms/demo_review/preview", only(200, {"admin/city"}), "forms.preview", json={}),
    # Starting needs the first step's role for that org unit, on the API as in the web app.
    Probe(
        "POST",
        f"{API}/process-instances",
        only(201, {"advisor/own", "admin/city"}),
        "process_instances.start",
        json={"process_key": "comprehensive_assistance", "org_unit": STREET, "business_key": "AUTHZ-START"},
    ),
    Probe("GET", f"{API}/process-instances", everyone(200), "process_instances.list_instances"),
    Probe(
        "GET", f"{API}/process-instances/{{case}}", only(200, CASE_SCOPE), "process_instances.get_instance"
    ),
    Probe(
        "GET", f"{API}/process-instances/{{case}}/events", only(200, CASE_SCOPE), "process_instances.events"
    ),
    Probe(
        "GET", f"{API}/process-instances/{{case}}/timers", only(200, CASE_SCOPE), "process_instances.timers"
    ),
    Probe(
        "GET",
        f"{API}/process-instances/{{case}}/personal-data",
        only(200, ID_READERS),
        "process_instances.personal_data",
    ),
    Probe(
        "GET",
        f"{API}/process-instances/999999999/personal-data",
        everyone(404),
        "process_instances.personal_data",
    ),
    Probe(
        "GET",
        f"{API}/process-instances/{{pd_case}}",
        only(200, {"advisor/other", "street_officer/other", "district_officer/other"})
        | {"city_officer/city": 200, "admin/city": 200},
        "process_instances.get_instance",
    ),
    # procedure- and contract-bound grants: the Twinning case of pairing TW01
    Probe(
        "GET", f"{API}/process-instances/{{tw_case}}", only(200, TW_SCOPE), "process_instances.get_instance"
    ),
    Probe("GET", "/cases/{tw_case}", only(200, TW_SCOPE), "web.case_page"),
    Probe("GET", f"{API}/process-instances/999999999", everyone(404), "process_instances.get_instance"),
    Probe("GET", f"{API}/reference/twinning-pairings", everyone(200), "reference.twinning_pairings"),
    Probe("GET", f"{API}/reference/twinning-targets", everyone(200), "reference.twinning_targets"),
    Probe("GET", f"{API}/tasks", everyone(200), "tasks.list_tasks"),
    Probe("GET", T, only(200, TASK_SEERS), "tasks.get_task"),
    Probe("GET", f"{API}/tasks/999999999", everyone(404), "tasks.get_task"),
    Probe(
        "POST",
        f"{T}/claim",
        only(200, {"street_officer/own"}),
        "tasks.claim",
        undo="POST /api/v1/tasks/{task}/unclaim",
    ),
    Probe("POST", f"{T}/unclaim", only(409, TASK_SEERS), "tasks.unclaim"),  # seen but not claimed: 409
    # attachments: the task's seers may upload (422 here: no multipart body), the case's scope lists them
    Probe("POST", f"{T}/attachments", only(422, TASK_SEERS), "attachments.upload"),
    Probe("GET", f"{T}/materials", only(200, TASK_SEERS), "attachments.task_materials"),
    Probe(
        "GET",
        f"{API}/process-instances/{{case}}/attachments",
        only(200, CASE_SCOPE),
        "attachments.instance_attachments",
    ),
    Probe("GET", f"{API}/attachments/999999999", everyone(404), "attachments.attachment"),
    Probe("DELETE", f"{API}/attachments/999999999", everyone(404), "attachments.remove"),
    Probe("GET", f"{API}/attachments/999999999/content", everyone(404), "attachments.content"),
    Probe("GET", f"{API}/attachments/999999999/thumbnail", everyone(404), "attachments.thumbnail"),
    # documents: the case's scope sees which it can print; at acceptance there is no decision to print
    Probe("GET", f"{API}/process-instances/{{case}}/documents", only(200, CASE_SCOPE), "documents.available"),
    Probe(
        "POST",
        f"{API}/process-instances/{{case}}/documents/acceptance_notice",
        only(409, CASE_SCOPE),
        "documents.print_document",
    ),
    # reports: the case's scope sees the list (none for a comprehensive-assistance case); a kind of another
    # procedure is 404 inside the scope, 403 outside it (nothing exported, nothing audited)
    Probe("GET", f"{API}/process-instances/{{case}}/reports", only(200, CASE_SCOPE), "reports.available"),
    Probe(
        "GET",
        f"{API}/process-instances/{{case}}/reports/bridge_final.xlsx",
        only(404, CASE_SCOPE),
        "reports.export",
    ),
    # step records: everyone who sees the case; the open acceptance has none yet (404)
    Probe(
        "GET",
        f"{API}/process-instances/{{case}}/records",
        only(200, CASE_SCOPE),
        "step_records.instance_records",
    ),
    Probe("GET", f"{T}/record", only(404, CASE_SCOPE), "step_records.task_record"),
    Probe("GET", f"{T}/send-back", only(200, TASK_SEERS), "step_records.send_back_targets"),
    # 退回补正: the acceptance declares no earlier step (422 for whoever may work on it)
    Probe(
        "POST",
        f"{T}/send-back",
        only(422, {"street_officer/own"}),
        "step_records.send_back",
        json={"target": "application", "reason": "材料不全"},
    ),
    Probe("POST", f"{T}/complete", only(422, {"street_officer/own"}), "tasks.complete", json={"data": {}}),
    Probe("POST", f"{T}/assign", only(422, SUPERVISORS), "tasks.assign", json={"username": "nobody-here"}),
    Probe(
        "POST", f"{T}/deadline", only(422, SUPERVISORS), "tasks.change_deadline", json={"reason": "测试期限"}
    ),
    # instance operations: an empty body is refused (reason missing) after the permission check
    *(
        Probe(
            "POST",
            f"{API}/process-instances/{{case}}/{op}",
            only(422, OPERATORS),
            f"operations.{op.replace('-', '_')}",
            json={},
        )
        for op in ("suspend", "resume", "terminate", "move-back", "migrate")
    ),
    Probe(
        "PATCH",
        f"{API}/process-instances/{{case}}/data",
        only(422, OPERATORS),
        "operations.edit_data",
        json={},
    ),
    Probe("POST", f"{API}/process-instances/999999999/suspend", everyone(404), "operations.suspend", json={}),
    Probe(
        "POST",
        f"{API}/process-definitions/comprehensive_assistance/migrate",
        only(422, OPERATORS),
        "operations.migrate_batch",
        json={},
    ),
    Probe("POST", f"{T}/reassign", only(422, OPERATORS), "operations.reassign", json={}),
    Probe("GET", f"{API}/calendar/2027", only(200, {"admin/city"}), "calendar.get_year"),
    Probe(  # a year out of range: refused before anything is written
        "PUT", f"{API}/calendar/1999", only(422, {"admin/city"}), "calendar.put_year", json={"days": []}
    ),
    Probe("POST", f"{API}/calendar/recompute", only(200, {"admin/city"}), "calendar.recompute", json={}),
    Probe("GET", f"{API}/policy-parameters", everyone(200), "policy_parameters.list_procedures"),
    Probe(
        "GET",
        f"{API}/policy-parameters/comprehensive_assistance",
        everyone(200),
        "policy_parameters.get_versions",
    ),
    Probe(  # a date out of range: refused before anything is written
        "POST",
        f"{API}/policy-parameters/comprehensive_assistance",
        only(422, {"admin/city"}),
        "policy_parameters.add_version",
        json={"effective_from": "1999-01-01", "values": {"review_quorum": 1}},
    ),
    Probe("GET", f"{API}/decisions", everyone(200), "decisions.list_decisions"),
    Probe("POST", f"{API}/decisions", only(422, {"admin/city"}), "decisions.deploy", json={}),
    Probe("POST", f"{API}/decisions/lint", only(422, {"admin/city"}), "decisions.lint", json={}),
    Probe("GET", f"{API}/decisions/ca_approval_authority", everyone(200), "decisions.get_versions"),
    Probe("GET", f"{API}/decisions/ca_approval_authority/xml", everyone(200), "decisions.get_xml"),
    Probe(  # trying a table stores nothing
        "POST",
        f"{API}/decisions/ca_approval_authority/evaluate",
        only(200, {"admin/city"}),
        "decisions.evaluate",
        json={"inputs": {}, "process_key": "comprehensive_assistance"},
    ),
    # service organisations (3A referrals): listed for staff, managed by admins; nothing is written here
    Probe("GET", f"{API}/service-organisations", everyone(200), "service_organisations.list_organisations"),
    Probe(
        "GET", f"{API}/service-organisations/NOPE", everyone(404), "service_organisations.get_organisation"
    ),
    Probe(
        "POST",
        f"{API}/service-organisations",
        only(422, {"admin/city"}),
        "service_organisations.create_organisation",
        json={"code": "坏 编码", "name": "权限测试机构"},
    ),
    Probe(
        "PATCH",
        f"{API}/service-organisations/NOPE",
        only(404, {"admin/city"}),
        "service_organisations.update_organisation",
        json={"active": False, "reason": "权限测试"},
    ),
    Probe(
        "POST",
        f"{API}/service-organisations/NOPE/members",
        only(404, {"admin/city"}),
        "service_organisations.add_member",
        json={"username": "pt_advisor"},
    ),
    Probe(
        "DELETE",
        f"{API}/service-organisations/NOPE/members/no_such_user",
        only(404, {"admin/city"}),
        "service_organisations.remove_member",
    ),
    # --- web pages ---------------------------------------------------------------------------------------
    Probe("GET", "/login", everyone(200), "web.login", anonymous=200),
    Probe("POST", "/login", everyone(401), "web.login", form={"username": "nobody-here"}, anonymous=401),
    Probe("POST", "/logout", everyone(302), "web.logout", fresh=True, anonymous=302),
    # single sign-on is off unless configured (tests/oidc turns it on against a provider)
    Probe("GET", "/login/oidc", everyone(404), "web.oidc_login", anonymous=404),
    Probe("GET", "/login/oidc/callback", everyone(404), "web.oidc_callback", anonymous=404),
    Probe("GET", "/password", everyone(200), "web.change_password"),
    Probe(
        "POST",
        "/password",
        everyone(422),
        "web.change_password",
        form={
            "current_password": "not-the-password",
            "new_password": "a-new-passw0rd",
            "confirm_password": "a-new-passw0rd",
        },
    ),
    Probe("GET", "/lang/zh", everyone(302), "web.set_language", anonymous=302),
    Probe("GET", "/vendor/htmx.js", everyone(200), "web.vendor", anonymous=200),
    Probe("GET", "/static/web/app.css", everyone(200), "web.static", anonymous=200),
    Probe("GET", "/static/nothing.txt", everyone(404), "static", anonymous=404),
    Probe("GET", "/", everyone(200), "web.inbox"),
    Probe("GET", "/tasks/{task}", only(200, TASK_SEERS), "web.task_page"),
    Probe("GET", "/tasks/999999999", everyone(404), "web.task_page"),
    Probe(
        "POST",
        "/tasks/{task}/claim",
        only(302, {"street_officer/own"}),
        "web.claim",
        undo="POST /api/v1/tasks/{task}/unclaim",
    ),
    Probe("POST", "/tasks/{task}/unclaim", only(409, TASK_SEERS), "web.unclaim"),
    Probe(
        "POST",
        "/tasks/{task}/send-back",
        only(302, {"street_officer/own"}),
        "web.send_back",
        form={"target": "application", "reason": "材料不全"},
    ),
    Probe("POST", "/tasks/{task}/complete", only(422, {"street_officer/own"}), "web.complete", form={}),
    # the drop zone's upload takes its CSRF token in a header only (the body is a stream): 400 without it
    Probe("POST", "/tasks/{task}/attachments", everyone(400), "web.upload_material", form={}),
    Probe("POST", "/attachments/999999999/remove", everyone(404), "web.remove_material", form={}),
    Probe("GET", "/attachments/999999999/file", everyone(404), "web.material_file"),
    Probe("GET", "/attachments/999999999/thumb", everyone(404), "web.material_thumb"),
    Probe("POST", "/tasks/{task}/draft", only(302, {"street_officer/own"}), "web.save_draft", form={}),
    Probe(
        "POST", "/tasks/{task}/assign", only(302, SUPERVISORS), "web.assign", form={"username": "nobody-here"}
    ),
    Probe("GET", "/start", everyone(200), "web.start_list"),
    Probe("GET", "/start/comprehensive_assistance", only(200, STARTERS, other=404), "web.start_form"),
    Probe(
        "POST", "/start/comprehensive_assistance", only(422, STARTERS, other=404), "web.start_form", form={}
    ),
    Probe(
        "GET",
        "/admin/processes/comprehensive_assistance/1/modeler",
        only(200, {"admin/city"}),
        "web.admin_modeler",
    ),
    Probe("GET", "/admin/processes/new/modeler", only(200, {"admin/city"}), "web.admin_modeler_new"),
    Probe(
        "POST", "/admin/modeler/validate", only(422, {"admin/city"}), "web.admin_modeler_validate", form={}
    ),
    Probe("POST", "/admin/modeler/diff", only(422, {"admin/city"}), "web.admin_modeler_diff", form={}),
    Probe("POST", "/admin/modeler/deploy", only(422, {"admin/city"}), "web.admin_modeler_deploy", form={}),
    Probe("GET", "/cases/{case}", only(200, CASE_SCOPE), "web.case_page"),
    Probe("GET", "/cases", everyone(200), "web.case_list"),
    Probe("GET", "/cases?name=权限测试", everyone(200), "web.case_list"),
    Probe("GET", "/households/{household}", only(200, CASE_SCOPE, other=404), "web.household_page"),
    Probe(
        "GET",
        "/households/{household}/start?applicant={person}&process=comprehensive_assistance",
        only(302, CASE_SCOPE, other=404),
        "web.household_start",
    ),
    Probe("GET", "/cases/999999999", everyone(404), "web.case_page"),
    Probe("GET", "/cases/{case}/diagram.bpmn", only(200, CASE_SCOPE), "web.case_diagram"),
    Probe(
        "POST",
        "/cases/{case}/documents/acceptance_notice",
        only(409, CASE_SCOPE),
        "web.print_document",
        form={},
    ),
    Probe("GET", "/cases/{case}/reports/bridge_final.pdf", only(404, CASE_SCOPE), "web.export_report"),
    Probe("POST", "/cases/{case}/operations/suspend", only(302, OPERATORS), "web.case_operation", form={}),
    Probe("POST", "/cases/{case}/operations/nothing", everyone(404), "web.case_operation", form={}),
    Probe(
        "POST",
        "/cases/{case}/incidents/999999999/retry",
        only(404, {"admin/city"}),
        "web.case_incident_retry",
        form={},
    ),
    Probe("GET", "/admin/instances/migrate", only(200, OPERATORS), "web.batch_migrate"),
    Probe(
        "GET",
        "/admin/instances/migrate?key=comprehensive_assistance&from=1",
        only(200, OPERATORS),
        "web.batch_migrate",
    ),
    Probe("POST", "/admin/instances/migrate", only(200, OPERATORS), "web.batch_migrate", form={}),
    Probe("POST", "/cases/{case}/personal-data", only(200, ID_READERS), "web.case_personal_data", form={}),
    Probe("GET", "/dashboard", only(200, DASHBOARD), "web.dashboard"),
    Probe("GET", "/dashboard/by_step.csv", only(200, DASHBOARD), "web.dashboard_export"),
    Probe("GET", "/notifications", everyone(200), "web.notification_list"),
    Probe(
        "POST",
        "/notifications/{note}/read",
        only(302, {"street_officer/own"}, other=404),
        "web.notification_read",
    ),
    Probe("POST", "/notifications/read-all", everyone(302), "web.notification_read_all"),
    Probe("GET", "/admin/processes", only(200, {"admin/city"}), "web.admin_processes"),
    Probe("GET", "/admin/processes/comprehensive_assistance", only(200, {"admin/city"}), "web.admin_process"),
    Probe(
        "GET",
        "/admin/processes/comprehensive_assistance/1/xml",
        only(200, {"admin/city"}),
        "web.admin_process_xml",
    ),
    Probe("POST", "/admin/processes/upload", only(422, {"admin/city"}), "web.admin_process_upload", form={}),
    Probe(  # one deployed version: nothing earlier to compare with
        "GET",
        "/admin/processes/comprehensive_assistance/diff",
        only(422, {"admin/city"}),
        "web.admin_process_diff",
    ),
    Probe("GET", "/admin/forms", only(200, {"admin/city"}), "web.admin_forms"),
    Probe("GET", "/admin/templates", only(200, {"admin/city"}), "web.admin_templates"),
    Probe("GET", "/admin/templates/acceptance_notice", only(200, {"admin/city"}), "web.admin_template"),
    Probe(
        "POST", "/admin/templates/acceptance_notice", only(422, {"admin/city"}), "web.admin_template", form={}
    ),
    Probe("GET", "/admin/policy", only(200, {"admin/city"}), "web.admin_policy_list"),
    Probe("GET", "/admin/policy/twinning", only(200, {"admin/city"}), "web.admin_policy"),
    Probe(
        "POST",
        "/admin/policy/twinning",
        only(422, {"admin/city"}),
        "web.admin_policy_save",
        form={"effective_from": "not a date"},
    ),
    Probe("GET", "/admin/decisions", only(200, {"admin/city"}), "web.admin_decisions"),
    Probe("GET", "/admin/decisions/ca_approval_authority", only(200, {"admin/city"}), "web.admin_decision"),
    Probe(
        "GET",
        "/admin/decisions/ca_approval_authority/1/xml",
        only(200, {"admin/city"}),
        "web.admin_decision_xml",
    ),
    Probe(
        "GET",
        "/admin/decisions/ca_approval_authority/1/editor",
        only(200, {"admin/city"}),
        "web.admin_decision_editor",
    ),
    Probe("GET", "/admin/decisions/new/editor", only(200, {"admin/city"}), "web.admin_decision_new"),
    Probe("POST", "/admin/decisions/deploy", only(422, {"admin/city"}), "web.admin_decision_deploy", form={}),
    Probe("POST", "/admin/decisions/try", only(422, {"admin/city"}), "web.admin_decision_try", form={}),
    Probe("POST", "/admin/modeler/draft", only(422, {"admin/city"}), "web.admin_modeler_draft", form={}),
    Probe("GET", "/admin/calendar?year=2027", only(200, {"admin/city"}), "web.admin_calendar"),
    Probe("GET", "/admin/system", only(200, {"admin/city"}), "web.admin_system"),
    Probe(
        "POST",
        "/admin/system/incidents/999999999/retry",
        only(404, {"admin/city"}),
        "web.admin_system_retry",
        form={},
    ),
    Probe(
        "POST",
        "/admin/system/incidents/999999999/skip",
        only(404, {"admin/city"}),
        "web.admin_system_skip",
        form={"reason": "权限测试"},
    ),
    Probe(
        "POST",
        "/admin/calendar/2027",
        only(422, {"admin/city"}),
        "web.admin_calendar_save",
        form={"holidays": "2027-13-01 x"},
    ),
    Probe(  # a dry run: counts, moves nothing
        "POST",
        "/admin/calendar/recompute",
        only(302, {"admin/city"}),
        "web.admin_calendar_recompute",
        form={"apply": "0"},
    ),
    Probe("GET", "/admin/service-orgs", only(200, {"admin/city"}), "web.admin_service_orgs"),
    Probe(  # a bad code: the admin is sent back to the page with the reason, nothing written
        "POST",
        "/admin/service-orgs",
        only(302, {"admin/city"}),
        "web.admin_service_org_create",
        form={"code": "坏 编码", "name": "权限测试机构"},
    ),
    Probe(  # no such organisation: the admin is sent back to the page with the reason
        "POST",
        "/admin/service-orgs/NOPE",
        only(302, {"admin/city"}),
        "web.admin_service_org_update",
        form={"name": "权限测试机构"},
    ),
    Probe(
        "POST",
        "/admin/service-orgs/NOPE/active",
        only(302, {"admin/city"}),
        "web.admin_service_org_active",
        form={"active": "0", "reason": "权限测试"},
    ),
    Probe(
        "POST",
        "/admin/service-orgs/NOPE/members",
        only(302, {"admin/city"}),
        "web.admin_service_org_add",
        form={"username": "pt_advisor"},
    ),
    Probe(
        "POST",
        "/admin/service-orgs/NOPE/members/pt_advisor/remove",
        only(302, {"admin/city"}),
        "web.admin_service_org_remove",
        form={},
    ),
    Probe("GET", "/admin/users", only(200, {"admin/city"}), "web.admin_users"),
    Probe(  # no such user: the admin is sent back to the page with the reason
        "POST",
        "/admin/users/no_such_user/unlock",
        only(302, {"admin/city"}),
        "web.admin_user_unlock",
        form={"reason": "权限测试"},
    ),
    Probe(
        "POST",
        "/admin/users/no_such_user/active",
        only(302, {"admin/city"}),
        "web.admin_user_active",
        form={"active": "0", "reason": "权限测试"},
    ),
    Probe("GET", "/admin/forms/demo_review", only(200, {"admin/city"}), "web.admin_form"),
    Probe("POST", "/admin/forms/demo_review", only(422, {"admin/city"}), "web.admin_form", form={}),
    Probe(
        "POST",
        "/admin/forms/demo_review/preview",
        only(200, {"admin/city"}),
        "web.admin_form_preview",
        form={},
    ),
]

# Nothing of the Putuo case may appear in a response its reader may not have (nor in any error).
SECRETS = (BUSINESS_KEY, APPLICANT, "家庭成员突发重病", HOUSEHOLD_HEAD, HOUSEHOLD_HEAD_ID)


@dataclasses.dataclass
class World:
    app: Any
    ids: dict[str, int]
    tokens: dict[str, str]
    webs: dict[str, Web]

    def url(self, path: str) -> str:
        return path.format(**self.ids)

    def api(self, identity: str, method: str, path: str, *, fresh: bool = False, **kwargs: Any):
        client = self.app.test_client()
        username = WHO[identity]
        headers = {}
        if username is not None:
            token = self.login(username) if fresh else self.token(username)
            headers["Authorization"] = f"Bearer {token}"
        return client.open(self.url(path), method=method, headers=headers, **kwargs)

    def login(self, username: str) -> str:
        """A token as ``POST /auth/token`` issues it (without argon2's deliberate slowness, which the
        ``auth.create_token`` row pays once per identity)."""
        from api.extensions import db
        from engine.users import service as users

        session = db.session()
        raw, _token = users.issue_token(session, users.by_username(session, username))
        session.commit()
        return raw

    def token(self, username: str) -> str:
        if username not in self.tokens:
            self.tokens[username] = self.login(username)
        return self.tokens[username]

    def web(self, identity: str, *, fresh: bool = False) -> Web:
        username = WHO[identity]
        if fresh or identity not in self.webs:
            browser = Web(self.app.test_client())
            if username:  # the session a login makes (the ``POST /login`` row logs in for real)
                from api.extensions import db
                from engine.users import service as users
                from engine.users import sessions

                sid = sessions.open_session(db.session(), users.by_username(db.session(), username))
                db.session.commit()
                with browser.client.session_transaction() as cookie:
                    cookie["sid"], cookie["lang"] = sid, "zh"
            browser.get("/login")  # its CSRF token
            if fresh:
                return browser
            self.webs[identity] = browser
        return self.webs[identity]


@pytest.fixture(scope="module")
def world(app) -> Iterator[World]:
    from api.extensions import db
    from engine.notifications import service as notifications
    from engine.notifications.models import NotificationKind
    from engine.tasks import service as tasks
    from tests.conftest import get_user

    # Every identity posts one wrong login from the same address: the login guard would refuse the sixth
    # (tested in test_trust_sessions.py), and so would the address and account-wide limits with 24 identities
    # trying one username; here only who may reach what is looked at.
    limits = {
        k: app.config[k]
        for k in ("LOGIN_MAX_FAILURES", "LOGIN_ADDRESS_MAX_FAILURES", "LOGIN_ACCOUNT_MAX_FAILURES")
    }
    app.config.update(dict.fromkeys(limits, 1000))
    with app.app_context():
        w = World(app, {}, {}, {})
        try:
            make_extra_users(db.session())  # the district head, the agencies bound to TW01 / TW02
            registered = w.api(
                "advisor/own",
                "POST",
                f"{API}/households",
                json={
                    "residence_street": STREET,
                    "members": [{"name": HOUSEHOLD_HEAD, "relation": "head", "id_number": HOUSEHOLD_HEAD_ID}],
                },
            )
            assert registered.status_code == 201, registered.json
            household, person = registered.json["id"], registered.json["members"][0]["id"]
            started = w.api(
                "advisor/own",
                "POST",
                f"{API}/process-instances",
                json={
                    "process_key": "comprehensive_assistance",
                    "org_unit": STREET,
                    "business_key": BUSINESS_KEY,
                    "household_id": household,
                    "applicant_person_id": person,
                },
            )
            assert started.status_code == 201, started.json
            case = started.json["id"]
            application_task = started.json["open_tasks"][0]["id"]
            supply_materials(
                w.app.test_client(),
                {"Authorization": f"Bearer {w.token(WHO['advisor/own'])}"},
                application_task,
            )
            done = w.api(
                "advisor/own",
                "POST",
                f"{API}/tasks/{application_task}/complete",
                json={"data": application()},
            )
            assert done.status_code == 200, done.json
            detail = w.api("admin/city", "GET", f"{API}/process-instances/{case}").json
            (task,) = [t["id"] for t in detail["open_tasks"] if t["bpmn_id"] == "acceptance"]
            pd = w.api(
                "advisor/other",
                "POST",
                f"{API}/process-instances",
                json={
                    "process_key": "comprehensive_assistance",
                    "org_unit": OTHER_DISTRICT_STREET,
                    "business_key": PD_BUSINESS_KEY,
                },
            )
            assert pd.status_code == 201, pd.json
            tw = w.api(
                "city_officer/city",
                "POST",
                f"{API}/process-instances",
                json={"process_key": "twinning", "org_unit": "310000", "business_key": TW_BUSINESS_KEY},
            )
            assert tw.status_code == 201, tw.json
            session = db.session()
            (note,) = notifications.notify(
                session,
                [get_user(session, "pt_officer")],
                NotificationKind.REMINDER,
                "即将到期 / due soon",
                "受理即将到期",
                task=tasks.get(session, task),
            )
            session.commit()
            w.ids = {"case": case, "task": task, "pd_case": pd.json["id"], "tw_case": tw.json["id"]}
            w.ids |= {"note": note.id, "household": household, "person": person}
            yield w
        finally:
            app.config.update(limits)
            clean_up(app)
            db.session.remove()


def _send(world: World, probe: Probe, identity: str, *, fresh: bool = False):
    if not probe.web:
        kwargs: dict[str, Any] = {}
        if probe.json is not None:
            body = dict(probe.json)
            if probe.endpoint == "auth.create_token":
                body["username"] = WHO[identity] or "nobody-here"
            kwargs["json"] = body
        return world.api(identity, probe.method, probe.path, fresh=fresh, **kwargs)
    browser = world.web(identity, fresh=fresh)
    if probe.method == "GET":
        return browser.get(world.url(probe.path))
    return browser.post(world.url(probe.path), probe.form or {})


def _describe(response) -> str:
    where = response.headers.get("Location", "")
    return f"{response.status_code}{' → ' + where if where else ''}"


@pytest.mark.parametrize("probe", PROBES, ids=str)
def test_matrix(world, probe):
    wrong = []
    for identity in WHO:
        response = _send(world, probe, identity, fresh=probe.fresh)
        body = response.get_data(as_text=True)
        response.close()
        if identity == "anonymous":
            if probe.anonymous is not None:
                ok = response.status_code == probe.anonymous
            elif probe.web:
                ok = response.status_code == 302 and response.headers["Location"].startswith("/login")
            else:
                ok = response.status_code == 401
        else:
            ok = response.status_code == probe.expect[identity]
        if not ok:
            wrong.append(f"{identity} ({WHO[identity]}): {_describe(response)} {body[:200]!r}")
        if identity not in CASE_SCOPE:  # whatever the status: a list, a page, an error message
            leaked = [s for s in SECRETS if s in body]
            if leaked:
                wrong.append(f"{identity}: a {response.status_code} answer shows {leaked}")
        if (
            probe.undo
            and identity != "anonymous"
            and response.status_code == probe.expect[identity] in (200, 201, 302)
        ):
            method, path = probe.undo.split(" ", 1)
            path = path.replace("{created}", str(response.json["id"])) if "{created}" in path else path
            kwargs = {"json": probe.undo_json} if probe.undo_json is not None else {}
            assert world.api(identity, method, path, **kwargs).status_code == 200
    assert not wrong, f"{probe}:\n" + "\n".join(wrong)


def test_every_route_is_in_the_matrix(app):
    covered = {(p.endpoint, p.method) for p in PROBES}
    missing = [
        f"{sorted(rule.methods - {'HEAD', 'OPTIONS'})} {rule.rule} ({rule.endpoint})"
        for rule in app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
        if (rule.endpoint, method) not in covered
    ]
    assert not missing, "routes without a row in PROBES:\n" + "\n".join(missing)


def test_every_openapi_operation_is_in_the_matrix(world):
    document = world.api("anonymous", "GET", "/api/openapi.json").json
    covered = {(p.method, _template(p.path)) for p in PROBES if not p.web}
    missing = [
        f"{method.upper()} {path}"
        for path, operations in document["paths"].items()
        for method in operations
        if method in ("get", "post", "put", "patch", "delete")
        and (method.upper(), _template(path)) not in covered
    ]
    assert not missing, missing


def _template(path: str) -> str:
    """``/api/v1/tasks/{task_id}/claim`` and ``/api/v1/tasks/{task}/claim`` alike: placeholders erased."""
    path = re.sub(r"(?<=/)[a-z_]+\.(?:xlsx|pdf)$", "{}.{}", path)  # a report file: ``{kind}.{fmt}``
    return re.sub(
        r"\{[^}]+\}|(?<=/)(?:999999999|comprehensive_assistance|ca_approval_authority|demo_review|no_such_user|1999|2027|acceptance_notice|NOPE)(?=/|$)",
        "{}",
        path,
    )


# --- leaks through lists, filters, counts, exports -----------------------------------------------------------

OUTSIDE = [k for k in STAFF if k not in CASE_SCOPE]


def _items(response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.json
    return response.json["items"]


@pytest.mark.parametrize("identity", OUTSIDE)
def test_outside_the_case_scope_lists_and_filters_show_nothing_of_it(world, identity):
    case, task = world.ids["case"], world.ids["task"]
    lists: list[str] = [
        f"{API}/tasks?scope={scope}{extra}"
        for scope in ("all", "claimable", "mine")
        for extra in ("", f"&org_unit={STREET}", "&process_key=comprehensive_assistance", "&state=ready")
    ]
    lists += [
        f"{API}/process-instances{extra}"
        for extra in ("", f"?org_unit={STREET}", "?org_unit=310107", "?process_key=comprehensive_assistance")
    ]
    for url in lists:
        response = world.api(identity, "GET", url)
        items = _items(response)
        if "/tasks" in url:
            assert task not in [i["id"] for i in items] and case not in [i["instance_id"] for i in items], url
        else:
            assert case not in [i["id"] for i in items], url
        assert not any(s in response.get_data(as_text=True) for s in SECRETS), url
        if "org_unit=310107" in url:
            assert response.json["meta"]["total"] == 0, (url, response.json["meta"])
    browser = world.web(identity)
    for url in ("/", "/?tab=claimable", "/?tab=overdue", f"/?tab=claimable&unit={STREET}", "/notifications"):
        page = browser.get(url).get_data(as_text=True)
        assert f"task-{task}" not in page and not any(s in page for s in SECRETS), url


def test_the_other_district_sees_nothing_of_the_putuo_case_in_dashboard_exports(world):
    from api.web.views import COLUMNS

    pudong, putuo = world.web("district_officer/other"), world.web("district_officer/own")
    for name in COLUMNS:
        theirs = pudong.get(f"/dashboard/{name}.csv")
        assert theirs.status_code == 200, name
        text = theirs.get_data(as_text=True)
        assert "普陀" not in text and "长风新村" not in text and BUSINESS_KEY not in text, (name, text[:500])
        assert putuo.get(f"/dashboard/{name}.csv").status_code == 200
    assert "普陀" not in pudong.get("/dashboard").get_data(as_text=True)


def test_inside_the_scope_the_case_is_listed(world):
    """The leak tests above would pass on empty lists: the same queries find the case for its street."""
    items = _items(world.api("street_officer/own", "GET", f"{API}/tasks?scope=claimable&org_unit={STREET}"))
    assert world.ids["task"] in [i["id"] for i in items]
    items = _items(world.api("advisor/own", "GET", f"{API}/process-instances?org_unit={STREET}"))
    assert world.ids["case"] in [i["id"] for i in items]
    page = world.web("street_officer/own").get("/?tab=claimable").get_data(as_text=True)
    assert f"task-{world.ids['task']}" in page


# --- personal data: masked in every default answer; full numbers only through the audited reveal ----------

# In the case's scope but without a role that verifies identity (engine.privacy.ID_NUMBER_ROLES).
MASKED = ["advisor/own", "city_officer/city", "review_panel/own", "finance/own"]
UNMASKED = sorted(ID_READERS)


@pytest.mark.parametrize("identity", MASKED + UNMASKED)
def test_default_answers_mask_id_numbers_and_only_identity_roles_may_reveal(world, identity):
    from engine.privacy import mask_id_number

    case, task = world.ids["case"], world.ids["task"]
    reads = [f"{API}/process-instances/{case}", f"{API}/process-instances/{case}/events"]
    if identity in TASK_SEERS:
        reads.append(f"{API}/tasks/{task}")
    for url in reads:
        response = world.api(identity, "GET", url)
        assert response.status_code == 200, url
        body = response.get_data(as_text=True)
        assert APPLICANT not in body and mask_id_number(APPLICANT) in body, url
    page = world.web(identity).get(f"/cases/{case}").get_data(as_text=True)
    assert APPLICANT not in page and mask_id_number(APPLICANT) in page
    assert ('data-testid="reveal"' in page) == (identity in UNMASKED)
    revealed = world.api(identity, "GET", f"{API}/process-instances/{case}/personal-data")
    if identity in UNMASKED:
        assert revealed.status_code == 200 and revealed.json["fields"]["applicant_id_number"] == APPLICANT
    else:
        assert revealed.status_code == 403 and APPLICANT not in revealed.get_data(as_text=True)
