"""Reading step records for reports: form labels, choice labels, money, dates (never a raw key)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy.orm import Session

from engine.documents.values import form_of, local_date  # noqa: F401 (the reports' names for them)
from engine.forms.model import _text
from engine.instances.models import InstanceStatus, ProcessInstance
from engine.orgs.models import OrgUnit

CA_KEY = "comprehensive_assistance"
CA_REPORT_KEY = "ca_monthly_fund_report"
CA_PAID_STEPS = ("disbursement", "emergency_disbursement")
BRIDGE_PROJECT = "bridge_plan_project"
TWINNING_KEY = "twinning"


def label(form: Any, name: str, fallback: str) -> str:
    """A field's label from the form the record was entered on (``fallback`` for a derived figure)."""
    f = form.field(name) if form is not None else None
    return (_text(f.label, "zh") or fallback) if f is not None else fallback


def column_label(form: Any, table: str, column: str, fallback: str) -> str:
    f = form.field(table) if form is not None else None
    for c in f.columns if f is not None else ():
        if c.name == column:
            return _text(c.label, "zh") or fallback
    return fallback


def choice(form: Any, name: str, value: Any, *, table: str | None = None) -> str:
    """A choice's label, never its key (``table`` names the table field whose column it is)."""
    f = form.field(table or name) if form is not None else None
    if f is not None and table is not None:
        f = next((c for c in f.columns if c.name == name), None)
    labels = {c.value: _text(c.label, "zh") for c in (f.choices if f is not None else ())}
    values = value if isinstance(value, list) else [value]
    return "、".join(labels.get(v) or "—" for v in values if v not in (None, "")) or "—"


def money(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal("0")
    except InvalidOperation:
        return Decimal("0")


def integer(value: Any) -> int:
    try:
        return int(value) if value not in (None, "") else 0
    except (TypeError, ValueError):
        return 0


def iso_date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def case_number(instance: ProcessInstance) -> str:
    return instance.business_key or f"#{instance.id}"


def unit_name(session: Session, unit_id: int | None) -> str:
    unit = session.get(OrgUnit, unit_id) if unit_id is not None else None
    return unit.name("zh") if unit is not None else "—"


STATUS = {
    InstanceStatus.RUNNING: "服务中",
    InstanceStatus.COMPLETED: "已结案",
}


def status(case: ProcessInstance) -> str:
    if (case.data or {}).get("outcome") == "withdrawn":
        return "已退出"
    return STATUS.get(case.status, "已终止")
