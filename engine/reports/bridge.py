"""The Bridge Plan's monthly progress, mid-term and final (summary) reports (seed 000 §三: 每月向区民政局报告项目推进情况，按时提交项目中期报告、总结报告)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import Conflict, NotFound
from engine.instances.models import ProcessInstance
from engine.records import service as records
from engine.records.models import StepRecord
from engine.reports.model import Column, Kind, Line, Report, Table, totals
from engine.reports.read import (
    case_number,
    choice,
    column_label,
    form_of,
    integer,
    label,
    local_date,
    money,
    status,
    unit_name,
)


def _bridge_lines(session: Session, project: ProcessInstance) -> list[Line]:
    data = project.data or {}
    return [
        Line("项目年度", str(data.get("project_year") or "—")),
        Line("区", unit_name(session, project.district_id) if project.district_id else "—"),
        Line("项目编号", case_number(project)),
    ]


def _households(session: Session, project: ProcessInstance, until: int | None) -> list[dict[str, Any]]:
    """The project's household cases with their home visits (up to the record id ``until``: those entered before the report)."""
    cases = list(
        session.scalars(
            select(ProcessInstance)
            .where(ProcessInstance.parent_id == project.id)
            .order_by(ProcessInstance.id)
        )
    )
    stmt = select(StepRecord.instance_id, StepRecord.data, StepRecord.id).where(
        StepRecord.instance_id.in_([c.id for c in cases]), StepRecord.bpmn_id == "case_work"
    )
    visits: dict[int, int] = {}
    for case_id, data, record_id in session.execute(stmt).all() if cases else []:
        if (data or {}).get("action") == "visit" and (until is None or record_id <= until):
            visits[case_id] = visits.get(case_id, 0) + 1
    streets: dict[int | None, str] = {}
    rows = []
    for case in cases:
        if case.street_id not in streets:
            streets[case.street_id] = unit_name(session, case.street_id)
        rows.append(
            {
                "case": case_number(case),
                "street": streets[case.street_id],
                "status": status(case),
                "visits": visits.get(case.id, 0),
                "budget_share": money((case.data or {}).get("budget_share")),
            }
        )
    return rows


HOUSEHOLD_COLUMNS = [
    Column("case", "家庭案件编号"),
    Column("street", "街镇"),
    Column("status", "状态"),
    Column("visits", "累计走访次数", Kind.INT),
    Column("budget_share", "户均预算（元）", Kind.MONEY),
]


def _household_table(rows: list[dict[str, Any]], title: str) -> Table:
    return Table(title, HOUSEHOLD_COLUMNS, rows, totals(rows, ["visits", "budget_share"]) if rows else None)


def _monthly_records(session: Session, project: ProcessInstance) -> list[StepRecord]:
    return records.all_of_step(session, project.id, "monthly_report")


def bridge_months(session: Session, project: ProcessInstance) -> list[int]:
    return sorted({integer((r.data or {}).get("report_month")) for r in _monthly_records(session, project)})


MONTHLY_FIGURES = ["households_served", "visits", "group_activities"]


def bridge_monthly(session: Session, project: ProcessInstance, month: Any) -> Report:
    wanted = integer(month)
    record = next(
        (r for r in _monthly_records(session, project) if integer(r.data.get("report_month")) == wanted), None
    )
    if record is None:
        raise NotFound(f"该月份没有进度报告 / no monthly report for month {month}")
    form, data = form_of(record), record.data or {}
    report = Report(
        kind="bridge_monthly",
        title="桥计划项目月度进度报告",
        case_number=case_number(project),
        lines=[
            *_bridge_lines(session, project),
            Line(label(form, "report_month", "报告月份"), f"{wanted}月"),
            Line("报送日期", local_date(record.completed_at), Kind.DATE),
        ],
        signatures=["承接机构（盖章）", "报送人", "区民政局审阅"],
    )
    columns = [Column(k, label(form, k, k), Kind.INT) for k in MONTHLY_FIGURES]
    columns.append(Column("spent_to_date", label(form, "spent_to_date", "累计支出（元）"), Kind.MONEY))
    row = {k: integer(data.get(k)) for k in MONTHLY_FIGURES} | {
        "spent_to_date": money(data.get("spent_to_date"))
    }
    report.tables.append(Table("一、本月工作情况", columns, [row]))
    report.tables.append(_household_table(_households(session, project, record.id), "二、服务家庭走访情况"))
    report.notes.append(Line(label(form, "progress", "进展与问题"), data.get("progress") or "—"))
    return report


def _months_table(session: Session, project: ProcessInstance, until: int | None) -> Table:
    kept = [r for r in _monthly_records(session, project) if until is None or r.id <= until]
    form = form_of(kept[0]) if kept else None
    rows = [
        {"month": f"{integer(r.data.get('report_month'))}月"}
        | {k: integer(r.data.get(k)) for k in MONTHLY_FIGURES}
        | {"spent_to_date": money(r.data.get("spent_to_date"))}
        for r in sorted(kept, key=lambda r: integer(r.data.get("report_month")))
    ]
    columns = [Column("month", "月份")]
    columns += [
        Column(k, label(form, k, f), Kind.INT)
        for k, f in zip(MONTHLY_FIGURES, ("本月服务户数", "本月走访次数", "本月小组活动次数"), strict=True)
    ]
    columns.append(Column("spent_to_date", "累计支出（元）", Kind.MONEY))
    return Table("月度进度汇总", columns, rows, empty="尚无月度报告")


