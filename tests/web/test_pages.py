"""Every page of the staff web app and its permissions, through Flask's test client."""

from __future__ import annotations

import csv
import io
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError

import api.web.inbox as inbox_page
from api.extensions import db
from engine.audit.models import AuditEvent
from engine.instances.models import ProcessInstance
from engine.notifications import service as notifications
from engine.notifications.models import NotificationKind
from engine.tasks.models import HumanTask, TaskStatus
from engine.users import service as users
from tests import factories
from tests.procedures.helpers import APPLICANT
from tests.web.helpers import MASKED, ca_form, text


def field_block(html: str, name: str) -> str:
    """The HTML of one form field's block (label, input, help and its errors)."""
    start = html.index(f'data-field="{name}"')
    end = html.find("data-field=", start + 1)
    return html[start : end if end != -1 else len(html)]


def open_task_id(instance_id: int, bpmn_id: str) -> int:
    return db.session.scalar(
        select(HumanTask.id).where(
            HumanTask.instance_id == instance_id,
            HumanTask.bpmn_id == bpmn_id,
            HumanTask.state.in_([TaskStatus.READY, TaskStatus.CLAIMED]),
        )
    )


# --- login, logout, CSRF, language ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/?tab=claimable",
        "/start",
        "/start/comprehensive_assistance",
        "/tasks/1",
        "/cases/1",
        "/cases/1/diagram.bpmn",
        "/dashboard",
        "/dashboard/by_district.csv",
        "/notifications",
    ],
)
def test_anonymous_users_are_sent_to_the_login_page(web, url):
    response = web().get(url)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_login_page_and_wrong_password(web):
    browser = web()
    page = browser.get("/login")
    assert page.status_code == 200 and "用户名" in text(page) and 'for="password"' in text(page)
    response = browser.post("/login", {"username": "pt_advisor", "password": "wrong-password"})
    assert response.status_code == 401
    assert "用户名或密码错误" in text(response)


def test_login_sets_a_safe_session_cookie_and_logout_ends_it(web):
    browser = web()
    browser.get("/login")
    response = browser.post("/login?next=/start", {"username": "pt_advisor", "password": "test-password-1"})
    assert response.status_code == 302 and response.headers["Location"] == "/start"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    browser.get("/")
    assert browser.post("/logout").status_code == 302
    assert browser.get("/").status_code == 302


def test_login_never_redirects_off_site(web):
    browser = web()
    browser.get("/login")
    response = browser.post(
        "/login?next=//evil.example/x", {"username": "pt_advisor", "password": "test-password-1"}
    )
    assert response.headers["Location"] == "/"


def test_posts_without_a_csrf_token_are_refused(web):
    browser = web("pt_officer")
    response = browser.client.post("/logout")
    assert response.status_code == 400
    assert "页面已过期" in text(response)
    anonymous = web()
    assert (
        anonymous.client.post("/login", data={"username": "pt_advisor", "password": "x"}).status_code == 400
    )


def test_the_rest_api_needs_no_csrf_token(client, login):
    response = client.post(
        "/api/v1/process-instances",
        json={"process_key": "demo_assistance", "org_unit": factories.STREET},
        headers=login("pt_advisor"),
    )
    assert response.status_code == 201


def test_english_switch(web):
    browser = web("pt_officer")
    assert "待办任务" in text(browser.get("/"))
    browser.get("/lang/en?next=/")
    page = text(browser.get("/"))
    assert "Task inbox" in page and "My tasks" in page and 'lang="en"' in page


# --- start, task form, validation, claim, complete -----------------------------------------------------------


def test_start_lists_only_procedures_whose_first_step_is_the_users(web):
    browser = web("pt_advisor")
    advisor = text(browser.get("/start"))
    assert "市民综合帮扶" in advisor and "/start/comprehensive_assistance" in advisor
    assert "第一步：帮扶申请登记" in advisor
    browser.get("/lang/en")
    english = text(browser.get("/start"))
    assert "Citizen comprehensive assistance" in english and "First step: Assistance application" in english
    assert "：" not in english.split("<main", 1)[1]  # no full-width colon in English
    browser.get("/lang/zh")
    assert "/start/ca_monthly_fund_report" not in advisor  # timer-started
    officer = web("pt_officer")
    assert "/start/comprehensive_assistance" not in text(officer.get("/start"))
    assert officer.get("/start/comprehensive_assistance").status_code == 404


