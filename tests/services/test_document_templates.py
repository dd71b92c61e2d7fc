"""Template versions of the documents: an admin saves a new text (checked in the sandbox against the
kind's sample, audited), new documents are filled from it and record the version, a stored document's
reprint stays identical; broken or unsafe texts are refused with a reason and nothing is stored."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine.attachments import storage as storage_mod
from engine.audit.models import AuditEvent
from engine.documents import render, samples
from engine.documents import service as documents
from engine.documents.models import DocumentTemplateVersion
from engine.errors import Invalid
from engine.instances import service as instances
from tests.conftest import get_user
from tests.documents_pdf import pdf_text
from tests.factories import STREET, complete
from tests.procedures.helpers import application

CA = "comprehensive_assistance"


@pytest.fixture
def store(tmp_path, app_ctx):
    before = storage_mod.current()
    storage_mod.configure(storage_mod.LocalStorage(tmp_path / "files"))
    yield
    storage_mod.configure(before)


def _accepted(session, key):
    instance = instances.start(session, get_user(session, "pt_advisor"), CA, STREET, business_key=key)
    complete(session, "pt_advisor", instance.id, "application", application())
    complete(session, "pt_officer", instance.id, "acceptance", {"accepted": True})
    return instance


def test_every_template_file_fills_with_its_sample():
    for kind in documents.KINDS.values():
        source = render.file_source(kind.template)
        assert render.problem(source, samples.sample(kind.name, kind.label())) is None, kind.name
    with pytest.raises(FileNotFoundError):
        render.file_source("../service.py")


def test_saved_version_fills_new_documents_and_reprints_stay_identical(session, store):
    admin, officer = get_user(session, "admin"), get_user(session, "pt_officer")
    first_case = _accepted(session, "CA-2026-T-0201")
    _row0, before, _ = documents.print_document(session, officer, first_case.id, "acceptance_notice")
    version, text = documents.template_text(session, "acceptance_notice")
    assert version is None and "予以受理" in text
    edited = text.replace("请您如实提供情况", "请您如实提供家庭收入情况")
    saved = documents.save_template(session, admin, "acceptance_notice", edited)
    assert saved.version == 1 and documents.template_text(session, "acceptance_notice") == (1, edited)
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "document.template_saved"))
    assert event.actor_id == admin.id and event.details == {
        "kind": "acceptance_notice",
        "version": 1,
        "sha256": saved.sha256,
    }
    second_case = _accepted(session, "CA-2026-T-0202")
    row, pdf, created = documents.print_document(session, officer, second_case.id, "acceptance_notice")
    assert created and row.template_version == 1
    assert "请您如实提供家庭收入情况" in "".join(pdf_text(pdf).split())
    generated = session.scalar(
        select(AuditEvent).where(
            AuditEvent.action == "document.generated", AuditEvent.instance_id == second_case.id
        )
    )
    assert generated.details["template_version"] == 1
    # a later version changes neither stored document
    documents.save_template(session, admin, "acceptance_notice", edited.replace("家庭收入", "收入"))
    _r, again, created = documents.print_document(session, officer, first_case.id, "acceptance_notice")
    assert not created and again == before and _r.template_version is None
    _r, again2, _ = documents.print_document(session, officer, second_case.id, "acceptance_notice")
    assert again2 == pdf


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("{% extends 'base.html' %}{% block body %}{{ applicant ", "template syntax error"),
        ("{% extends 'base.html' %}{% block body %}{{ aplicant }}{% endblock %}", "does not exist"),
        ("{{ title.__class__.__mro__ }}", "cannot be filled"),
        ("   ", "empty"),
    ],
)
def test_broken_or_unsafe_templates_are_refused(session, source, reason):
    admin = get_user(session, "admin")
    with pytest.raises(Invalid) as err:
        documents.save_template(session, admin, "refusal_notice", source)
    assert reason in err.value.fields["source"][0]
    count = session.scalar(select(func.count()).select_from(DocumentTemplateVersion))
    assert count == 0
