"""Admin pages for the document templates: the list, the editor, a save making a new audited version,
a broken template refused beside the editor with nothing stored, and no way in for other roles."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from api.extensions import db
from engine.documents import render
from engine.models import AuditEvent, DocumentTemplateVersion


def _versions() -> int:
    return db.session().scalar(select(func.count()).select_from(DocumentTemplateVersion)) or 0


def test_admin_edits_a_template_and_saves_a_version(web):
    admin = web("admin")
    listed = admin.get("/admin/templates")
    html = listed.get_data(as_text=True)
    assert listed.status_code == 200 and "一户一策帮扶计划" in html and "牵手计划四方协议" in html
    assert 'data-kind="case_file"' in html and "acceptance_notice.html" not in html
    page = admin.get("/admin/templates/household_plan")
    source = page.get_data(as_text=True)
    assert page.status_code == 200 and "帮扶目标" in source and "模板文件" in source
    text = render.file_source("household_plan.html")
    saved = admin.post("/admin/templates/household_plan", {"source": text.replace("帮扶目标", "帮扶总目标")})
    assert saved.status_code == 302 and _versions() == 1
    again = admin.get("/admin/templates/household_plan").get_data(as_text=True)
    assert "帮扶总目标" in again and 'data-version="1"' in again and "数据库第 1 版" in again
    event = db.session().scalar(select(AuditEvent).where(AuditEvent.action == "document.template_saved"))
    assert event is not None and event.details["kind"] == "household_plan"
    broken = admin.post("/admin/templates/household_plan", {"source": "{{ goals "})
    assert broken.status_code == 422 and "模板语法错误" in broken.get_data(as_text=True)
    assert _versions() == 1
    assert admin.get("/admin/templates/no_such_kind").status_code == 404


@pytest.mark.parametrize("username", ["pt_officer", "pt_district", "city"])
def test_only_admins_edit_templates(web, username):
    browser = web(username)
    assert browser.get("/admin/templates").status_code == 403
    assert browser.get("/admin/templates/acceptance_notice").status_code == 403
    assert browser.post("/admin/templates/acceptance_notice", {"source": "x"}).status_code == 403
    assert _versions() == 0