def test_start_form_shows_errors_next_to_fields_and_keeps_nothing(web):
    browser = web("pt_advisor")
    page = text(browser.get("/start/comprehensive_assistance"))
    assert "申请人身份证号码" in page and "申请金额（元）" in page and "范围 1 – 20" in page
    response = browser.post(
        "/start/comprehensive_assistance",
        ca_form(household_size="25", amount_requested="12.345", credit_commitment_signed=None),
    )
    assert response.status_code == 422
    html = text(response)
    assert "表单有错误" in html
    assert "field-error" in field_block(html, "household_size") and "20" in field_block(
        html, "household_size"
    )
    assert "最多 2 位小数" in field_block(html, "amount_requested")
    assert "aria-invalid" in field_block(html, "credit_commitment_signed")
    assert 'value="5000.00"' not in field_block(html, "amount_requested")
    assert 'value="12.345"' in field_block(html, "amount_requested")  # what the user typed stays
    assert db.session.scalar(select(ProcessInstance.id)) is None  # the refused start left nothing


def test_start_then_officer_claims_and_completes_the_next_task(web):
    advisor = web("pt_advisor")
    instance_id = advisor.start_ca()
    case = text(advisor.get(f"/cases/{instance_id}"))
    assert "受理" in case and "帮扶申请登记" in case
    assert MASKED in case and APPLICANT not in case  # advisors see ID numbers masked

    officer = web("pt_officer")
    inbox = text(officer.get("/?tab=claimable"))
    task_id = open_task_id(instance_id, "acceptance")
    assert f'id="task-{task_id}"' in inbox
    # claim in place (htmx): the row comes back with an unclaim button
    row = officer.post(f"/tasks/{task_id}/claim", headers={"HX-Request": "true"})
    assert row.status_code == 200 and text(row).startswith(f'<tr id="task-{task_id}"')
    assert "放回待认领" in text(row) and "已认领" in text(row)
    assert f'id="task-{task_id}"' in text(officer.get("/?tab=mine"))

    page = text(officer.get(f"/tasks/{task_id}"))
    assert "予以受理" in page
    assert APPLICANT not in page  # masked for everyone by default (full numbers: the audited reveal)
    invalid = officer.post(f"/tasks/{task_id}/complete", {})
    assert invalid.status_code == 422 and "此项为必填项" in field_block(text(invalid), "accepted")
    done = officer.post(f"/tasks/{task_id}/complete", {"accepted": "true"})
    assert done.status_code == 302 and done.headers["Location"] == f"/cases/{instance_id}"
    assert db.session.get(HumanTask, task_id).state == TaskStatus.COMPLETED


def test_unclaim_without_htmx_goes_back(web):
    advisor = web("pt_advisor")
    instance_id = advisor.start_ca()
    officer = web("pt_officer")
    task_id = open_task_id(instance_id, "acceptance")
    officer.get("/?tab=claimable")
    assert officer.post(f"/tasks/{task_id}/claim", {"next": "/?tab=mine"}).headers["Location"] == "/?tab=mine"
    response = officer.post(f"/tasks/{task_id}/unclaim", {"next": "/?tab=claimable"})
    assert response.status_code == 302
    assert db.session.get(HumanTask, task_id).state == TaskStatus.READY


def test_claimed_by_someone_else_is_a_conflict_page(web):
    instance_id = web("pt_advisor").start_ca()
    task_id = open_task_id(instance_id, "acceptance")
    web("pt_officer").post(f"/tasks/{task_id}/claim")
    second = web("pt_officer2")
    response = second.post(f"/tasks/{task_id}/claim")
    assert response.status_code == 409 and "已被他人认领" in text(response)
    page = text(second.get(f"/tasks/{task_id}"))
    assert "此任务由他人办理" in page and f'action="/tasks/{task_id}/complete"' not in page


def test_save_draft_and_find_it_again(web):
    instance_id = web("pt_advisor").start_ca()
    task_id = open_task_id(instance_id, "acceptance")
    officer = web("pt_officer")
    officer.get(f"/tasks/{task_id}")
    response = officer.post(f"/tasks/{task_id}/draft", {"accepted": "false", "rejection_reason": "材料不全"})
    assert response.status_code == 302
    page = text(officer.get(f"/tasks/{task_id}"))
    assert "已载入您保存的草稿" in page and "材料不全" in page
    assert db.session.get(HumanTask, task_id).state == TaskStatus.READY  # a draft completes nothing
    # someone without the role may not leave drafts
    other = web("pt_advisor")
    other.get("/")
    assert other.post(f"/tasks/{task_id}/draft", {"accepted": "true"}).status_code == 403


