"""Printing a case's documents from its page: a "打印" button per document the case can print at its
present state; the PDF opens in a new tab (generated once and stored, the stored file afterwards)."""

from __future__ import annotations

from typing import Any

from flask import Response, url_for

from api.documents.routes import pdf_response
from api.web import bp
from api.web.common import _db, login_required, user
from api.web.i18n import MESSAGES, locale
from engine.documents import service as documents

MESSAGES.update(
    {
        "doc_title": ("文书打印", "Documents"),
        "doc_print": ("打印", "Print"),
        "doc_none": ("当前环节没有可打印的文书", "Nothing to print at this stage"),
        "doc_hint": (
            "首次打印时生成并存档，再次打印为同一份文件",
            "Generated and filed at the first print; a reprint is the same file",
        ),
    }
)


def case_documents(session: Any, instance: Any) -> list[dict[str, Any]]:
    """The documents the case can print now, for its page."""
    lang = "en" if locale() == "en" else "zh"
    return [
        {
            "kind": k.name,
            "title": k.label(lang),
            "url": url_for("web.print_document", instance_id=instance.id, kind=k.name),
        }
        for k in documents.available(session, instance)
    ]


@bp.post("/cases/<int:instance_id>/documents/<kind>")
@login_required
def print_document(instance_id: int, kind: str) -> Response:
    """The PDF, shown in the browser to print (audited as the API's)."""
    row, pdf, created = documents.print_document(_db(), user(), instance_id, kind)
    response = pdf_response(row, pdf, created=False, inline=True)
    response.headers["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'self'"
    return response
