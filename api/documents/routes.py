"""Printing a case's documents: which kinds it can print now, and the PDF of one (generated at the first
request and stored with the step that decided it; the stored file at every later one)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Response, url_for
from flask_smorest import Blueprint

from api.documents.schemas import DocumentKindListSchema
from api.extensions import db
from api.security import BEARER, current_user, login_required
from engine.documents import service as documents
from engine.instances import service as instances

blp = Blueprint("documents", __name__, url_prefix="/api/v1", description="文书 / documents")


def pdf_response(row: Any, pdf: bytes, *, created: bool, inline: bool = False) -> Response:
    response = Response(pdf, status=201 if created else 200, mimetype="application/pdf")
    disposition = "inline" if inline else "attachment"
    response.headers["Content-Disposition"] = (
        f"{disposition}; filename=\"document.pdf\"; filename*=UTF-8''{quote(row.filename)}"
    )
    response.headers["X-Document-SHA256"] = row.sha256
    response.headers["X-Attachment-Id"] = str(row.id)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


@blp.route("/process-instances/<int:instance_id>/documents", methods=["GET"])
@blp.response(200, DocumentKindListSchema)
@blp.doc(security=[BEARER])
@login_required
def available(instance_id: int) -> Any:
    """The documents this case can print at its present state."""
    session = db.session()
    instance = instances.get_visible(session, current_user(), instance_id)
    locale = current_user().locale
    return {
        "items": [
            {
                "kind": k.name,
                "title": k.label(locale),
                "url": url_for("documents.print_document", instance_id=instance.id, kind=k.name),
            }
            for k in documents.available(session, instance)
        ]
    }


@blp.route("/process-instances/<int:instance_id>/documents/<kind>", methods=["POST"])
@blp.doc(
    security=[BEARER],
    responses={
        200: {"description": "the stored PDF (a reprint: the same bytes)"},
        201: {"description": "the PDF, generated and stored now"},
        404: {"description": "no such case or kind, or a kind of another procedure"},
        409: {"description": "the case has no decision this document states (yet)"},
    },
)
@login_required
def print_document(instance_id: int, kind: str) -> Any:
    """The PDF of document ``kind`` of the case (audited: ``document.generated`` the first time, then
    ``attachment.downloaded`` with channel ``print``); the header X-Document-SHA256 is the file's hash."""
    row, pdf, created = documents.print_document(db.session(), current_user(), instance_id, kind)
    return pdf_response(row, pdf, created=created)