def test_supervisor_reassigns_and_others_may_not(web):
    instance_id = web("pt_advisor").start_ca()
    task_id = open_task_id(instance_id, "acceptance")
    head = web("pt_head")
    page = text(head.get(f"/tasks/{task_id}"))
    assert "改派（主管）" in page and 'value="pt_officer2"' in page
    assert head.post(f"/tasks/{task_id}/assign", {"username": "pt_officer2"}).status_code == 302
    row = db.session.get(HumanTask, task_id)
    assert row.assignee_id == users.by_username(db.session, "pt_officer2").id
    head.get(f"/tasks/{task_id}")
    refused = head.post(f"/tasks/{task_id}/assign", {"username": "pt_advisor"})
    assert refused.status_code == 302
    assert "该用户没有该任务所需的角色" in text(head.get(f"/tasks/{task_id}"))
    officer = web("pt_officer")
    assert "改派（主管）" not in text(officer.get(f"/tasks/{task_id}"))
    assert officer.post(f"/tasks/{task_id}/assign", {"username": "pt_officer"}).status_code == 403


# --- scope: another street sees nothing ----------------------------------------------------------------------


def test_another_street_sees_nothing_of_the_case(web):
    instance_id = web("pt_advisor").start_ca(business_key="WEB-SCOPE-1")
    task_id = open_task_id(instance_id, "acceptance")
    other = web("pt_other_street_officer")
    for tab in ("mine", "claimable", "overdue"):
        page = text(other.get(f"/?tab={tab}"))
        assert "WEB-SCOPE-1" not in page and f"task-{task_id}" not in page and "没有任务" in page
    assert other.get(f"/tasks/{task_id}").status_code == 403
    assert other.get(f"/cases/{instance_id}").status_code == 403
    assert other.get(f"/cases/{instance_id}/diagram.bpmn").status_code == 403
    assert other.post(f"/tasks/{task_id}/claim").status_code == 403
    pudong = web("pd_officer")
    assert "WEB-SCOPE-1" not in text(pudong.get("/?tab=claimable"))
    assert pudong.get("/tasks/999999").status_code == 404


# --- case page -------------------------------------------------------------------------------------------------


def test_case_page_has_the_diagram_timeline_and_data(web):
    advisor = web("pt_advisor")
    instance_id = advisor.start_ca(business_key="WEB-CASE-1")
    page = text(advisor.get(f"/cases/{instance_id}"))
    data = re.search(r'<script type="application/json" id="diagram-data">(.*?)</script>', page, re.S).group(1)
    assert '"completed": ["application"]' in data and '"current": ["acceptance"]' in data
    assert "/vendor/bpmn-viewer.js" in page and "新建案件" in page and "提交：" in page
    assert "申请金额（元）" in page and "5,000.00 元" in page
    xml = advisor.get(f"/cases/{instance_id}/diagram.bpmn")
    assert xml.status_code == 200 and xml.mimetype == "application/xml"
    assert b"bpmndi:BPMNDiagram" in xml.data and b'id="acceptance"' in xml.data
    district_officer = web("pt_district")
    district = text(district_officer.get(f"/cases/{instance_id}"))
    assert APPLICANT not in district and MASKED in district and 'data-testid="reveal"' in district
    assert 'data-testid="reveal"' not in page  # advisors do not verify identity
    assert advisor.post(f"/cases/{instance_id}/personal-data", {}).status_code == 403
    revealed = district_officer.post(
        f"/cases/{instance_id}/personal-data", {}, headers={"HX-Request": "true"}
    )
    assert revealed.status_code == 200 and APPLICANT in text(revealed)
    reads = db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.instance_id == instance_id, AuditEvent.action == "personal_data.read"
        )
    ).all()
    assert [(e.details["channel"], e.details["fields"]) for e in reads] == [("web", ["applicant_id_number"])]
    assert "查看完整证件号" in text(district_officer.get(f"/cases/{instance_id}"))  # in the timeline


def test_vendor_files_come_from_node_modules(web):
    browser = web()
    for name in ("bpmn-viewer.js", "htmx.js", "chart.js", "bpmn-js.css", "diagram-js.css"):
        response = browser.get(f"/vendor/{name}")
        response.close()  # a file response: close it as a server would
        assert response.status_code == 200, name
    assert browser.get("/vendor/../package.json").status_code == 404
    assert browser.get("/vendor/nothing.js").status_code == 404


