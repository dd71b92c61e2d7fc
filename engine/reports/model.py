"""A report as plain data: a title, the heading lines (unit, period), tables and signature lines.

Nothing here knows Excel or PDF: ``api.reports.render`` lays the same report out as both, so the two
files always say the same thing. Values stay typed (``Decimal`` money, ``date``, ``bool``, ``int``) and
each column says its kind, so each renderer writes money as money and dates as dates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    TEXT = "text"
    INT = "int"
    MONEY = "money"
    DATE = "date"
    BOOL = "bool"
    PERCENT = "percent"


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: Kind = Kind.TEXT


@dataclass
class Table:
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]] = field(default_factory=list)
    totals: dict[str, Any] | None = None  # a 合计 row (keys of summed columns)
    empty: str = "无"  # shown when there are no rows


@dataclass(frozen=True)
class Line:
    """One heading line (``label: value``) under the title."""

    label: str
    value: Any
    kind: Kind = Kind.TEXT


@dataclass
class Report:
    kind: str
    title: str
    case_number: str
    lines: list[Line] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[Line] = field(default_factory=list)  # long texts (progress, summary) after the tables
    signatures: list[str] = field(default_factory=list)

    @property
    def filename(self) -> str:
        return f"{self.title}-{self.case_number}".replace("/", "-").replace("\\", "-")


def totals(rows: list[dict[str, Any]], keys: list[str]) -> dict[str, Any]:
    """The 合计 row: each key summed over the rows (missing values count as nothing)."""
    out: dict[str, Any] = {}
    for key in keys:
        values = [r[key] for r in rows if r.get(key) is not None]
        out[key] = sum(values[1:], values[0]) if values else 0
    return out
