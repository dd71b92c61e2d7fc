"""The comprehensive-assistance monthly business and fund report (seed 002 §四(二): 区、街镇帮扶组织每月按时填报业务及资金使用报表)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db import SHANGHAI
from engine.errors import Conflict
from engine.instances.models import ProcessInstance
from engine.records import service as records
from engine.records.models import StepRecord
from engine.reports.model import Column, Kind, Line, Report, Table, totals
from engine.reports.read import (
    CA_KEY,
    CA_PAID_STEPS,
    case_number,
    choice,
    form_of,
    integer,
    iso_date,
    label,
    local_date,
    money,
    unit_name,
)
from engine.scope import unit_clause


def _ca_record(session: Session, instance: ProcessInstance) -> StepRecord | None:
    return records.latest(session, instance.id, "review_report")


def _month_bounds(period: str) -> tuple[dt.datetime, dt.datetime]:
    year, month = (int(p) for p in period.split("-"))
    start = dt.datetime(year, month, 1, tzinfo=SHANGHAI)
    end = dt.datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=SHANGHAI)
    return start, end


def ca_monthly(session: Session, instance: ProcessInstance, _param: Any = None) -> Report:
    record = _ca_record(session, instance)
    if record is None:
        raise Conflict("报表尚未审核，不能导出 / the report has not been reviewed yet")
    form, data = form_of(record), {**(instance.data or {}), **(record.data or {})}
    period = str(data.get("report_period") or "")
    level = choice(form, "report_level", data.get("report_level"))
    report = Report(
        kind="ca_monthly",
        title="市民综合帮扶业务及资金使用月报表",
        case_number=case_number(instance),
        lines=[
            Line("填报单位", instance.org_unit.name("zh")),
            Line(label(form, "report_level", "报表层级"), level),
            Line(
                label(form, "report_period", "报表月份"),
                period.replace("-", "年", 1) + "月" if period else "—",
            ),
        ],
        signatures=["填报人", "审核人", "单位负责人", "填报日期"],
    )
    business = ["cases_received", "cases_approved", "cases_refused", "households_helped", "people_helped"]
    report.tables.append(
        Table(
            "一、业务情况",
            [Column(k, label(form, k, k), Kind.INT) for k in business],
            [{k: integer(data.get(k)) for k in business}],
        )
    )
    report.tables.append(
        Table(
            "二、资金使用情况",
            [
                Column("disbursement_count", label(form, "disbursement_count", "发放笔数"), Kind.INT),
                Column("disbursed_total", label(form, "disbursed_total", "发放金额合计（元）"), Kind.MONEY),
            ],
            [
                {
                    "disbursement_count": integer(data.get("disbursement_count")),
                    "disbursed_total": money(data.get("disbursed_total")),
                }
            ],
        )
    )
    rows = _ca_payments(session, instance, period) if period else []
    report.tables.append(
        Table(
            "三、资金发放明细",
            [
                Column("case", "案件编号"),
                Column("street", "街镇"),
                Column("step", "发放环节"),
                Column("paid_on", "发放日期", Kind.DATE),
                Column("amount", "发放金额（元）", Kind.MONEY),
            ],
            rows,
            totals(rows, ["amount"]) if rows else None,
            empty="本月无发放",
        )
    )
    report.notes.append(Line(label(form, "notes", "说明"), data.get("notes") or "—"))
    report.notes.append(Line(label(form, "confirmed", "已核对无误"), bool(data.get("confirmed")), Kind.BOOL))
    return report


def _ca_payments(session: Session, report_case: ProcessInstance, period: str) -> list[dict[str, Any]]:
    """The payments of the month inside the report's unit: one row per disbursement record."""
    start, end = _month_bounds(period)
    stmt = (
        select(StepRecord, ProcessInstance)
        .join(ProcessInstance, ProcessInstance.id == StepRecord.instance_id)
        .where(
            ProcessInstance.process_key == CA_KEY,
            StepRecord.bpmn_id.in_(CA_PAID_STEPS),
            StepRecord.completed_at >= start,
            StepRecord.completed_at < end,
            unit_clause(report_case.org_unit, ProcessInstance),
        )
        .order_by(StepRecord.completed_at, StepRecord.id)
    )
    streets: dict[int | None, str] = {}
    rows = []
    for record, case in session.execute(stmt).all():
        if case.street_id not in streets:
            streets[case.street_id] = unit_name(session, case.street_id)
        rows.append(
            {
                "case": case_number(case),
                "street": streets[case.street_id],
                "step": record.name,
                "paid_on": iso_date((record.data or {}).get("paid_on")) or local_date(record.completed_at),
                "amount": money((record.data or {}).get("amount_paid")),
            }
        )
    return rows
