"""Printing documents over HTTP: the kinds a case can print, the PDF (201 generated, 200 the stored
one: the same bytes), and every refusal a 4xx with a reason."""

from __future__ import annotations

import hashlib

from sqlalchemy import func, select

from api.extensions import db
from engine.attachments.models import Attachment
from engine.crypto import mask_id_number
from tests.documents_pdf import pdf_text
from tests.helpers import assert_error
from tests.procedures.helpers import APPLICANT, Case


def _url(case, kind="acceptance_notice"):
    return f"/api/v1/process-instances/{case.id}/documents/{kind}"


def _documents() -> int:
    stmt = select(func.count()).select_from(Attachment).where(Attachment.field.like("document:%"))
    return db.session.scalar(stmt) or 0


def test_print_acceptance_notice_then_reprint(client, login):
    case = Case(client, login)
    officer = login("pt_officer")
    listed = client.get(f"/api/v1/process-instances/{case.id}/documents", headers=officer)
    assert listed.status_code == 200 and listed.json["items"] == []
    assert_error(client.post(_url(case), headers=officer), 409)
    case.do("acceptance", "pt_officer", {"accepted": True})
    listed = client.get(f"/api/v1/process-instances/{case.id}/documents", headers=officer).json["items"]
    assert [(i["kind"], i["title"]) for i in listed] == [("acceptance_notice", "受理通知书")]
    first = client.post(listed[0]["url"], headers=officer)
    assert first.status_code == 201 and first.mimetype == "application/pdf"
    assert first.headers["X-Document-SHA256"] == hashlib.sha256(first.data).hexdigest()
    text = "".join(pdf_text(first.data).split())
    assert "受理通知书" in text and mask_id_number(APPLICANT) in text and "予以受理" in text
    head = login("pt_head")  # anyone who sees the case reprints the same file
    again = client.post(_url(case), headers=head)
    assert again.status_code == 200 and again.data == first.data
    assert again.headers["X-Document-SHA256"] == first.headers["X-Document-SHA256"]
    assert _documents() == 1
    shown = client.get(f"/api/v1/process-instances/{case.id}/attachments", headers=officer).json["items"]
    assert [a["field"] for a in shown if a["field"].startswith("document:")] == ["document:acceptance_notice"]


def test_refusals(client, login):
    case = Case(client, login)
    case.do("acceptance", "pt_officer", {"accepted": False, "rejection_reason": "不属于本市户籍"})
    officer = login("pt_officer")
    body = assert_error(client.post(_url(case), headers=officer), 409)
    assert "受理通知书" in body["message"]
    assert_error(client.post(_url(case, "no_such_kind"), headers=officer), 404)
    assert_error(client.post(_url(case, "refusal_notice"), headers=login("pt_other_advisor")), 403)
    assert_error(client.post(_url(case, "refusal_notice"), headers=login("pd_officer")), 403)
    assert_error(
        client.post("/api/v1/process-instances/99999999/documents/refusal_notice", headers=officer), 404
    )
    assert client.post(_url(case, "refusal_notice")).status_code == 401
    assert _documents() == 0
    printed = client.post(_url(case, "refusal_notice"), headers=officer)
    assert printed.status_code == 201
    assert "不属于本市户籍" in "".join(pdf_text(printed.data).split())


def test_case_file_once_the_case_has_ended(client, login):
    case = Case(client, login)
    advisor = login("pt_advisor")
    body = assert_error(client.post(_url(case, "case_file"), headers=advisor), 409)
    assert "尚未办结" in body["message"]
    case.do("acceptance", "pt_officer", {"accepted": False, "rejection_reason": "不属于本市户籍"})
    listed = client.get(f"/api/v1/process-instances/{case.id}/documents", headers=advisor).json["items"]
    assert ("case_file", "一户一档（案件档案）") in [(i["kind"], i["title"]) for i in listed]
    first = client.post(_url(case, "case_file"), headers=advisor)
    assert first.status_code == 201 and first.mimetype == "application/pdf"
    text = "".join(pdf_text(first.data).split())
    assert "一户一档" in text and "不属于本市户籍" in text and "四、操作记录（审计）" in text
    again = client.post(_url(case, "case_file"), headers=login("pt_head"))
    assert again.status_code == 200 and again.data == first.data
    assert_error(client.post(_url(case, "case_file"), headers=login("pd_officer")), 403)
