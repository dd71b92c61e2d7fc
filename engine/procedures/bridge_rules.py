"""Bridge Plan 桥计划: the notice's rules checked on the project's steps (second pass, issue 17).

Notice: 沪民救发〔2024〕9号 (``../shared/seeds/000_*``). The rules that read the database live here, next to
the older ones in :mod:`engine.procedures.bridge` (which run first: both register on the same steps).
Where the notice is silent, the default chosen is named on the constant or the rule and in
``docs/PROCEDURES.md``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import Conflict, Invalid
from engine.instances.models import InstanceStatus, ProcessInstance
from engine.policy import service as policy
from engine.procedures import before_complete
from engine.procedures.bridge import HOUSEHOLD, PROJECT, visit_counts

# 三、1: "本项目市级预算资金共180万元" (2024): the city's total budget of a project year is the policy
# parameter ``city_budget`` of ``bridge_plan_project`` in force on 1 January of that year (seeded for 2024
# by migration 0029). A later year without its own figure keeps the latest earlier year's (default where
# the notice is silent) until an admin enters the year's set. 二、（四）3: "平均每户开展个案走访不少于5次；
# 每个小组组织活动不少于4次" are the parameters ``min_avg_visits`` and ``min_group_activities``.


def city_budget(session: Session, year: int) -> Decimal | None:
    """The city's Bridge Plan budget for ``year`` (the latest earlier year's figure when not entered)."""
    value = policy.yearly_value(session, PROJECT, "city_budget", year)
    return Decimal(str(value)).quantize(Decimal("0.01")) if value is not None else None


def _projects_of_year(session: Session, year: int, exclude: int) -> list[ProcessInstance]:
    """Projects of ``year`` that hold (or held) a city allocation: every one not terminated."""
    rows = session.scalars(
        select(ProcessInstance).where(
            ProcessInstance.process_key == PROJECT,
            ProcessInstance.status != InstanceStatus.TERMINATED,
            ProcessInstance.id != exclude,
        )
    )
    return [p for p in rows if p.data.get("project_year") == year]


@before_complete(PROJECT, "city_plan")
def city_allocation(session: Session, instance: Any, row: Any, data: dict[str, Any]) -> dict[str, Any]:
    """One project per district and year; the districts' allocations stay within the city's budget."""
    year = int(data["project_year"])
    others = _projects_of_year(session, year, instance.id)
    if any(p.district_id == instance.district_id for p in others):
        raise Conflict(
            f"本区 {year} 年度已有桥计划项目，每区每年一个项目 / this district already has a Bridge Plan "
            f"project for {year}: one project per district and year",
            {"project_year": [f"本区 {year} 年度已有桥计划项目 / the district already has a {year} project"]},
        )
    budget = city_budget(session, year)
    if budget is None:
        raise Invalid.on(
            "project_year",
            f"{year} 年度市级预算尚未设定 / no city budget is set for {year}",
        )
    allocated = sum((Decimal(str(p.data.get("district_allocation", 0))) for p in others), Decimal("0"))
    amount = Decimal(str(data["district_allocation"]))
    if allocated + amount > budget:
        left = budget - allocated
        raise Invalid.on(
            "district_allocation",
            f"超出 {year} 年度市级预算：总额 {budget} 元，已下拨各区 {allocated} 元，尚余 {left} 元 / above the "
            f"city budget for {year}: {budget} in total, {allocated} allocated, {left} left",
        )
    return {"city_budget": budget, "city_allocated_before": allocated}


@before_complete(PROJECT, "agreement_filing")
def filed_agreement_is_the_contract(session: Session, instance: Any, row: Any, data: dict[str, Any]) -> None:
    """五: the district's signed service agreement is filed with the city: the one signed at the contract."""
    signed = str(instance.data.get("contract_signed_on"))
    if str(data["agreement_signed_on"]) != signed:
        raise Invalid.on(
            "agreement_signed_on",
            f"协议签订日期与签约日期 {signed} 不符 / the agreement date differs from the contract's ({signed})",
        )


# --- who may be called and listed: the district's candidates ------------------------------------------