# --- inbox at scale: pagination, filters, constant queries ------------------------------------------------------


def _statements(app, fn):
    count = [0]

    def before(*_args):
        count[0] += 1

    engine = db.engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        fn()
    finally:
        event.remove(engine, "before_cursor_execute", before)
    return count[0]


def test_inbox_paginates_filters_and_runs_a_fixed_number_of_queries(app, web):
    for _ in range(3):
        factories.start_demo(db.session)
    db.session.commit()
    officer = web("pt_advisor")  # the demo's first step is the advisor's
    few = _statements(app, lambda: officer.get("/?tab=claimable"))
    for _ in range(27):
        factories.start_demo(db.session)
    db.session.commit()
    many = _statements(app, lambda: officer.get("/?tab=claimable"))
    assert many == few  # no query per row
    first = text(officer.get("/?tab=claimable"))
    assert first.count('<tr id="task-') == 25 and "第 1 / 2 页，共 30 条" in first
    second = text(officer.get("/?tab=claimable&page=2"))
    assert second.count('<tr id="task-') == 5
    assert text(officer.get("/?tab=claimable&process=comprehensive_assistance")).count('<tr id="task-') == 0
    assert text(officer.get("/?tab=claimable&sla=green&unit=310107014")).count('<tr id="task-') == 25
    assert text(officer.get("/?tab=overdue")).count('<tr id="task-') == 0
    assert officer.get("/?tab=claimable&page=abc&unit=nowhere&sla=purple").status_code == 200


# --- dashboards -----------------------------------------------------------------------------------------------


def test_dashboard_permissions_and_exports(web):
    web("pt_advisor").start_ca()
    assert web("pt_advisor").get("/dashboard").status_code == 403
    assert web("pt_officer").get("/dashboard/by_step.csv").status_code == 403
    district = web("pt_district")
    page = text(district.get("/dashboard"))
    assert "各区在办与逾期" in page and "普陀区" in page and "受理" in page
    assert "桥计划指标" in page and "牵手计划指标" in page and "暂无数据" in page
    assert "/vendor/chart.js" in page and 'id="chart-by_district"' in page
    exported = district.get("/dashboard/by_step.csv")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(text(exported).lstrip("\ufeff"))))
    assert rows[0] == ["流程", "环节", "在办", "逾期"] and ["市民综合帮扶", "受理", "1", "0"] in rows
    district.get("/lang/en")
    rows = list(csv.reader(io.StringIO(text(district.get("/dashboard/by_step.csv")).lstrip("\ufeff"))))
    assert ["Citizen comprehensive assistance", "Acceptance", "1", "0"] in rows
    assert "Acceptance" in text(district.get("/dashboard"))
    district.get("/lang/zh")
    book = load_workbook(io.BytesIO(district.get("/dashboard/by_district.xlsx").data))
    assert list(book.active.values)[1][:2] == ("普陀区", 1)
    assert district.get("/dashboard/nothing.csv").status_code == 404
    assert district.get("/dashboard/by_step.pdf").status_code == 404
    pudong = text(web("pd_district").get("/dashboard"))
    assert "受理" not in pudong  # another district's work is not counted


# --- notifications --------------------------------------------------------------------------------------------


def test_notification_bell_and_marking_read(web):
    officer = users.by_username(db.session, "pt_officer")
    notifications.notify(db.session, [officer], NotificationKind.DEADLINE_CHANGED, "期限调整", "正文内容")
    db.session.commit()
    browser = web("pt_officer")
    page = text(browser.get("/"))
    assert 'data-testid="unread">1<' in page and "通知：1 条未读" in page
    listing = text(browser.get("/notifications"))
    assert "期限调整" in listing and "正文内容" in listing
    note_id = int(re.search(r"/notifications/(\d+)/read", listing).group(1))
    assert browser.post(f"/notifications/{note_id}/read").status_code == 302
    assert 'data-testid="unread"' not in text(browser.get("/"))
    other = web("pt_officer2")
    other.get("/")
    assert other.post(f"/notifications/{note_id}/read").status_code == 404
    assert other.post("/notifications/read-all").status_code == 302


def test_a_new_task_notice_names_its_step_in_the_page_language(web):
    web("pt_advisor").start_ca()
    officer = web("pt_officer")
    listing = text(officer.get("/notifications"))
    assert "「受理」已进入您所在岗位的待认领。" in listing
    officer.get("/lang/en")
    listing = text(officer.get("/notifications"))
    assert "&#34;Acceptance&#34; is now to be claimed by your role." in listing
    assert "受理" not in listing.split("<main", 1)[1]


