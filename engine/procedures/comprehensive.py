"""Citizen comprehensive assistance 市民综合帮扶: rules that need the database."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.audit.models import AuditAction, AuditEvent
from engine.db import utcnow
from engine.deadlines.calendar import SHANGHAI
from engine.errors import Invalid
from engine.instances.models import ProcessInstance
from engine.procedures import before_complete, counting, on_start
from engine.recusal import service as recusal
from engine.scope import unit_clause

KEY = "comprehensive_assistance"


@before_complete(KEY, "application")
def near_relative_check(session: Session, instance: Any, row: Any, data: dict[str, Any]) -> dict[str, Any]:
    """An applicant on file as a staff member's near relative: that person steps aside, district reviews."""
    related = recusal.staff_related_to(session, data.get("applicant_id_number"))
    if not related:
        return {"near_relative_staff": [], "needs_district_review": False}
    return {"near_relative_staff": related, "excluded_users": related, "needs_district_review": True}


def _count_payment(session: Session, instance: Any, row: Any, data: dict[str, Any]) -> None:
    """A payment is a service counted by this case, in the ledger that other projects check."""
    counting.count_for_case(session, instance, row, kind="disbursement", id_field="applicant_id_number")


before_complete(KEY, "disbursement")(_count_payment)
before_complete(KEY, "emergency_disbursement")(_count_payment)

REPORT_KEY = "ca_monthly_fund_report"
PAID_STEPS = ("disbursement", "emergency_disbursement")


def _previous_month(moment: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    local = moment.astimezone(SHANGHAI)
    first_this = dt.datetime(local.year, local.month, 1, tzinfo=SHANGHAI)
    last_month_day = first_this - dt.timedelta(days=1)
    return dt.datetime(last_month_day.year, last_month_day.month, 1, tzinfo=SHANGHAI), first_this


def _scheduled_for(value: Any) -> dt.datetime:
    """The month the scheduler started the report for (ISO 8601 date or time); now when not given."""
    if value is None or value == "":
        return utcnow()
    try:
        if not isinstance(value, str) or len(value) > 40:
            raise ValueError(value)
        moment = dt.datetime.fromisoformat(value)
        if not 2000 <= moment.year <= 9000:
            raise ValueError(value)
        return moment if moment.tzinfo else moment.replace(tzinfo=SHANGHAI)
    except ValueError:
        raise Invalid.on(
            "scheduled_for", "不是有效的日期时间（ISO 8601）/ not a valid ISO 8601 date or time"
        ) from None


@on_start(REPORT_KEY)
def monthly_fund_figures(session: Session, unit: Any, data: dict[str, Any]) -> dict[str, Any]:
    """Sum last month's comprehensive-assistance payments inside the report's org unit."""
    moment = _scheduled_for(data.get("scheduled_for"))
    start, end = _previous_month(moment)
    rows = session.execute(
        select(AuditEvent.details)
        .join(ProcessInstance, ProcessInstance.id == AuditEvent.instance_id)
        .where(
            ProcessInstance.process_key == KEY,
            AuditEvent.action == AuditAction.TASK_COMPLETED.value,
            AuditEvent.at >= start,
            AuditEvent.at < end,
            unit_clause(unit, ProcessInstance),
        )
    )
    count, total = 0, Decimal("0")
    for (details,) in rows:
        if details.get("bpmn_id") in PAID_STEPS:
            count += 1
            total += Decimal(str(details["data"]["amount_paid"]))
    return {
        "report_period": start.strftime("%Y-%m"),
        "disbursement_count": count,
        "disbursed_total": total,
    }
