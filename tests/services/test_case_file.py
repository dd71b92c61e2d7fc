"""The case file (一户一档) of a closed case as PDF: summary, every step's record labelled, the materials
list with hashes and the audit trail; refused while the case runs; stored and reprinted identically."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine import formstore
from engine.attachments import storage as storage_mod
from engine.attachments.models import Attachment
from engine.crypto import mask_id_number
from engine.documents import service as documents
from engine.errors import Conflict, Forbidden
from engine.instances import service as instances
from tests.conftest import get_user
from tests.documents_pdf import pdf_text
from tests.factories import STREET, complete
from tests.procedures.helpers import APPLICANT, application

CA = "comprehensive_assistance"
RAW = ("None", "True", "False", "{", "accepted", "rejection_reason", "task.completed", "individual")


@pytest.fixture
def store(tmp_path, app_ctx):
    before = storage_mod.current()
    storage_mod.configure(storage_mod.LocalStorage(tmp_path / "files"))
    yield
    storage_mod.configure(before)


def test_case_file_of_a_closed_case(session, store):
    advisor, officer = get_user(session, "pt_advisor"), get_user(session, "pt_officer")
    instance = instances.start(session, advisor, CA, STREET, business_key="CA-2026-T-0101")
    complete(session, "pt_advisor", instance.id, "application", application())
    assert "case_file" not in [k.name for k in documents.available(session, instance)]
    with pytest.raises(Conflict, match="尚未办结"):
        documents.print_document(session, officer, instance.id, "case_file")
    complete(
        session,
        "pt_officer",
        instance.id,
        "acceptance",
        {"accepted": False, "rejection_reason": "不属于帮扶范围"},
    )
    session.refresh(instance)
    assert documents.casefile.closed(instance)
    assert "case_file" in [k.name for k in documents.available(session, instance)]
    materials = list(session.scalars(select(Attachment).where(Attachment.instance_id == instance.id)))
    assert materials  # the application's required documents
    row, pdf, created = documents.print_document(session, advisor, instance.id, "case_file")
    assert created and row.task_id is None and row.field == "document:case_file"
    text = "".join(pdf_text(pdf).split())
    assert "一户一档" in text and "CA-2026-T-0101" in text and "不予受理" in text
    assert (
        "一、案件概况" in text
        and "二、办理记录" in text
        and "三、材料清单" in text
        and "四、操作记录" in text
    )
    assert "不属于帮扶范围" in text and "5,000.00元" in text
    for m in materials:  # the full hash, in four groups of 16
        assert all(m.sha256[i : i + 16] in text for i in range(0, 64, 16))
    # each material by what it is (the form's label), its file's name under it
    labels = {
        f["name"]: f["label"]["zh"]
        for f in formstore.get("ca_application").raw["fields"]
        if f.get("type") == "file"
    }
    for m in materials:
        assert labels[m.field] in text and "".join(m.filename.split()) in text
    assert "新建案件" in text and "提交" in text and "上传材料" in text
    assert mask_id_number(APPLICANT) in text and APPLICANT not in text
    assert not [w for w in RAW if w in text]
    again_row, again, created2 = documents.print_document(session, officer, instance.id, "case_file")
    assert not created2 and again == pdf and again_row.id == row.id
    with pytest.raises(Forbidden):
        documents.print_document(session, get_user(session, "pt_other_advisor"), instance.id, "case_file")
