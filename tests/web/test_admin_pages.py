"""Admin pages: process list and versions, XML download, upload with lint, form editor with preview."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from api.extensions import db
from engine import formstore
from engine.models import AuditEvent, FormVersion, ProcessDefinition
from tests.factories import start_demo

ROOT = Path(__file__).resolve().parents[2]
LINT = ROOT / "tests" / "fixtures" / "bpmn" / "lint"


def text(response) -> str:
    return response.get_data(as_text=True)


def _counts() -> tuple[int, int, int]:
    s = db.session()
    return (
        s.scalar(select(func.count()).select_from(ProcessDefinition)),
        s.scalar(select(func.count()).select_from(AuditEvent)),
        s.scalar(select(func.count()).select_from(FormVersion)),
    )


ADMIN_PAGES = [
    "/admin/processes",
    "/admin/processes/demo_assistance",
    "/admin/processes/demo_assistance/1/xml",
    "/admin/forms",
    "/admin/forms/demo_review",
]


@pytest.mark.parametrize("username", ["pt_advisor", "pt_officer", "pt_head", "pt_district", "city"])
def test_only_admins_reach_the_admin_pages(web, username):
    browser = web(username)
    assert "/admin/processes" not in text(browser.get("/"))  # no nav entry
    for url in ADMIN_PAGES:
        assert browser.get(url).status_code == 403, url
    before = _counts()
    upload = browser.post(
        "/admin/processes/upload",
        {"file": (io.BytesIO((LINT / "clean.bpmn").read_bytes()), "clean.bpmn")},
        content_type="multipart/form-data",
    )
    assert upload.status_code == 403
    assert browser.post("/admin/forms/demo_review", {"definition": "{}"}).status_code == 403
    assert browser.post("/admin/forms/demo_review/preview", {"definition": "{}"}).status_code == 403
    assert _counts() == before


def test_anonymous_is_sent_to_login(web):
    response = web().get("/admin/processes")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_process_list_and_versions_with_running_counts(web):
    admin = web("admin")
    start_demo(db.session())
    db.session.commit()
    home = text(admin.get("/"))
    assert 'href="/admin/processes"' in home
    listing = admin.get("/admin/processes")
    assert listing.status_code == 200
    page = text(listing)
    row = page[page.index('data-key="demo_assistance"') :]
    row = row[: row.index("</tr>")]
    assert "帮扶演示流程" in row and "<td data-running>1</td>" in row
    detail = text(admin.get("/admin/processes/demo_assistance"))
    assert 'data-version="1"' in detail and "<td data-running>1</td>" in detail
    assert 'href="/admin/processes/demo_assistance/1/xml"' in detail
    assert 'href="/admin/processes/demo_assistance/1/modeler"' in detail
    xml = admin.get("/admin/processes/demo_assistance/1/xml")
    assert xml.status_code == 200 and xml.mimetype == "application/xml"
    assert xml.headers["Content-Disposition"] == 'attachment; filename="demo_assistance-v1.bpmn"'
    assert b"demo_assistance" in xml.data
    assert admin.get("/admin/processes/demo_assistance/9/xml").status_code == 404
    assert admin.get("/admin/processes/nope").status_code == 404


def test_upload_refused_shows_each_problem_and_stores_nothing(web):
    admin = web("admin")
    admin.get("/admin/processes")
    before = _counts()
    refused = admin.post(
        "/admin/processes/upload",
        {"file": (io.BytesIO((LINT / "bad_sla_properties.bpmn").read_bytes()), "bad.bpmn")},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 422
    page = text(refused)
    assert page.count('<li data-element="confirm">') == 3 and "第 6 行" in page
    xxe = admin.post(
        "/admin/processes/upload",
        {"file": (io.BytesIO((ROOT / "tests/fixtures/bpmn/xxe.bpmn").read_bytes()), "xxe.bpmn")},
        content_type="multipart/form-data",
    )
    assert xxe.status_code == 422 and "DOCTYPE" in text(xxe) and "root:" not in text(xxe)
    missing = admin.post("/admin/processes/upload", {}, content_type="multipart/form-data")
    assert missing.status_code == 422
    no_csrf = admin.client.post(
        "/admin/processes/upload",
        data={"file": (io.BytesIO((LINT / "clean.bpmn").read_bytes()), "clean.bpmn")},
        content_type="multipart/form-data",
    )
    assert no_csrf.status_code == 400
    assert _counts() == before


def _upload(admin, data: bytes, name: str):
    return admin.post(
        "/admin/processes/upload", {"file": (io.BytesIO(data), name)}, content_type="multipart/form-data"
    )


def _confirm(admin, preview_html: str, name: str):
    import html as html_lib
    import re

    xml = html_lib.unescape(re.search(r'<textarea name="xml" hidden>(.*?)</textarea>', preview_html, re.S)[1])
    return admin.post("/admin/processes/upload", {"confirm": "1", "xml": xml, "filename": name})


def test_upload_previews_then_deploys_a_clean_file(web):
    admin = web("admin")
    admin.get("/admin/processes")
    data = (LINT / "clean.bpmn").read_bytes()
    before = _counts()
    preview = _upload(admin, data, "clean.bpmn")
    assert preview.status_code == 200
    page = text(preview)
    assert 'data-testid="new-process"' in page and "lint_case" in page
    assert _counts() == before, "the preview stores nothing"
    deployed = _confirm(admin, page, "clean.bpmn")
    assert deployed.status_code == 302 and deployed.headers["Location"].endswith("/admin/processes/lint_case")
    page = text(admin.get("/admin/processes/lint_case"))
    assert "已部署 lint_case 第 1 版" in page and "upload:clean.bpmn" in page and "<td>admin</td>" in page
    again = _upload(admin, data, "clean.bpmn")
    assert 'data-testid="diff-empty"' in text(again)
    assert _confirm(admin, text(again), "clean.bpmn").status_code == 302
    assert "内容未变" in text(admin.get("/admin/processes/lint_case"))


def test_upload_shows_the_diff_against_the_latest_version_before_deploying(web):
    admin = web("admin")
    admin.get("/admin/processes")
    xml = (ROOT / "processes" / "demo_assistance.bpmn").read_text(encoding="utf-8")
    assert 'name="受理审核"' in xml
    edited = xml.replace('name="受理审核"', 'name="受理审核（复核）"', 1)
    before = _counts()
    preview = _upload(admin, edited.encode("utf-8"), "demo_v2.bpmn")
    page = text(preview)
    assert preview.status_code == 200 and 'data-testid="diff-changed"' in page
    assert "name: 受理审核 → 受理审核（复核）" in page and 'data-testid="diff-added"' not in page
    assert _counts() == before
    # a confirmation carrying XML that no longer validates is refused like an upload
    broken = admin.post(
        "/admin/processes/upload", {"confirm": "1", "xml": "<not-bpmn/>", "filename": "x.bpmn"}
    )
    assert broken.status_code == 422 and _counts() == before
    assert _confirm(admin, page, "demo_v2.bpmn").status_code == 302
    latest = db.session().scalar(
        select(func.max(ProcessDefinition.version)).where(ProcessDefinition.key == "demo_assistance")
    )
    versions = text(admin.get("/admin/processes/demo_assistance"))
    assert "与上一版对比" in versions
    diff = admin.get(f"/admin/processes/demo_assistance/diff?from={latest - 1}&to={latest}")
    assert diff.status_code == 200 and "name: 受理审核 → 受理审核（复核）" in text(diff)
    assert admin.get("/admin/processes/demo_assistance/diff?from=x").status_code == 422


def test_form_editor_preview_and_save(web):
    admin = web("admin")
    page = admin.get("/admin/forms/demo_review")
    assert page.status_code == 200
    html = text(page)
    assert 'hx-post="/admin/forms/demo_review/preview"' in html and 'data-field="decision"' in html
    raw = json.loads(json.dumps(dict(formstore.get("demo_review").raw)))
    raw["fields"][0]["label"] = {"zh": "审核结论（新）", "en": "Decision (new)"}
    preview = admin.post("/admin/forms/demo_review/preview", {"definition": json.dumps(raw)})
    assert (
        preview.status_code == 200
        and "审核结论（新）" in text(preview)
        and 'data-field="decision"' in text(preview)
    )
    broken = admin.post("/admin/forms/demo_review/preview", {"definition": '{"fields": ['})
    assert "不是有效的 JSON" in text(broken) and 'data-path="_form"' in text(broken)
    bad = dict(raw, fields=[dict(raw["fields"][0], type="colour")])
    refused_preview = admin.post("/admin/forms/demo_review/preview", {"definition": json.dumps(bad)})
    assert 'data-path="fields.decision"' in text(refused_preview)
    before = _counts()
    refused = admin.post("/admin/forms/demo_review", {"definition": json.dumps(bad)})
    assert refused.status_code == 422 and 'data-path="fields.decision"' in text(refused)
    assert "colour" in text(refused)  # the draft is kept in the editor
    assert _counts() == before
    saved = admin.post("/admin/forms/demo_review", {"definition": json.dumps(raw)})
    assert saved.status_code == 302
    after = text(admin.get("/admin/forms/demo_review"))
    assert (
        "已保存表单 demo_review 第 1 版" in after
        and 'data-version="1"' in after
        and "审核结论（新）" in after
    )
    listing = text(admin.get("/admin/forms"))
    assert "数据库第 1 版" in listing
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "form.version_saved"))
    assert event is not None and event.details["version"] == 1
    assert admin.get("/admin/forms/no_such_form").status_code == 404


def test_the_case_page_shows_admins_the_incidents_and_retries_them(web):
    """Issue 18 item 11: a failed automatic step is visible to admins on the case page, retryable there."""
    from engine.definitions import service as definitions
    from engine.instances import operations as ops
    from engine.instances import service as instances
    from engine.tasks import service as tasks
    from engine.users import service as users
    from tests import hostile_bpmn
    from tests.factories import STREET

    s = db.session()
    definitions.deploy(s, hostile_bpmn.gateway_without_default(), actor_id=None)
    instance = instances.start(
        s, users.by_username(s, "pt_officer"), "hostile_gateway", STREET, data={"x": 3}
    )
    s.commit()
    officer = web("pt_officer")
    task_id = next(r.id for r in tasks.open_tasks_of(s, instance.id))
    officer.get(f"/tasks/{task_id}")
    completed = officer.post(f"/tasks/{task_id}/complete", {})
    assert completed.status_code == 409 and "gw" in text(completed)  # told plainly, in Chinese first
    assert "事件" in text(completed)

    page = officer.get(f"/cases/{instance.id}")
    assert page.status_code == 200 and 'data-testid="case-incidents"' not in text(page)  # admins only
    admin = web("admin")
    page = admin.get(f"/cases/{instance.id}")
    assert 'data-testid="case-incidents"' in text(page) and "事件（失败的自动步骤）" in text(page)
    assert "自动步骤失败：登记事件" in text(page)  # the timeline names the event, no raw key
    incident_id = int(re.search(r"/incidents/(\d+)/retry", text(page)).group(1))

    again = admin.post(f"/cases/{instance.id}/incidents/{incident_id}/retry", {})
    assert again.status_code == 302
    assert "重试仍然失败" in text(admin.get(f"/cases/{instance.id}"))
    ops.edit_data(s, users.by_username(s, "admin"), instance.id, {"x": 1}, [], "改正数据")
    s.commit()
    done = admin.post(f"/cases/{instance.id}/incidents/{incident_id}/retry", {})
    assert done.status_code == 302
    page = admin.get(f"/cases/{instance.id}")
    assert 'data-testid="case-incidents"' not in text(page) and "之后" in text(page)


def test_upload_shows_lint_warnings_in_chinese_and_still_deploys(web):
    from tests import hostile_bpmn

    admin = web("admin")
    admin.get("/admin/processes")
    data = hostile_bpmn.timer_after_fill("timeCycle", "R/PT2H")
    preview = _upload(admin, data, "hourly.bpmn")
    assert preview.status_code == 200
    page = text(preview)
    warnings = page.split('data-testid="lint-warnings"', 1)[1].split("</div>", 1)[0]
    assert "校验提示（不影响部署" in warnings and '<li data-element="wait">' in warnings
    assert '<strong class="warning" data-severity="warning">警告</strong>' in warnings
    assert "循环计时器没有次数上限" in warnings and "第 7 行" in warnings
    assert "unbounded cycle" not in page, "the Chinese half only"
    assert _confirm(admin, page, "hourly.bpmn").status_code == 302
    # with an error too, the refusal lists the error, then the warning
    refused = _upload(admin, hostile_bpmn.timer_after_fill("timeCycle", "R/PT1S"), "often.bpmn")
    assert refused.status_code == 422
    page = text(refused)
    assert page.index('data-severity="error">错误</strong>') < page.index(
        'data-severity="warning">警告</strong>'
    )
    assert "无法使用的计时器" in page and "循环计时器没有次数上限" in page
