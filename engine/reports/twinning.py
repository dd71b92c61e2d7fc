"""The Twinning Plan's yearly evaluation report (seed 003: 联合组成检查评估小组…开展总结评估)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from engine.errors import NotFound
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
    iso_date,
    label,
    local_date,
    money,
)


def _evaluations(session: Session, case: ProcessInstance) -> list[StepRecord]:
    return records.all_of_step(session, case.id, "annual_evaluation")


def _year_of(record: StepRecord) -> int:
    entry = (record.derived or {}).get("evaluation") or {}
    return integer(entry.get("year"))


def twinning_years(session: Session, case: ProcessInstance) -> list[int]:
    return sorted({_year_of(r) for r in _evaluations(session, case)} - {0})


def twinning_yearly(session: Session, case: ProcessInstance, year: Any) -> Report:
    evaluations = _evaluations(session, case)
    wanted = integer(year)
    index = next((i for i, r in enumerate(evaluations) if _year_of(r) == wanted), None)
    if index is None:
        raise NotFound(f"该年度没有评估记录 / no evaluation for working year {year}")
    record = evaluations[index]
    since = evaluations[index - 1].id if index else None
    form, data = form_of(record), record.data or {}
    entry = (record.derived or {}).get("evaluation") or {}
    cdata = case.data or {}
    report = Report(
        kind="twinning_yearly",
        title="牵手计划年度评估报告",
        case_number=case_number(case),
        lines=[
            Line("结对编号", str(cdata.get("pairing_code") or "—")),
            Line("受援县", str(cdata.get("county") or "—")),
            Line("工作年度", f"{wanted}年"),
            Line("评估日期", local_date(record.completed_at), Kind.DATE),
            Line(label(form, "rating", "评估等级"), choice(form, "rating", data.get("rating"))),
            Line(
                label(form, "joint_inspection", "沪甘联合检查组已检查"),
                bool(data.get("joint_inspection")),
                Kind.BOOL,
            ),
        ],
        signatures=["派出机构（盖章）", "受援机构（盖章）", "市民政局", "甘肃省民政厅"],
    )
    figures = ["beneficiaries", "stations", "agencies", "professionals_trained", "training_person_times"]
    report.tables.append(
        Table(
            "一、年度指标完成情况",
            [Column(k, label(form, k, k), Kind.INT) for k in figures]
            + [Column("subsidy_amount", label(form, "subsidy_amount", "本年度补贴（元）"), Kind.MONEY)],
            [
                {k: integer(data.get(k)) for k in figures}
                | {"subsidy_amount": money(data.get("subsidy_amount"))}
            ],
        )
    )

    def of_year(step: str) -> list[StepRecord]:
        return [
            r
            for r in records.all_of_step(session, case.id, step)
            if (since is None or r.id > since) and r.id <= record.id
        ]

    workers = []
    for dispatch in of_year("dispatch_record"):
        for w in (dispatch.data or {}).get("workers") or []:
            workers.append(
                {
                    "worker": w.get("worker_ref") or "—",
                    "certificate": bool(w.get("national_certificate")),
                    "years": integer(w.get("direct_service_years")),
                    "dispatched_on": iso_date((dispatch.data or {}).get("dispatched_on")),
                }
            )
    days: dict[str, int] = {}
    for log in of_year("working_days"):
        for line in (log.data or {}).get("day_log") or []:
            ref = str(line.get("worker_ref") or "—")
            days[ref] = days.get(ref, 0) + integer(line.get("days"))
    for w in workers:
        w["days"] = days.get(str(w["worker"]), 0)
    dispatches = of_year("dispatch_record")
    dform = form_of(dispatches[0]) if dispatches else None
    report.tables.append(
        Table(
            "二、派遣社工与派驻工作日（每年不少于2名、合计不少于40个工作日）",
            [
                Column("worker", column_label(dform, "workers", "worker_ref", "社工编号")),
                Column(
                    "certificate",
                    column_label(dform, "workers", "national_certificate", "持全国社工证书"),
                    Kind.BOOL,
                ),
                Column(
                    "years", column_label(dform, "workers", "direct_service_years", "直接服务年限"), Kind.INT
                ),
                Column("dispatched_on", "派遣日期", Kind.DATE),
                Column("days", "派驻工作日", Kind.INT),
            ],
            workers,
            totals(workers, ["days"]) if workers else None,
            empty="本年度无派遣记录",
        )
    )
    report.notes.append(Line("工作日合计", integer(entry.get("working_days")), Kind.INT))
    return report
