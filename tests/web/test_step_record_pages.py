"""The finished-task page, the case page's 办理记录 and the 退回补正 form, through Flask's test client."""

from __future__ import annotations

import re

from sqlalchemy import select

from api.extensions import db
from engine.tasks.models import HumanTask, TaskStatus
from tests.procedures.helpers import APPLICANT, INVESTIGATION, Case, Project, assess, review
from tests.web.helpers import MASKED, text


def _completed_id(instance_id: int, bpmn_id: str) -> int:
    return db.session.scalar(
        select(HumanTask.id)
        .where(
            HumanTask.instance_id == instance_id,
            HumanTask.bpmn_id == bpmn_id,
            HumanTask.state == TaskStatus.COMPLETED,
        )
        .order_by(HumanTask.id.desc())
        .limit(1)
    )


def test_a_finished_step_is_readable_by_everyone_who_sees_the_case(client, login, web, june):
    case = Case(client, login)
    case.do("acceptance", "pt_officer", {"accepted": True})
    case.do("home_investigation", "pt_advisor", INVESTIGATION)
    task_id = _completed_id(case.id, "home_investigation")
    # the street officer does not hold the advisor's role, and sees the case: the record, read-only
    page = web("pt_officer").get(f"/tasks/{task_id}")
    assert page.status_code == 200
    html = text(page)
    assert "上门调查核实" in html and "办理记录" in html
    for label, value in (
        ("调查日期", "2026年6月8日"),
        ("核实情况", INVESTIGATION["findings"]),
        ("家庭情况属实", "是"),
    ):
        assert f"<dt>{label}</dt><dd>{value}</dd>" in html
    assert "上门调查核实（初始版本）" in html  # the form and its version
    assert 'name="visit_date"' not in html and f"/tasks/{task_id}/complete" not in html  # read-only
    for raw in ("None", "visit_date", "household_verified", "{&#34;", '{"'):
        assert raw not in html.split("<main", 1)[-1], raw
    # the application's record masks the ID number
    application = text(web("pt_officer").get(f"/tasks/{_completed_id(case.id, 'application')}"))
    assert MASKED in application and APPLICANT not in application
    # another street sees neither the case nor the record
    assert web("pt_other_street_officer").get(f"/tasks/{task_id}").status_code == 403


def test_the_case_page_lists_every_step_and_a_loop_as_a_table(client, login, web, june):
    project = Project(client, login, households=1)
    household = project.confirm()[0]
    household.assess_and_plan()
    for n in range(1, 4):
        household.record("visit", content=f"第{n}次入户走访")
    html = text(web("pt_agency_lead").get(f"/cases/{household.id}"))
    records = html.split('data-testid="step-records"', 1)[1].split('<div class="two-col">', 1)[0]
    assert html.count('data-testid="step-records"') == 1
    steps = [chunk.split('"', 1)[0] for chunk in records.split('data-step="')[1:]]
    assert steps == ["needs_assessment", "household_plan", "case_work"]
    assert "<dt>前测得分</dt><dd>40</dd>" in records
    loop = html.split('data-step="case_work"', 1)[1]
    assert "共 3 次" in loop
    for n in range(1, 4):
        assert f"第{n}次入户走访" in loop and f"第 {n} 次" in loop
    assert "入户走访" in loop and ">visit<" not in loop  # the choice's label, not its value


def test_the_steps_done_are_paged_on_the_case_and_task_pages(client, login, web, june):
    project = Project(client, login, households=1)
    household = project.confirm()[0]
    household.assess_and_plan()
    for n in range(1, 23):  # 2 + 22 steps done: two pages of 20
        household.record("visit", content=f"第{n}次入户走访")
    browser = web("pt_agency_lead")

    def steps_done(html: str) -> list[str]:
        block = html.split('data-testid="history">', 1)[1].split("</ol>", 1)[0]
        return re.findall(r"<li><strong>([^<]+)</strong>", block)

    first = text(browser.get(f"/cases/{household.id}"))
    assert len(steps_done(first)) == 20 and 'data-testid="history-pager"' in first
    assert "第 1 / 2 页，共 24 条" in first
    assert f'href="/cases/{household.id}?hpage=2#history-h"' in first
    second = text(browser.get(f"/cases/{household.id}?hpage=2"))
    # the latest first: the second page ends with the first two steps
    assert (
        steps_done(second)[-2:] == ["制定一户一策帮扶计划", "五维需求评估（前测）"]
        and len(steps_done(second)) == 4
    )
    assert "第 2 / 2 页，共 24 条" in second and "五维需求评估（前测）" not in steps_done(first)
    beyond = text(browser.get(f"/cases/{household.id}?hpage=9"))
    assert steps_done(beyond) == steps_done(second)  # a page past the end shows the last
    # the open task's page has the same side panel, paged the same way
    task_id = household.task("case_work")["id"]
    on_task = text(web("pt_agency_worker").get(f"/tasks/{task_id}?hpage=2"))
    assert steps_done(on_task) == steps_done(second)
    assert f'href="/tasks/{task_id}?hpage=1#history-h"' in on_task


def test_send_back_from_the_task_page(client, login, web, june):
    case = Case(client, login)
    case.do("acceptance", "pt_officer", {"accepted": True})
    case.do("home_investigation", "pt_advisor", INVESTIGATION)
    case.do("assessment", "pt_officer", assess())
    case.do("democratic_review", "pt_panel", review())
    approval = case.task("street_approval")["id"]
    head = web("pt_head")
    page = text(head.get(f"/tasks/{approval}"))
    assert "退回补正" in page and 'name="reason"' in page and "上门调查核实" in page
    head.get("/lang/en")  # the steps it may go back to, in English
    english = text(head.get(f"/tasks/{approval}"))
    assert '<option value="home_investigation">Home investigation</option>' in english
    head.get("/lang/zh")
    # not offered to someone who may not work on the step
    assert 'data-testid="send-back"' not in text(web("pt_officer").get(f"/tasks/{approval}"))
    # no reason: refused, nothing moved
    refused = head.post(f"/tasks/{approval}/send-back", {"target": "home_investigation", "reason": ""})
    assert refused.status_code == 302 and case.open() == ["street_approval"]
    done = head.post(
        f"/tasks/{approval}/send-back", {"target": "home_investigation", "reason": "调查记录不完整"}
    )
    assert done.status_code == 302 and f"/cases/{case.id}" in done.headers["Location"]
    assert case.open() == ["home_investigation"]
    # the advisor finds the reopened step pre-filled with what they entered before
    advisor = web("pt_advisor")
    reopened = text(advisor.get(f"/tasks/{case.task('home_investigation')['id']}"))
    assert "被退回补正" in reopened
    assert 'value="2026-06-08"' in reopened and INVESTIGATION["findings"] in reopened
    timeline = text(head.get(f"/cases/{case.id}"))
    assert "退回补正" in timeline


def test_unclaim_is_called_put_back(client, login, web, june):
    case = Case(client, login)
    officer = web("pt_officer")
    task_id = case.task("acceptance")["id"]
    officer.post(f"/tasks/{task_id}/claim")
    page = text(officer.get(f"/tasks/{task_id}"))
    assert "放回待认领" in page and ">退回<" not in page
