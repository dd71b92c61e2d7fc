"""A case's reports from its page: each report the case can export now, as Excel or PDF."""

from __future__ import annotations

from typing import Any

from flask import Response, request

from api.reports import routes as report_routes
from api.web import bp
from api.web.common import login_required, user
from api.web.i18n import MESSAGES, locale

MESSAGES.update(
    {
        "rep_title": ("报表", "Reports"),
        "rep_hint": (
            "按通知要求的格式，从各环节的办理记录生成；导出留痕",
            "In the notices' layout, filled from the step records; every export is audited",
        ),
        "rep_excel": ("Excel", "Excel"),
        "rep_pdf": ("PDF", "PDF"),
    }
)


def case_reports(session: Any, instance: Any) -> list[dict[str, Any]]:
    """The reports the case can export now, for its page (nothing for a procedure without reports)."""
    return report_routes.listing("web.export_report", instance, "en" if locale() == "en" else "zh")


@bp.get("/cases/<int:instance_id>/reports/<kind>.<fmt>")
@login_required
def export_report(instance_id: int, kind: str, fmt: str) -> Response:
    """The report file (audited as the API's); a PDF opens in the browser."""
    period = request.args.get("period") or None
    if period is not None and not (period.isdigit() and len(period) <= 4):
        period = "0"  # not a month or year of this case: the service answers 404
    return report_routes.file_response(instance_id, kind, fmt, period, inline=fmt == "pdf", user=user())