def test_task_page_in_english(web):
    instance_id = web("pt_advisor").start_ca()
    task_id = open_task_id(instance_id, "acceptance")
    officer = web("pt_officer")
    officer.get("/lang/en")
    page = text(officer.get(f"/tasks/{task_id}"))
    assert "Accepted" in page and ">Submit<" in page and "Save draft" in page and "Case summary" in page
    invalid = officer.post(f"/tasks/{task_id}/complete", {})
    assert "This field is required" in field_block(text(invalid), "accepted")
    assert "此项为必填项" not in text(invalid)


def test_an_unclaimed_step_names_its_role_in_the_page_language(web):
    instance_id = web("pt_advisor").start_ca()
    officer = web("pt_officer")

    def holder() -> str:
        page = text(officer.get(f"/cases/{instance_id}"))
        return re.search(r'data-testid="header-holder">(.*?)</dd>', page, re.S).group(1)

    assert holder() == "待认领（街镇救助专员）"
    officer.get("/lang/en")
    assert holder() == "To be claimed (Street assistance officer)"


def test_steps_and_procedures_are_named_in_the_page_language(web):
    """The BPMN names steps in Chinese; an English page names a step by its form's English title and the
    procedure by the English half of its pool's name, and lists with ", "."""
    instance_id = web("pt_advisor").start_ca()
    task_id = open_task_id(instance_id, "acceptance")
    officer = web("pt_officer")

    def pages() -> dict[str, str]:
        return {
            "inbox": text(officer.get("/?tab=claimable")),
            "task": text(officer.get(f"/tasks/{task_id}")),
            "case": text(officer.get(f"/cases/{instance_id}")),
            "cases": text(officer.get("/cases")),
        }

    def header_step(page: str) -> str:
        return re.search(r'data-testid="header-step">(.*?)</dd>', page, re.S).group(1)

    zh = pages()
    assert f'href="/tasks/{task_id}">受理</a>' in zh["inbox"] and "市民综合帮扶" in zh["inbox"]
    assert "<h1>受理 <small" in zh["task"] and header_step(zh["case"]) == "受理"
    assert "<td>受理</td>" in zh["cases"] and "<td>市民综合帮扶</td>" in zh["cases"]
    officer.get("/lang/en")
    en = pages()
    assert f'href="/tasks/{task_id}">Acceptance</a>' in en["inbox"]
    assert "Citizen comprehensive assistance" in en["inbox"] and "市民综合帮扶" not in en["inbox"]
    assert "<h1>Acceptance <small" in en["task"] and "Citizen comprehensive assistance" in en["task"]
    assert header_step(en["case"]) == "Acceptance"
    assert "<td>Acceptance</td>" in en["cases"] and "<td>Citizen comprehensive assistance</td>" in en["cases"]
    for page in en.values():
        assert ">受理<" not in page


def test_a_case_of_a_version_without_an_english_name_takes_the_latest_versions(web):
    from engine.definitions import service as definitions
    from tests.procedures.helpers import CA_XML, ca_variant

    english = "市民综合帮扶 Citizen comprehensive assistance"
    assert english in CA_XML
    definitions.deploy(db.session(), CA_XML.replace(english, "市民综合帮扶"), source="test")
    db.session.commit()
    advisor = web("pt_advisor")
    instance_id = advisor.start_ca(business_key="WEB-EN-1")
    advisor.get("/lang/en")

    def shown() -> str:
        page = text(advisor.get(f"/cases/{instance_id}"))
        return re.search(r"<h1>Case WEB-EN-1 <small[^>]*>(.*?)</small>", page, re.S).group(1)

    assert shown() == "市民综合帮扶"  # no version of the procedure has an English name yet
    definitions.deploy(db.session(), ca_variant(rename="受理（新版）"), source="test")
    db.session.commit()
    assert db.session.get(ProcessInstance, instance_id).definition.version == 2
    assert shown() == "Citizen comprehensive assistance"


def test_claim_from_the_task_page(web):
    instance_id = web("pt_advisor").start_ca()
    task_id = open_task_id(instance_id, "acceptance")
    officer = web("pt_officer")
    page = text(officer.get(f"/tasks/{task_id}"))
    assert f'action="/tasks/{task_id}/claim"' in page
    response = officer.post(f"/tasks/{task_id}/claim", {"next": f"/tasks/{task_id}"})
    assert response.headers["Location"] == f"/tasks/{task_id}"
    assert f'action="/tasks/{task_id}/unclaim"' in text(officer.get(f"/tasks/{task_id}"))