def _candidates(instance: Any) -> dict[str, dict[str, Any]]:
    return {c["household_ref"]: c for c in instance.data.get("candidates", [])}


@before_complete(PROJECT, "willingness_calls")
def calls_to_candidates(session: Session, instance: Any, row: Any, data: dict[str, Any]) -> None:
    """二、（四）1: the agency calls the families of the district's first list (初步筛选名单), no others."""
    candidates = _candidates(instance)
    for number, call in enumerate(data["calls"], start=1):
        if call["household_ref"] not in candidates:
            raise Invalid.on(
                "calls",
                f"第{number}行：家庭 {call['household_ref']} 不在区级候选名单中，不能确认意愿 / row {number}: "
                f"household {call['household_ref']} is not on the district's candidate list",
            )


@before_complete(PROJECT, "annual_list")
def listed_are_candidates(session: Session, instance: Any, row: Any, data: dict[str, Any]) -> None:
    """A family on the annual list is a candidate, with the head and street the district gave for it."""
    candidates = _candidates(instance)
    for number, h in enumerate(data["households"], start=1):
        found = candidates.get(h["household_ref"])
        if found is None:
            raise Invalid.on(
                "households",
                f"第{number}行：家庭 {h['household_ref']} 不在区级候选名单中 / row {number}: household "
                f"{h['household_ref']} is not on the district's candidate list",
            )
        if found["head_id_number"] != h["head_id_number"] or found["street"] != h["street"]:
            raise Invalid.on(
                "households",
                f"第{number}行：家庭 {h['household_ref']} 的户主或街镇与候选名单不符 / row {number}: the head "
                f"or street of household {h['household_ref']} differs from the candidate list",
            )


# --- the final report: typical cases, visits -----------------------------------------------------------


def _household_cases(session: Session, project_id: int) -> list[ProcessInstance]:
    return list(
        session.scalars(
            select(ProcessInstance).where(
                ProcessInstance.parent_id == project_id, ProcessInstance.process_key == HOUSEHOLD
            )
        )
    )


@before_complete(PROJECT, "final_report")
def typical_cases_and_visits(
    session: Session, instance: Any, row: Any, data: dict[str, Any]
) -> dict[str, Any]:
    """六、（五）≥5 typical cases, each a household the project holds, each once; 二、（四）3 on average
    ≥5 home visits per household served (households that withdrew are not counted; default)."""
    cases = _household_cases(session, instance.id)
    held = {c.data.get("household_ref") for c in cases}
    # Default (the notice is silent): a project holding fewer households than the minimum presents one
    # typical case per household.
    needed = min(int(policy.case_value(session, instance, "min_typical_cases")), len(held))
    typical = data["typical_cases"]
    seen: set[str] = set()
    for number, case in enumerate(typical, start=1):
        ref = case["household_ref"]
        if ref not in held:
            raise Invalid.on(
                "typical_cases",
                f"第{number}行：家庭 {ref} 不是本项目的服务家庭 / row {number}: household {ref} is not "
                "served by this project",
            )
        if ref in seen:
            raise Invalid.on(
                "typical_cases",
                f"第{number}行：家庭 {ref} 已作为典型案例 / row {number}: household {ref} is already a "
                "typical case",
            )
        seen.add(ref)
    if len(typical) < needed:
        raise Invalid.on(
            "typical_cases",
            f"典型案例不少于{needed}个（本项目 {len(held)} 户）/ at least {needed} typical cases",
        )
    served = [c for c in cases if c.data.get("outcome") != "withdrawn"]
    visits = sum(visit_counts(session, [c.id for c in served]).values()) if served else 0
    average = (Decimal(visits) / len(served)).quantize(Decimal("0.01")) if served else Decimal("0")
    explained = (data.get("visits_shortfall_reason") or "").strip()
    minimum = int(policy.case_value(session, instance, "min_avg_visits"))
    if served and average < minimum and not explained:
        raise Invalid.on(
            "visits_shortfall_reason",
            f"平均每户走访 {average} 次，少于{minimum}次，须书面说明 / on average "
            f"{average} visits per household (fewer than {minimum}): explain",
        )
    return {"visits_per_served_household": average, "households_served": len(served)}
