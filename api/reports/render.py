"""One report, two layouts: an Excel workbook (openpyxl) and an A4 PDF (the documents' WeasyPrint
renderer), each cell written as people read it: money as money, dates as dates, 是/否.

Excel keeps numbers as numbers (money with the ``#,##0.00`` format, dates as dates) so a district can
sum them; text cells that begin with ``= + - @`` are written as text, never as formulas.
"""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from engine.documents import render as documents
from engine.reports.model import Column, Kind, Report, Table

MONEY_FORMAT = "#,##0.00"
DATE_FORMAT = "yyyy年m月d日"
_THIN = Side(style="thin", color="000000")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_HEAD = PatternFill("solid", fgColor="F0F0F0")


def shown(value: Any, kind: Kind) -> str:
    """A value as a reader sees it (the PDF's cells)."""
    if value is None or value == "":
        return "—"
    if kind is Kind.MONEY:
        return documents.money(value)
    if kind is Kind.DATE:
        return documents.cn_date(value)
    if kind is Kind.BOOL:
        return "是" if value else "否"
    if kind is Kind.PERCENT:
        return f"{Decimal(str(value)):.1f}%"
    return documents.text(value)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """A cell for a CSV or Excel export: text that a spreadsheet would run as a formula is escaped."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _cell_value(value: Any, kind: Kind) -> Any:
    """A value as Excel keeps it (numbers stay numbers)."""
    if value is None or value == "":
        return "—"
    if kind is Kind.MONEY:
        return float(Decimal(str(value)))
    if kind is Kind.INT:
        return int(value)
    if kind is Kind.PERCENT:
        return float(Decimal(str(value)) / 100)
    if kind is Kind.DATE and isinstance(value, dt.date):
        return value
    if kind is Kind.BOOL:
        return "是" if value else "否"
    return spreadsheet_safe(documents.text(value))


def _number_format(kind: Kind) -> str | None:
    return {Kind.MONEY: MONEY_FORMAT, Kind.DATE: DATE_FORMAT, Kind.PERCENT: "0.0%"}.get(kind)


def _write_row(
    ws: Any, row: int, columns: list[Column], values: dict[str, Any], *, bold: bool = False
) -> None:
    for i, column in enumerate(columns, start=1):
        cell = ws.cell(row=row, column=i, value=_cell_value(values.get(column.key), column.kind))
        cell.border = _BOX
        cell.alignment = Alignment(vertical="top", wrap_text=True)
        if bold:
            cell.font = Font(bold=True)
        fmt = _number_format(column.kind)
        if fmt and not isinstance(cell.value, str):
            cell.number_format = fmt


def _totals_row(table: Table) -> dict[str, Any]:
    assert table.totals is not None
    first = table.columns[0].key
    return {first: "合计", **table.totals}


def to_xlsx(report: Report) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = report.title[:31]
    width = max([len(t.columns) for t in report.tables] + [2])
    ws.cell(row=1, column=1, value=report.title).font = Font(bold=True, size=14)
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=width)
    ws.cell(row=1, column=1).alignment = Alignment(horizontal="center")
    row = 3
    for line in report.lines:
        ws.cell(row=row, column=1, value=line.label)
        value = ws.cell(row=row, column=2, value=_cell_value(line.value, line.kind))
        fmt = _number_format(line.kind)
        if fmt and not isinstance(value.value, str):
            value.number_format = fmt
        row += 1
    widths = [12] * width
    for table in report.tables:
        row += 1
        ws.cell(row=row, column=1, value=table.title).font = Font(bold=True, size=12)
        row += 1
        for i, column in enumerate(table.columns, start=1):
            cell = ws.cell(row=row, column=i, value=column.label)
            cell.font, cell.fill, cell.border = Font(bold=True), _HEAD, _BOX
            cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
            widths[i - 1] = max(widths[i - 1], min(40, 2 * len(column.label) + 2))
        row += 1
        if not table.rows:
            ws.cell(row=row, column=1, value=table.empty)
            row += 1
        for values in table.rows:
            _write_row(ws, row, table.columns, values)
            row += 1
        if table.totals is not None and table.rows:
            _write_row(ws, row, table.columns, _totals_row(table), bold=True)
            row += 1
    for note in report.notes:
        row += 1
        ws.cell(row=row, column=1, value=note.label).font = Font(bold=True)
        cell = ws.cell(row=row, column=2, value=_cell_value(note.value, note.kind))
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        ws.merge_cells(start_row=row, start_column=2, end_row=row, end_column=width)
    row += 2
    for i, signature in enumerate(report.signatures):
        ws.cell(row=row + i // 2, column=1 + (i % 2) * 3, value=f"{signature}：")
    for i, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = w
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.oddFooter.center.text = "第 &P 页 共 &N 页"
    ws.oddHeader.right.text = f"编号：{report.case_number}"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _cells(columns: list[Column], values: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"text": shown(values.get(c.key), c.kind), "num": c.kind in (Kind.MONEY, Kind.INT, Kind.PERCENT)}
        for c in columns
    ]


def to_pdf(report: Report) -> bytes:
    tables = [
        {
            "title": t.title,
            "columns": [{"label": c.label} for c in t.columns],
            "rows": [_cells(t.columns, r) for r in t.rows],
            "totals": _cells(t.columns, _totals_row(t)) if t.totals is not None and t.rows else None,
            "empty": t.empty,
        }
        for t in report.tables
    ]
    values = {
        "title": report.title,
        "lines": [{"label": line.label, "value": shown(line.value, line.kind)} for line in report.lines],
        "tables": tables,
        "notes": [{"label": n.label, "value": shown(n.value, n.kind)} for n in report.notes],
        "signatures": report.signatures,
    }
    return documents.render("report.html", values, case_number=report.case_number, title=report.title).pdf
