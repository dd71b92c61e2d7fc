"""统计看板 (dashboards) and their CSV / Excel exports."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from flask import Response, abort, render_template

from api.reports.render import spreadsheet_safe
from api.web import bp, display
from api.web.case_page import procedure_name
from api.web.common import _db, login_required, step_names, user
from api.web.i18n import locale, t
from engine.dashboards import service as dashboards
from engine.db import utcnow
from engine.deadlines import holidays
from engine.definitions import service as definitions
from engine.errors import Forbidden
from engine.orgs import service as orgs
from engine.orgs.models import OrgLevel
from engine.users.models import User

# table -> its columns (row key, label key)
COLUMNS: dict[str, list[tuple[str, str]]] = {
    "sla": [("sla", "sla_colour"), ("count", "open_count")],
    "by_district": [("district", "district"), ("open", "open_count"), ("overdue", "overdue_count")],
    "by_step": [
        ("process_key", "procedure"),
        ("step", "step"),
        ("open", "open_count"),
        ("overdue", "overdue_count"),
    ],
    "ca_disbursements": [("month", "month"), ("count", "count"), ("total", "total")],
    "bridge": [
        ("district", "district"),
        ("year", "year"),
        ("households", "households"),
        ("visits_per_household", "visits_per_household"),
        ("budget_used", "budget_used"),
        ("budget_per_household", "budget_per_household"),
        ("within_budget", "budget_ok"),
    ],
    "twinning": [
        ("pairing", "pairing"),
        ("year", "working_year"),
        ("workers", "workers"),
        ("working_days", "working_days"),
        ("workers_ok", "workers_ok"),
        ("days_ok", "days_ok"),
    ],
}


def _dashboard_user() -> User:
    if not dashboards.may_view(user()):
        raise Forbidden("无权查看统计看板 / you may not see the dashboards")
    return user()


# columns holding amounts of money, and columns whose empty value means "not started yet"
MONEY_COLUMNS = frozenset({"total", "budget_used", "budget_per_household"})


NOT_STARTED_COLUMNS = frozenset({"year"})


def _cell(value: Any, column: str = "", *, page: bool = True) -> Any:
    """One figure as the page shows it (money as ``6,000.00 元``), or as an export holds it (amounts as
    numbers a spreadsheet can add up); never a bare ``None``."""
    if isinstance(value, bool):
        return t("ok") if value else t("not_ok")
    if value is None or value == "":
        return t("not_started") if column in NOT_STARTED_COLUMNS else "—"
    if column in MONEY_COLUMNS:
        if page:
            return display.Formatter(locale()).money(value)
        amount = display.to_decimal(value)
        return value if amount is None else amount
    return value


def _district_names() -> dict[str, str]:
    """District names as the engine writes them (Chinese) → in the user's language."""
    en = locale() == "en"
    names = {u.name_zh: (u.name_en if en else u.name_zh) for u in orgs.list_units(_db(), OrgLevel.DISTRICT)}
    return {**names, "市级": t("city_level")}


# A text cell starting with one of these is read as a formula by Excel, LibreOffice and Sheets (a business
# key ``=HYPERLINK(…)``); exports prefix such text with an apostrophe so it stays text (OWASP's advice).


def _table(viewer: User, name: str) -> list[dict[str, Any]]:
    rows = dashboards.table(_db(), viewer, name)
    if rows and "district" in rows[0]:
        districts = _district_names()
        rows = [{**r, "district": districts.get(r["district"], r["district"])} for r in rows]
    if name == "sla":  # colour keys shown by their names
        rows = [{**r, "sla": t(f"sla_{r['sla']}")} for r in rows]
    if name == "by_step":  # procedure keys shown by their names, steps in the page's language
        names = {d.key: procedure_name(d) for d, _n in definitions.list_latest(_db())}
        step = step_names()
        rows = [
            {
                **r,
                "process_key": names.get(r["process_key"], r["process_key"]),
                "step": step(r["step"], r["form_key"], r["process_key"], r["bpmn_id"]),
            }
            for r in rows
        ]
    return rows


@bp.get("/dashboard")
@login_required
def dashboard() -> Any:
    viewer = _dashboard_user()
    tables = {name: _table(viewer, name) for name in COLUMNS}
    charts = {
        "by_district": {
            "labels": [r["district"] for r in tables["by_district"]],
            "series": [
                {"label": t("open_count"), "data": [r["open"] for r in tables["by_district"]]},
                {"label": t("overdue_count"), "data": [r["overdue"] for r in tables["by_district"]]},
            ],
        },
        "by_step": {
            "labels": [r["step"] for r in tables["by_step"][:15]],
            "series": [
                {"label": t("open_count"), "data": [r["open"] for r in tables["by_step"][:15]]},
                {"label": t("overdue_count"), "data": [r["overdue"] for r in tables["by_step"][:15]]},
            ],
        },
        "ca_disbursements": {
            "labels": [r["month"] for r in tables["ca_disbursements"]],
            "series": [
                {"label": t("total"), "data": [float(r["total"]) for r in tables["ca_disbursements"]]}
            ],
        },
    }
    return render_template(
        "dashboard.html",
        tables={
            n: [[_cell(row[k], k) for k, _l in COLUMNS[n]] for row in rows] for n, rows in tables.items()
        },
        headers={n: [t(label) for _k, label in cols] for n, cols in COLUMNS.items()},
        charts=charts,
        missing=holidays.missing_years(_db(), utcnow()),
    )


@bp.get("/dashboard/<name>.<fmt>")
@login_required
def dashboard_export(name: str, fmt: str) -> Any:
    viewer = _dashboard_user()
    if name not in COLUMNS or fmt not in ("csv", "xlsx"):
        abort(404)
    headers = [t(label) for _k, label in COLUMNS[name]]
    rows = [
        [spreadsheet_safe(_cell(row[k], k, page=False)) for k, _l in COLUMNS[name]]
        for row in _table(viewer, name)
    ]
    filename = f"{name}-{utcnow().astimezone(dt.UTC).strftime('%Y%m%d')}.{fmt}"
    disposition = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(headers)
        writer.writerows(rows)
        # With a BOM, Excel opens the UTF-8 Chinese text correctly.
        return Response("\ufeff" + out.getvalue(), mimetype="text/csv; charset=utf-8", headers=disposition)
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = name[:31]
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    for cells in sheet.iter_rows(min_row=2):
        for cell in cells:  # text is text, even when an escaped value still looked like a formula
            if isinstance(cell.value, str):
                cell.data_type = "s"
    data = io.BytesIO()
    book.save(data)
    return Response(
        data.getvalue(),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers=disposition,
    )
