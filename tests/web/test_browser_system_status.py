"""The 系统状态 page in a real browser (issue 20): an admin reads it in staff words — Chinese headings,
the scheduler's state and job in words, the incident with its case link and buttons, no raw keys —
and a screenshot is kept (test-artifacts/screenshots/system_status.png)."""

from __future__ import annotations

from sqlalchemy.orm import sessionmaker

from engine.system.heartbeat import Heartbeat
from tests.operations.helpers import failing_case
from tests.web.browser import Staff


def test_an_admin_reads_the_system_status_page(browser, live_server, session, engine):  # noqa: F811
    instance, incident = failing_case(session)
    beat = Heartbeat()
    beat.job_done("audit_seal")
    beat.beat(sessionmaker(bind=engine, expire_on_commit=False))
    admin = Staff(browser, live_server, "admin").login()
    admin.goto("/admin/processes")
    admin.page.get_by_role("link", name="系统状态").click()
    page = admin.page
    page.get_by_role("heading", name="系统状态", exact=True).wait_for()
    for heading in (
        "就绪检查",
        "调度进程",
        "未处理的事件（失败的自动步骤）",
        "邮件发送队列",
        "审计日志封存",
        "节假日日历",
        "版本",
    ):
        assert page.get_by_role("heading", name=heading, exact=True).is_visible(), heading
    row = page.get_by_test_id("scheduler").first
    assert "运行中" in row.inner_text() and "封存审计记录" in row.inner_text()
    incident_row = page.get_by_test_id("incident").first
    assert f"#{instance.id}" in incident_row.inner_text()
    assert incident_row.get_by_role("button", name="修复后重试").is_visible()
    assert incident_row.get_by_role("button", name="跳过该步骤").is_visible()
    admin.shot("system_status")
    text = page.inner_text("main") if page.locator("main").count() else page.inner_text("body")
    for raw in ("audit_seal", "None", "null", "origin_", "system_", "job_", "True", "False"):
        assert raw not in text, raw
    incident_row.get_by_label("跳过理由").fill("通知脚本无需补做")
    incident_row.get_by_role("button", name="跳过该步骤").click()
    page.get_by_text("已跳过该步骤，流程继续").wait_for()
    assert not admin.errors, admin.errors
    admin.context.close()
