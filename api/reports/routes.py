"""A case's reports in the notices' layout: which it can export now, and each as Excel or PDF
(an audited read: ``report.exported``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Response, url_for
from flask_smorest import Blueprint

from api.extensions import db
from api.reports import render
from api.reports.schemas import ReportArgs, ReportListSchema
from api.security import BEARER, current_user, login_required
from engine.errors import NotFound
from engine.instances import service as instances
from engine.reports import service as reports
from engine.reports.service import ReportKind

blp = Blueprint("reports", __name__, url_prefix="/api/v1", description="报表 / reports")

FORMATS = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


def title(kind: ReportKind, period: Any, locale: str) -> str:
    base = kind.label(locale)
    if period is None:
        return base
    if locale == "en":
        return f"{base} ({'month' if kind.period_label == '月' else 'year'} {period})"
    return (
        f"{period}{kind.period_label}{base}"
        if kind.period_label == "年"
        else f"{base}（{period}{kind.period_label}）"
    )


def listing(endpoint: str, instance: Any, locale: str) -> list[dict[str, Any]]:
    """The reports a case can export now, with the URLs of both formats (``endpoint`` serves them)."""
    out = []
    for kind, period in reports.available(db.session(), instance):
        extra: dict[str, Any] = {} if period is None else {"period": str(period)}
        out.append(
            {
                "kind": kind.name,
                "title": title(kind, period, locale),
                "period": None if period is None else str(period),
                "xlsx_url": url_for(endpoint, instance_id=instance.id, kind=kind.name, fmt="xlsx", **extra),
                "pdf_url": url_for(endpoint, instance_id=instance.id, kind=kind.name, fmt="pdf", **extra),
            }
        )
    return out


def file_response(
    instance_id: int, kind: str, fmt: str, period: Any, *, inline: bool = False, user: Any = None
) -> Response:
    """The report file for ``user`` (the API's token user unless the web page names its session user)."""
    if fmt not in FORMATS:
        raise NotFound(f"不支持的格式 / unknown format {fmt[:10]!r}")
    report = reports.build(db.session(), user or current_user(), instance_id, kind, period, fmt=fmt)
    body = render.to_xlsx(report) if fmt == "xlsx" else render.to_pdf(report)
    response = Response(body, mimetype=FORMATS[fmt])
    disposition = "inline" if inline else "attachment"
    response.headers["Content-Disposition"] = (
        f"{disposition}; filename=\"report.{fmt}\"; filename*=UTF-8''{quote(report.filename + '.' + fmt)}"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


@blp.route("/process-instances/<int:instance_id>/reports", methods=["GET"])
@blp.response(200, ReportListSchema)
@blp.doc(security=[BEARER])
@login_required
def available(instance_id: int) -> Any:
    """The reports this case can export now (per month or working year where the report has periods)."""
    instance = instances.get_visible(db.session(), current_user(), instance_id)
    return {"items": listing("reports.export", instance, current_user().locale)}


@blp.route("/process-instances/<int:instance_id>/reports/<kind>.<fmt>", methods=["GET"])
@blp.arguments(ReportArgs, location="query")
@blp.doc(
    security=[BEARER],
    responses={
        200: {"description": "the report as Excel (xlsx) or PDF"},
        404: {"description": "no such case, report kind or period"},
        409: {"description": "the report's step is not done yet"},
    },
)
@login_required
def export(args: dict[str, Any], instance_id: int, kind: str, fmt: str) -> Any:
    """The report ``kind`` of the case as ``xlsx`` or ``pdf`` (audited as ``report.exported``)."""
    return file_response(instance_id, kind, fmt, args.get("period"))