# --- instance operations (admins, district heads) ----------------------------------------------------------


def test_case_operations_panel_and_actions(web):
    advisor = web("pt_advisor")
    instance_id = advisor.start_ca(business_key="WEB-OPS-1")
    assert 'data-testid="case-ops"' not in text(advisor.get(f"/cases/{instance_id}"))
    assert advisor.post(f"/cases/{instance_id}/operations/suspend", {"reason": "x"}).status_code == 403
    head = web("pt_district")
    page = text(head.get(f"/cases/{instance_id}"))
    assert 'data-testid="case-ops"' in page and 'data-testid="op-suspend"' in page
    refused = head.post(f"/cases/{instance_id}/operations/suspend", {"reason": " "})
    assert refused.status_code == 302
    assert "请填写操作原因" in text(head.get(f"/cases/{instance_id}"))
    assert db.session.get(ProcessInstance, instance_id).status.value == "running"
    assert head.post(f"/cases/{instance_id}/operations/suspend", {"reason": "核查"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(ProcessInstance, instance_id).status.value == "suspended"
    page = text(head.get(f"/cases/{instance_id}"))
    assert 'data-testid="op-resume"' in page and "挂起案件" in page
    inbox = text(web("pt_officer").get("/?tab=claimable"))
    assert 'data-testid="suspended"' in inbox and "已挂起" in inbox
    head.post(f"/cases/{instance_id}/operations/resume", {"reason": "好了"})
    head.post(f"/cases/{instance_id}/operations/data", {"set": '{"household_size": 5}', "reason": "更正"})
    db.session.expire_all()
    assert db.session.get(ProcessInstance, instance_id).data["household_size"] == 5
    head.post(f"/cases/{instance_id}/operations/data", {"set": "{not json", "reason": "更正"})
    assert "JSON" in text(head.get(f"/cases/{instance_id}"))
    head.post(f"/cases/{instance_id}/operations/terminate", {"reason": "撤回"})
    db.session.expire_all()
    assert db.session.get(ProcessInstance, instance_id).status.value == "terminated"
    assert 'data-testid="op-terminate"' not in text(head.get(f"/cases/{instance_id}"))


def test_batch_migration_page(web):
    from engine.definitions import service as definitions
    from tests.procedures.helpers import ca_variant

    advisor = web("pt_advisor")
    moving = advisor.start_ca(business_key="WEB-MIG-1")
    v1 = db.session.get(ProcessInstance, moving).definition.version
    target, _ = definitions.deploy(db.session(), ca_variant(rename="受理（新版）"), source="test")
    db.session.commit()
    assert advisor.get("/admin/instances/migrate").status_code == 403
    admin = web("admin")
    url = f"/admin/instances/migrate?key=comprehensive_assistance&from={v1}&to={target.version}"
    page = text(admin.get(url))
    assert (
        f'data-instance="{moving}"' in page and "可以迁移" in page and 'data-testid="migrate-confirm"' in page
    )
    done = admin.post(
        "/admin/instances/migrate",
        {"key": "comprehensive_assistance", "from": str(v1), "to": str(target.version), "reason": "新版"},
    )
    assert done.status_code == 200 and "已迁移" in text(done)
    db.session.expire_all()
    assert db.session.get(ProcessInstance, moving).definition_id == target.id
    case = text(admin.get(f"/cases/{moving}"))
    assert "受理（新版）" in case and "迁移版本" in case


def test_a_page_whose_database_connection_dropped_says_so_in_staff_words(web, monkeypatch):
    """A lost connection on a staff page: the error page with Retry-After, not the API's JSON; the page
    does not read the database again to show who is logged in."""
    officer = web("pt_officer")

    def dropped(_user):
        raise OperationalError("SELECT 1", {}, ConnectionResetError("server closed the connection"))

    monkeypatch.setattr(inbox_page, "_unit_options", dropped)
    page = officer.get("/")
    assert page.status_code == 503 and page.headers["Retry-After"] == "1"
    assert page.mimetype == "text/html"
    assert '<p class="error" role="alert">数据库暂时不可用，请稍后重试</p>' in text(page)
    monkeypatch.undo()
    assert officer.get("/").status_code == 200  # the next page reads normally
