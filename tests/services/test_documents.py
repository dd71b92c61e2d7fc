"""Documents from templates: the acceptance and refusal notices of comprehensive assistance, read back
with pdftotext; the page furniture on every page; an identical reprint; scope and refusals."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from engine.attachments import storage as storage_mod
from engine.attachments.models import Attachment
from engine.audit.models import AuditEvent
from engine.crypto import mask_id_number
from engine.documents import render
from engine.documents import service as documents
from engine.errors import Conflict, Forbidden, NotFound
from engine.instances import service as instances
from tests.conftest import get_user
from tests.documents_pdf import page_count, pdf_text
from tests.factories import STREET, complete, start_demo
from tests.procedures.helpers import APPLICANT, application

CA = "comprehensive_assistance"
RAW = ("None", "True", "False", "{", "accepted", "rejection_reason", "street_office", "individual")


@pytest.fixture
def store(tmp_path, app_ctx):
    before = storage_mod.current()
    storage_mod.configure(storage_mod.LocalStorage(tmp_path / "files"))
    yield
    storage_mod.configure(before)


def _ca(session, acceptance: dict | None = None):
    instance = instances.start(
        session, get_user(session, "pt_advisor"), CA, STREET, business_key="CA-2026-T-0001"
    )
    complete(session, "pt_advisor", instance.id, "application", application())
    if acceptance is not None:
        complete(session, "pt_officer", instance.id, "acceptance", acceptance)
    return instance


def _events(session, instance_id, action):
    stmt = select(AuditEvent).where(AuditEvent.instance_id == instance_id, AuditEvent.action == action)
    return list(session.scalars(stmt.order_by(AuditEvent.id)))


def _flat(text: str) -> str:
    return "".join(text.split())


def test_acceptance_notice_text_and_identical_reprint(session, store):
    instance = _ca(session, {"accepted": True})
    officer = get_user(session, "pt_officer")
    assert [k.name for k in documents.available(session, instance)] == ["acceptance_notice"]
    row, pdf, created = documents.print_document(session, officer, instance.id, "acceptance_notice")
    assert created and pdf.startswith(b"%PDF") and row.sha256 == hashlib.sha256(pdf).hexdigest()
    text = _flat(pdf_text(pdf))
    assert "受理通知书" in text and "予以受理" in text
    assert "CA-2026-T-0001" in text
    assert mask_id_number(APPLICANT) in text and APPLICANT not in text  # masked, never the full number
    assert "5,000.00元" in text and "个案帮扶" in text and "资金" in text
    assert f"经办人：{officer.display_name}" in text and "待补登" not in text
    assert "年" in text and "月" in text and "日" in text
    assert not [w for w in RAW if w in text]
    # a reprint is the stored file: the same bytes, the same hash; audited as a download
    row2, pdf2, created2 = documents.print_document(session, officer, instance.id, "acceptance_notice")
    assert not created2 and row2.id == row.id and pdf2 == pdf
    generated = _events(session, instance.id, "document.generated")
    assert len(generated) == 1 and generated[0].details["sha256"] == row.sha256
    printed = _events(session, instance.id, "attachment.downloaded")
    assert [e.details["channel"] for e in printed] == ["print"]
    # stored as an attachment of the acceptance step
    acceptance_task = session.get(Attachment, row.id).task_id
    assert acceptance_task == documents.records.latest(session, instance.id, "acceptance").task_id
    # the hash under the QR code is the content's, as the audit event records it
    content = generated[0].details["content_sha256"]
    decision = documents.records.latest(session, instance.id, "acceptance")
    kind = documents.KINDS["acceptance_notice"]
    filled = render.fill(kind.template, documents.values_of(session, instance, kind, decision))
    assert hashlib.sha256(filled.encode()).hexdigest() == content
    assert content[:16] in text


def test_refusal_notice_names_the_reason_and_acceptance_notice_is_refused(session, store):
    instance = _ca(session, {"accepted": False, "rejection_reason": "申请人户籍不在本市，不属于帮扶范围"})
    officer = get_user(session, "pt_officer")
    with pytest.raises(Conflict, match="尚未决定予以受理"):
        documents.print_document(session, officer, instance.id, "acceptance_notice")
    _row, pdf, _ = documents.print_document(session, officer, instance.id, "refusal_notice")
    text = _flat(pdf_text(pdf))
    assert "不予受理告知书" in text and "不予受理的理由" in text
    assert "申请人户籍不在本市，不属于帮扶范围" in text
    assert mask_id_number(APPLICANT) in text and "CA-2026-T-0001" in text
    assert not [w for w in RAW if w in text]


def test_not_yet_unknown_other_procedure_and_scope(session, store):
    instance = _ca(session)  # waiting for acceptance: nothing to print
    officer = get_user(session, "pt_officer")
    assert documents.available(session, instance) == []
    with pytest.raises(Conflict):
        documents.print_document(session, officer, instance.id, "refusal_notice")
    with pytest.raises(NotFound, match="没有这种文书"):
        documents.print_document(session, officer, instance.id, "no_such_kind")
    demo = start_demo(session)
    with pytest.raises(NotFound, match="此类案件没有"):
        documents.print_document(session, officer, demo.id, "acceptance_notice")
    complete(session, "pt_officer", instance.id, "acceptance", {"accepted": True})
    with pytest.raises(Forbidden):
        documents.print_document(
            session, get_user(session, "pt_other_advisor"), instance.id, "acceptance_notice"
        )
    with pytest.raises((NotFound, Forbidden)):
        documents.print_document(session, get_user(session, "pd_officer"), instance.id, "acceptance_notice")
    with pytest.raises(NotFound):
        documents.print_document(session, officer, 10**8, "acceptance_notice")
    assert session.scalar(select(Attachment).where(Attachment.field.like("document:%"))) is None


def test_every_page_has_case_number_page_number_and_hash():
    values = {
        "title": "不予受理告知书",
        "applicant": "申请人",
        "id_number": "999999********0011",
        "applied_on": "2026-06-01",
        "case_number": "CA-2026-T-0009",
        "org": "测试街道",
        "reason": "理由较长。" * 900,  # several pages
        "officer": "经办人甲",
        "decided_on": "2026-06-08",
    }
    done = render.render("refusal_notice.html", values, case_number="CA-2026-T-0009", title="不予受理告知书")
    pages = page_count(done.pdf)
    assert pages >= 2
    for n in range(1, pages + 1):
        text = _flat(pdf_text(done.pdf, n))
        assert "案件编号：CA-2026-T-0009" in text
        assert f"第{n}页共{pages}页" in text
        assert f"SHA-256{done.content_sha256[:16]}" in text


def test_formats():
    assert render.money("6000.5") == "6,000.50 元" and render.money(None) == "—"
    assert render.cn_date("2026-06-08") == "2026年6月8日" and render.cn_date(None) == "—"
    assert render.text(None) == "—" and render.text(True) == "是" and render.text({"a": 1}) == "—"


def _ca_to_approval(session, decision: dict):
    from tests.procedures.helpers import INVESTIGATION, assess, review

    instance = _ca(session, {"accepted": True})
    complete(session, "pt_advisor", instance.id, "home_investigation", INVESTIGATION)
    complete(session, "pt_officer", instance.id, "assessment", assess())
    complete(session, "pt_panel", instance.id, "democratic_review", review())
    complete(session, "pt_head", instance.id, "street_approval", decision)
    return instance


def test_approval_form_with_every_step_and_signature_lines(session, store):
    from tests.procedures.helpers import approve

    instance = _ca_to_approval(session, approve("3000.00"))
    head = get_user(session, "pt_head")
    assert [k.name for k in documents.available(session, instance)] == ["acceptance_notice", "approval_form"]
    with pytest.raises(Conflict, match="没有不予批准的决定"):
        documents.print_document(session, head, instance.id, "non_approval_notice")
    _row, pdf, _ = documents.print_document(session, head, instance.id, "approval_form")
    text = _flat(pdf_text(pdf))
    assert "市民综合帮扶审批表" in text and "CA-2026-T-0001" in text and mask_id_number(APPLICANT) in text
    assert "入户核实，家庭情况属实" in text and "家庭情况属实：是" in text and "2026年6月8日" in text
    assert "符合帮扶条件" in text and "拟帮扶金额：3,000.00元" in text
    assert "到会7人，同意6票、不同意1票、弃权0票" in text and "2026年11月19日" in text
    assert "批准金额：3,000.00元" in text and "街镇审批意见" in text
    assert text.count("签字：") == 3 and "（盖章）" in text and "负责人" in text
    assert not [w for w in (*RAW, "approve", "reject", "for", "against") if w in text]


def test_non_approval_notice(session, store):
    instance = _ca_to_approval(
        session,
        {
            "approval_decision": "reject",
            "approval_opinion": "不同意",
            "rejection_reason": "家庭收入超过帮扶标准",
        },
    )
    head = get_user(session, "pt_head")
    assert [k.name for k in documents.available(session, instance)] == [
        "acceptance_notice",
        "non_approval_notice",
        "approval_form",
        "case_file",  # the case ended with the refusal
    ]
    _row, pdf, _ = documents.print_document(session, head, instance.id, "non_approval_notice")
    text = _flat(pdf_text(pdf))
    assert "不予批准告知书" in text and "不予批准的理由" in text and "家庭收入超过帮扶标准" in text
    assert mask_id_number(APPLICANT) in text and "不予受理" not in text
    assert not [w for w in RAW if w in text]
