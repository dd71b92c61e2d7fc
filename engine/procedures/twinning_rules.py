"""Twinning Plan 牵手计划: the plan's rules checked a second time (issue 17), next to
:mod:`engine.procedures.twinning`.

Notice: 沪民社工发〔2021〕 "牵手计划" 实施方案 (``../shared/seeds/003_*``). Each working year runs with its own
dates: a case works from the year it starts in (not 2021 replayed), every date of a year's records lies in
that working year, and the working days counted are those of the workers dispatched for that year.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from engine.db import utcnow
from engine.deadlines.calendar import SHANGHAI
from engine.errors import Invalid
from engine.policy import service as policy
from engine.procedures import before_complete, on_start
from engine.procedures.twinning import KEY, evaluations_of
from engine.records import service as records

# "从2021年至2025年" (the 14th five-year plan): the policy parameters ``plan_first_year`` and
# ``plan_last_year`` of the set in force when the case starts (seeded by migration 0029). A case started
# later keeps working from its own year: the notice is silent on later years, the default is one working
# year, the year it starts in.


@on_start(KEY)
def working_years(session: Session, unit: Any, data: dict[str, Any]) -> dict[str, Any]:
    """The working years run from the year the case starts in (Shanghai time) to the plan's last year."""
    today = utcnow().astimezone(SHANGHAI)
    kept = policy.in_force(session, KEY, today.date())
    values = kept.values if kept is not None else {}
    if "plan_first_year" not in values or "plan_last_year" not in values:
        raise Invalid.on("data", "牵手计划的规划年度未设定（政策参数）/ the Twinning plan years are not set")
    year = max(today.year, int(values["plan_first_year"]))
    return {"first_year": year, "last_year": max(year, int(values["plan_last_year"]))}


def _year_of(value: Any) -> int:
    return (value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])).year


def _in_year(instance: Any, field: str, value: Any, what: str) -> None:
    year = int(instance.data["working_year"])
    if _year_of(value) != year:
        raise Invalid.on(
            field,
            f"{what}须在本工作年度（{year}年）内 / {what} must fall in the working year {year}",
        )


@before_complete(KEY, "annual_plan")
def plan_in_year(session: Session, instance: Any, row: Any, data: dict[str, Any]) -> None:
    _in_year(instance, "signed_on", data["signed_on"], "签署日期")


@before_complete(KEY, "annual_plan_aided")
def aided_sign_off(session: Session, instance: Any, row: Any, data: dict[str, Any]) -> dict[str, Any]:
    """Both agencies sign the year's plan: the dispatching agency drafts it, the aided agency adds its part."""
    _in_year(instance, "signed_on", data["signed_on"], "签署日期")
    plan = records.latest(session, instance.id, "annual_plan")
    return {
        "annual_plan_signatures": {
            "year": instance.data["working_year"],
            "dispatching_agency": str((plan.data if plan else {}).get("signed_on")),
            "aided_agency": str(data["signed_on"]),
        }
    }


@before_complete(KEY, "dispatch_record")
def dispatched_in_year(session: Session, instance: Any, row: Any, data: dict[str, Any]) -> None:
    _in_year(instance, "dispatched_on", data["dispatched_on"], "派遣日期")


@before_complete(KEY, "working_days")
def days_of_this_years_workers(session: Session, instance: Any, row: Any, data: dict[str, Any]) -> None:
    """每个工作年度援派社会工作者参与计划时间总和累计不少于40个工作日: the days of the workers dispatched
    for this working year, within it."""
    dispatch = records.latest(session, instance.id, "dispatch_record")
    dispatched = {w["worker_ref"] for w in (dispatch.data if dispatch else {}).get("workers", [])}
    year = int(instance.data["working_year"])
    for number, entry in enumerate(data["day_log"], start=1):
        if entry["worker_ref"] not in dispatched:
            raise Invalid.on(
                "day_log",
                f"第{number}行：社工 {entry['worker_ref']} 不是 {year} 年度派遣的社工 / row {number}: "
                f"{entry['worker_ref']} was not dispatched for {year}",
            )
        if _year_of(entry["from_date"]) != year:
            raise Invalid.on(
                "day_log",
                f"第{number}行：开始日期须在 {year} 年度内 / row {number}: the date must fall in {year}",
            )


@before_complete(KEY, "summary_evaluation")
def summary_totals(session: Session, instance: Any, row: Any, data: dict[str, Any]) -> dict[str, Any]:
    """The joint summary adds up every working year's evaluation record."""
    evaluations = evaluations_of(session, instance.id)
    return {
        "years_evaluated": [e["year"] for e in evaluations],
        "beneficiaries_total": sum(int(e.get("beneficiaries", 0)) for e in evaluations),
        "agencies_developed_total": sum(int(e.get("agencies", 0)) for e in evaluations),
        "subsidy_total": sum((Decimal(str(e["subsidy"])) for e in evaluations), Decimal("0")),
    }
