"""Materials on the staff pages: the checklist with its drop zone, uploads through the page's route,
the case page's previews and audited downloads, refusals shown beside the checklist."""

from __future__ import annotations

from sqlalchemy import func, select

from api.extensions import db
from engine.attachments.models import Attachment
from engine.audit.models import AuditEvent
from engine.tasks import service as tasks
from tests import attachment_files as files
from tests.web.helpers import ca_form


def _text(response):
    return response.get_data(as_text=True)


def test_start_opens_the_application_with_its_checklist_then_materials_unblock_it(web):
    advisor = web("pt_advisor")
    response = advisor.post("/start/comprehensive_assistance", ca_form())
    assert response.status_code == 302 and "/tasks/" in response.headers["Location"]
    task_id = int(response.headers["Location"].rsplit("/", 1)[1])
    page = _text(advisor.get(f"/tasks/{task_id}"))
    assert 'data-testid="materials"' in page and "帮扶申请书" in page and "签署的信用承诺书" in page
    assert 'accept="image/*" capture="environment"' in page
    assert 'value="5000.00"' in page  # the start form kept as the draft
    refused = advisor.post(f"/tasks/{task_id}/complete", ca_form())
    assert refused.status_code == 422
    for label in ("帮扶申请书", "身份证件及户口簿", "收入或刚性支出证明", "签署的信用承诺书"):
        assert f"缺少必需材料：{label}" in _text(refused)
    bad = advisor.upload(task_id, "application_form", files.HTML, "a.pdf")
    assert bad.status_code == 422 and "不接受网页或 SVG 文件" in _text(bad)
    no_token = advisor.client.post(f"/tasks/{task_id}/attachments?field=application_form", data=b"x")
    assert no_token.status_code == 400
    ok = advisor.upload(task_id, "application_form", files.jpeg(gps=True), "申请书.jpg")
    assert ok.status_code == 201 and "申请书.jpg" in _text(ok) and "✔" in _text(ok)
    advisor.supply(task_id)
    done = advisor.post(f"/tasks/{task_id}/complete", ca_form())
    assert done.status_code == 302, _text(done)[:2000]
    instance_id = int(done.headers["Location"].rsplit("/", 1)[1])
    case = _text(advisor.get(f"/cases/{instance_id}"))
    assert 'data-testid="case-materials"' in case and "申请书.jpg" in case
    assert 'data-testid="material-preview"' in case
    assert "含身份证件，仅核实身份的岗位可查看" in case  # the advisor does not open ID documents
    photo = db.session.scalar(select(Attachment).where(Attachment.filename == "申请书.jpg"))
    assert photo.location_removed
    thumb = advisor.get(f"/attachments/{photo.id}/thumb")
    assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
    full = advisor.get(f"/attachments/{photo.id}/file?inline=1")
    assert full.status_code == 200 and full.headers["Content-Disposition"].startswith("inline;")
    assert (
        db.session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "attachment.downloaded")
        )
        == 1
    )
    other = web("pt_other_advisor")
    assert other.get(f"/attachments/{photo.id}/file").status_code == 403
    officer_case = _text(web("pt_officer").get(f"/cases/{instance_id}"))
    assert "含身份证件，仅核实身份的岗位可查看" not in officer_case
    record = tasks.get(db.session(), task_id)
    assert record.state.value == "completed"


def test_refused_start_form_still_leaves_nothing(web):
    from engine.instances.models import ProcessInstance

    advisor = web("pt_advisor")
    response = advisor.post("/start/comprehensive_assistance", ca_form(household_size="25"))
    assert response.status_code == 422
    assert db.session.scalar(select(ProcessInstance.id)) is None
