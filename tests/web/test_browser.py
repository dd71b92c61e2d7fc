"""The staff web app in a real browser: Playwright driving Debian's headless chromium against a live server.

Where chromium (or the Playwright package) is missing these tests skip with a message; CI sets
``ASSISTFLOW_REQUIRE_BROWSER=1``, which turns that skip into a failure. Screenshots of each page are
saved under ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import pytest

from api.demo_materials import sample_pdf
from tests import attachment_files as files
from tests.procedures.helpers import APPLICANT
from tests.web.browser import Staff, _require_or_skip, wait_until


def test_a_missing_browser_skips_here_and_fails_where_required(monkeypatch):
    monkeypatch.delenv("ASSISTFLOW_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception, match="chromium not found"):
        _require_or_skip("chromium not found at /nowhere")
    monkeypatch.setenv("ASSISTFLOW_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="required"):
        _require_or_skip("chromium not found at /nowhere")
    _require_or_skip(None)


def _fill_application(page, household_size: str) -> None:
    page.get_by_label("申请渠道").select_option("street_office")
    page.get_by_label("申请人身份证号码").fill(APPLICANT)
    page.get_by_label("家庭人口").fill(household_size)
    page.get_by_label("帮扶形式").select_option("individual")
    page.get_by_role("group", name="帮扶方式").get_by_label("资金").check()
    page.get_by_label("困难类别").select_option("other")
    page.get_by_role("group", name="经政策救助后仍有困难").get_by_label("是").check()
    page.get_by_label("申请金额（元）").fill("5000.00")
    page.get_by_label("申请理由").fill("家庭成员突发重病，医疗支出较大")
    page.get_by_label("申请人已签署诚信承诺书").check()
    page.get_by_role("group", name="先帮扶、事后补办手续（急难情形）").get_by_label("否").check()


def test_application_to_acceptance_in_the_browser(browser, live_server):
    # The advisor starts an application, sees a validation error next to the field, fixes it, submits.
    advisor = Staff(browser, live_server, "pt_advisor")
    advisor.goto("/login")
    advisor.shot("01-login")
    advisor.login()
    page = advisor.page
    page.get_by_role("link", name="新建申请").click()
    page.get_by_role("link", name="市民综合帮扶").click()
    page.get_by_label("业务编号（可选）").fill("WEB-E2E-0001")
    _fill_application(page, household_size="25")
    page.get_by_role("button", name="提交并发起").click()
    error = page.locator('[data-field="household_size"] .field-error')
    error.wait_for()
    assert "20" in error.inner_text()
    assert page.get_by_label("家庭人口").get_attribute("aria-invalid") == "true"
    advisor.shot("02-start-validation-error")
    page.get_by_label("家庭人口").fill("3")
    page.get_by_role("button", name="提交并发起").click()
    # The application takes documents: its page opens with the materials checklist. A photo of the
    # signed application goes through the file chooser, the other materials as scans; each ticks off.
    page.wait_for_url("**/tasks/*")
    checklist = page.get_by_test_id("materials")
    assert "帮扶申请书" in checklist.inner_text() and "✗" in checklist.inner_text()
    with page.expect_file_chooser() as chosen:
        page.get_by_test_id("file-application_form").click()
    chosen.value.set_files({"name": "申请书.jpg", "mimeType": "image/jpeg", "buffer": files.jpeg(gps=True)})
    page.locator('[data-material="application_form"].done').wait_for()
    for field in ("identity_documents", "hardship_proof", "credit_commitment_scan"):
        page.get_by_test_id(f"file-{field}").set_input_files(
            {"name": f"{field}.pdf", "mimeType": "application/pdf", "buffer": sample_pdf(field)}
        )
        page.locator(f'[data-material="{field}"].done').wait_for()
    assert "申请书.jpg" in page.get_by_test_id("materials").inner_text()
    advisor.shot("02b-materials-uploaded")
    page.get_by_role("button", name="提交", exact=True).click()
    page.wait_for_url("**/cases/*")
    case_url = page.url
    # the photo's preview on the case page (a thumbnail the browser actually decoded)
    preview = page.get_by_test_id("material-preview").first
    preview.wait_for()
    assert preview.evaluate("img => img.complete && img.naturalWidth > 0")
    page.locator('#diagram[data-diagram-ready="1"]').wait_for()
    assert APPLICANT not in page.content()  # the advisor sees the ID number masked
    advisor.shot("03-case-after-application")
    advisor.close()

    # The street officer claims the acceptance in place and completes it.
    officer = Staff(browser, live_server, "pt_officer").login()
    page = officer.page
    page.get_by_role("link", name="待认领").click()
    row = page.locator("tr", has_text="WEB-E2E-0001")
    row.get_by_role("button", name="认领").focus()
    page.keyboard.press("Enter")  # claim with the keyboard
    row.get_by_role("button", name="放回待认领").wait_for()  # redrawn in place by htmx
    officer.shot("04-inbox-claimed")
    task_path = row.get_by_role("link", name="办理").get_attribute("href")

    # On a 768 px tablet (home visits) nothing breaks out of the page.
    tablet = Staff(browser, live_server, "pt_officer", width=768, height=1024).login()
    for path, name in (("/?tab=mine", "05-tablet-inbox"), (task_path, "06-tablet-task")):
        tablet.goto(path)
        assert tablet.fits_width(), path
        tablet.shot(name)
    tablet.close()

    page.get_by_role("link", name="我的任务").click()
    page.locator("tr", has_text="WEB-E2E-0001").get_by_role("link", name="办理").click()
    page.get_by_role("heading", level=1, name="受理").wait_for()
    assert APPLICANT not in page.content()  # masked by default, for street officers too
    officer.shot("07-task-acceptance")
    page.get_by_role("group", name="予以受理").get_by_label("是").check()
    page.get_by_role("button", name="提交", exact=True).click()
    page.wait_for_url(case_url)

    # The case page draws the instance's diagram with done steps and the current task marked.
    page.locator('#diagram[data-diagram-ready="1"]').wait_for()
    current = page.locator('#diagram .djs-element.af-current[data-element-id="home_investigation"]')
    assert current.count() == 1
    for done in ("application", "acceptance"):
        assert page.locator(f'#diagram .djs-element.af-completed[data-element-id="{done}"]').count() == 1
    assert page.locator("#diagram svg").count() >= 1
    officer.shot("08-case-diagram")
    # Street officers verify identity: the full number on request, in place (an audited read).
    page.get_by_role("button", name="显示完整证件号").click()
    page.get_by_test_id("personal-data").wait_for()
    assert APPLICANT in page.get_by_test_id("personal-data").inner_text()
    officer.close()

    # Another street's officer sees nothing of it.
    other = Staff(browser, live_server, "pt_other_street_officer").login()
    for tab in ("mine", "claimable", "overdue"):
        other.goto(f"/?tab={tab}")
        assert "WEB-E2E-0001" not in other.page.content()
        assert other.page.get_by_text("没有任务").count() == 1
    other.shot("09-other-street-inbox")
    other.goto(case_url[len(live_server) :])
    assert other.page.get_by_text("403").count() >= 1
    other.close()

    # The district's dashboard draws its charts.
    district = Staff(browser, live_server, "pt_district").login()
    district.page.get_by_role("link", name="统计看板").click()
    district.page.locator("#chart-by_district").wait_for()
    # the canvas is in the page before Chart.js has loaded and drawn: wait for the charts themselves
    wait_until(district.page, "() => window.Chart && Object.keys(Chart.instances).length >= 2")
    assert district.page.evaluate("Object.keys(Chart.instances).length") >= 2
    district.shot("10-dashboard")
    district.goto("/notifications")
    district.shot("11-notifications")
    district.close()