def bridge_midterm(session: Session, project: ProcessInstance, _param: Any = None) -> Report:
    record = records.latest(session, project.id, "midterm_report")
    if record is None:
        raise Conflict("尚未提交中期报告 / the mid-term report is not in yet")
    form, data = form_of(record), record.data or {}
    report = Report(
        kind="bridge_midterm",
        title="桥计划项目中期报告",
        case_number=case_number(project),
        lines=[
            *_bridge_lines(session, project),
            Line("报送日期", local_date(record.completed_at), Kind.DATE),
            Line(
                label(form, "spent_to_date", "累计支出（元）"), money(data.get("spent_to_date")), Kind.MONEY
            ),
        ],
        signatures=["承接机构（盖章）", "报送人", "区民政局审阅"],
    )
    report.tables.append(_months_table(session, project, record.id))
    report.tables.append(_household_table(_households(session, project, record.id), "服务家庭走访情况"))
    report.notes.append(Line(label(form, "summary", "中期进展"), data.get("summary") or "—"))
    report.notes.append(
        Line(label(form, "plan_adjustments", "计划调整"), data.get("plan_adjustments") or "—")
    )
    return report


def bridge_final(session: Session, project: ProcessInstance, _param: Any = None) -> Report:
    record = records.latest(session, project.id, "final_report")
    if record is None:
        raise Conflict("尚未提交终期报告 / the final report is not in yet")
    form, data, derived = form_of(record), record.data or {}, record.derived or {}
    households = _households(session, project, record.id)
    n = len(households)
    spent = sum((money(line.get("amount")) for line in data.get("spending_lines") or []), Decimal("0"))
    visits = sum(h["visits"] for h in households)
    report = Report(
        kind="bridge_final",
        title="桥计划项目总结报告",
        case_number=case_number(project),
        lines=[
            *_bridge_lines(session, project),
            Line("报送日期", local_date(record.completed_at), Kind.DATE),
            Line("服务家庭户数", n, Kind.INT),
            Line(
                "户均走访次数（不少于5次）",
                (Decimal(visits) / n).quantize(Decimal("0.1")) if n else Decimal("0"),
                Kind.TEXT,
            ),
            Line("实际支出合计（元）", spent, Kind.MONEY),
            Line(
                "户均支出（元，不超过5000元）",
                (spent / n).quantize(Decimal("0.01")) if n else Decimal("0"),
                Kind.MONEY,
            ),
            Line(label(form, "surveyed", "满意度调查人数"), integer(data.get("surveyed")), Kind.INT),
            Line(label(form, "satisfied", "满意人数"), integer(data.get("satisfied")), Kind.INT),
            Line("满意率", money(derived.get("satisfaction_rate")), Kind.PERCENT),
        ],
        signatures=["承接机构（盖章）", "报送人", "区民政局验收意见", "日期"],
    )
    lines = data.get("spending_lines") or []
    spending = [
        {
            "category": choice(form, "category", line.get("category"), table="spending_lines"),
            "purpose": line.get("purpose") or "—",
            "payee": choice(form, "payee", line.get("payee"), table="spending_lines"),
            "amount": money(line.get("amount")),
        }
        for line in lines
    ]
    report.tables.append(
        Table(
            "一、实际支出明细",
            [
                Column("category", column_label(form, "spending_lines", "category", "支出类别")),
                Column("purpose", column_label(form, "spending_lines", "purpose", "用途")),
                Column("payee", column_label(form, "spending_lines", "payee", "收款方")),
                Column("amount", column_label(form, "spending_lines", "amount", "金额（元）"), Kind.MONEY),
            ],
            spending,
            totals(spending, ["amount"]) if spending else None,
        )
    )
    by_category: dict[str, Decimal] = {}
    for line in spending:
        name, amount = str(line["category"]), money(line["amount"])
        by_category[name] = by_category.get(name, Decimal("0")) + amount
    categories = [
        {
            "category": k,
            "amount": v,
            "share": (v / spent * 100).quantize(Decimal("0.1")) if spent else Decimal("0"),
        }
        for k, v in by_category.items()
    ]
    report.tables.append(
        Table(
            "二、支出结构",
            [
                Column("category", "支出类别"),
                Column("amount", "金额（元）", Kind.MONEY),
                Column("share", "占比", Kind.PERCENT),
            ],
            categories,
        )
    )
    report.tables.append(_household_table(households, "三、服务家庭与走访"))
    report.tables.append(_months_table(session, project, record.id))
    cases = [
        {
            "title": c.get("title") or "—",
            "household": c.get("household_ref") or "—",
            "summary": c.get("summary") or "—",
        }
        for c in data.get("typical_cases") or []
    ]
    report.tables.append(
        Table(
            "四、" + label(form, "typical_cases", "典型案例"),
            [
                Column("title", column_label(form, "typical_cases", "title", "案例标题")),
                Column("household", column_label(form, "typical_cases", "household_ref", "家庭编号")),
                Column("summary", column_label(form, "typical_cases", "summary", "案例摘要")),
            ],
            cases,
        )
    )
    report.notes.append(Line(label(form, "summary", "项目总结"), data.get("summary") or "—"))
    if data.get("visits_shortfall_reason"):
        report.notes.append(
            Line(label(form, "visits_shortfall_reason", "书面说明"), data["visits_shortfall_reason"])
        )
    return report
