"""The case record in a real browser: find a case by name on 案件 and open it, read a finished step,
send a case back for correction, and see the new-task notice arrive (bell count up, the notice opens the
task). Same browser and live server as ``test_browser.py``; screenshots under ``test-artifacts/``."""

from __future__ import annotations

import re

from api.extensions import db
from engine.users import service as users
from tests.procedures.cases import supply_materials
from tests.procedures.helpers import INVESTIGATION, Case, assess, register, review, start
from tests.web.browser import Staff

APPLICATION = {
    "household_size": 2,
    "hardship_category": "dibao_edge",
    "aid_types": ["money"],
    "amount_requested": "2000.00",
    "reason": "临时生活困难",
    "credit_commitment_signed": True,
}
RAW = re.compile(r"\bNone\b|\{\"|\b[a-z]+_[a-z_]+\b")


def _main_text(staff: Staff) -> str:
    return staff.page.locator("main").inner_text()


def _unread(staff: Staff) -> int:
    badge = staff.page.get_by_test_id("unread")
    return int(badge.inner_text()) if badge.count() else 0


def test_find_a_case_by_name_and_read_a_finished_step(browser, live_server, client, login, june):
    household = register(client, login)
    case = start(client, login, household, business_key="WEB-REC-0001")
    task = next(
        t
        for t in client.get(f"/api/v1/process-instances/{case['id']}", headers=login("pt_advisor")).json[
            "open_tasks"
        ]
    )
    supply_materials(client, login("pt_advisor"), task["id"])
    done = client.post(
        f"/api/v1/tasks/{task['id']}/complete", json={"data": APPLICATION}, headers=login("pt_advisor")
    )
    assert done.status_code == 200, done.json
    advisor_name = users.by_username(db.session, "pt_advisor").display_name

    officer = Staff(browser, live_server, "pt_officer").login()
    page = officer.page
    page.get_by_role("link", name="案件", exact=True).click()
    page.get_by_label("姓名").fill("测试居民甲")
    page.get_by_role("button", name="查找").click()
    row = page.locator("tr", has_text="WEB-REC-0001")
    row.wait_for()
    assert "测试居民甲" in row.inner_text()
    officer.shot("20-cases-found-by-name")
    row.get_by_role("link").first.click()
    page.wait_for_url(f"**/cases/{case['id']}*")
    header = page.get_by_test_id("case-header")
    assert "测试居民甲" in header.inner_text() and "示例路 8 弄 8 号" in header.inner_text()
    officer.shot("21-case-opened")

    # the finished application, read-only: who, when, labelled values
    page.get_by_test_id("step-records").get_by_role("link", name=task["name"]).click()
    record = page.get_by_test_id("step-record")
    record.wait_for()
    text = record.inner_text()
    assert advisor_name in text and "办结时间" in text
    assert re.search(r"20\d\d年\d{1,2}月\d{1,2}日 \d\d:\d\d", text)  # when, as a local date and time
    assert "家庭人口" in text and "2,000.00" in text and "临时生活困难" in text
    assert "提交" not in [b.inner_text() for b in page.locator("main button").all()]  # read-only
    shown = _main_text(officer).replace(advisor_name, "")  # test users' display names are their logins
    assert not RAW.search(shown), RAW.search(shown)
    officer.shot("22-finished-step")
    officer.close()


def test_send_back_for_correction_and_the_new_task_notice(browser, live_server, client, login, june):
    case = Case(client, login)
    case.do("acceptance", "pt_officer", {"accepted": True})
    case.do("home_investigation", "pt_advisor", INVESTIGATION)
    case.do("assessment", "pt_officer", assess())
    case.do("democratic_review", "pt_panel", review())
    approval = case.task("street_approval")["id"]

    advisor = Staff(browser, live_server, "pt_advisor").login()
    before = _unread(advisor)

    head = Staff(browser, live_server, "pt_head").login()
    page = head.page
    head.goto(f"/tasks/{approval}")
    assert "办理人：待认领" in _main_text(head)  # an unclaimed step says so, not "—"
    # a money field's label says its unit once
    assert all(label.count("元") <= 1 for label in page.locator("main label").all_inner_texts())
    form = page.get_by_test_id("send-back")
    form.get_by_label("退回至环节").select_option(label="上门调查核实")
    form.get_by_label("退回原因").fill("调查记录缺少家庭收入核实情况")
    head.shot("23-send-back-form")
    form.get_by_role("button", name="退回补正").click()
    page.wait_for_url(f"**/cases/{case.id}")
    assert page.get_by_text("已退回补正至「上门调查核实」").count() == 1
    head.shot("24-sent-back-case")
    head.close()
    assert case.open() == ["home_investigation"]

    # the advisor, who did the step, is told: the bell counts one more, the notice opens the task
    advisor.goto("/")
    assert _unread(advisor) == before + 1
    advisor.shot("25-bell-count")
    advisor.page.locator("a.bell").click()
    notice = advisor.page.locator("li.unread").first
    assert "上门调查核实" in notice.inner_text()
    advisor.shot("26-new-task-notice")
    notice.get_by_role("button", name="办理").click()
    advisor.page.get_by_role("heading", level=1, name=re.compile("上门调查核实")).wait_for()
    assert "被退回补正" in _main_text(advisor)
    assert advisor.page.get_by_label("调查日期").input_value() == INVESTIGATION["visit_date"]
    assert advisor.page.get_by_label("核实情况").input_value() == INVESTIGATION["findings"]
    advisor.shot("27-reopened-prefilled")
    advisor.close()
