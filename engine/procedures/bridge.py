"""Bridge Plan 桥计划: rules of the district project and its household cases that need the database.

A project (org unit: the district) opens one ``bridge_plan_household`` instance per confirmed family
(org unit: the family's street) with ``parent_id`` pointing back at it. A household's budget share is
stored on the household case, so moving the case to another district's project (人户分离) moves its
share with it, and a project's cap is always the sum of the shares of the cases it holds now.
"""

from __future__ import annotations

import functools
from decimal import ROUND_DOWN, Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.audit import service as audit
from engine.audit.models import AuditAction
from engine.errors import Invalid
from engine.instances import optimistic
from engine.instances.models import InstanceStatus, ProcessInstance
from engine.ledger import service as ledger
from engine.messages import service as messages
from engine.orgs.models import OrgLevel, OrgUnit
from engine.policy import service as policy
from engine.procedures import before_complete, counting
from engine.records import service as records

PROJECT = "bridge_plan_project"
ANNUAL_LIST_CONFIRMED = "bridge_annual_list_confirmed"  # the household procedure's message start event
HOUSEHOLD_CLOSED = "bridge_household_closed"  # a household case's end: its project counts it closed
HOUSEHOLD = "bridge_plan_household"
CENT = Decimal("0.01")
COUNTED_ACTIONS = ("visit", "group", "service")


def project_ref(project_id: int | None) -> str:
    return f"{PROJECT}:{project_id}"


def _streets(session: Session, codes: set[str]) -> dict[str, OrgUnit]:
    rows = session.scalars(select(OrgUnit).where(OrgUnit.code.in_(codes), OrgUnit.level == OrgLevel.STREET))
    return {u.code: u for u in rows}


def _check_streets(session: Session, instance: Any, rows: list[dict[str, Any]], field: str) -> None:
    streets = _streets(session, {r["street"] for r in rows})
    for number, r in enumerate(rows, start=1):
        unit = streets.get(r["street"])
        if unit is None or unit.district_id != instance.district_id:
            raise Invalid.on(
                field,
                f"第{number}行：街镇代码 {r['street']} 不属于本区 / row {number}: street {r['street']} "
                "is not in this district",
            )


@before_complete(PROJECT, "candidate_list")
def candidates_in_district(session: Session, instance: Any, row: Any, data: dict[str, Any]) -> None:
    _check_streets(session, instance, data["candidates"], "candidates")


@before_complete(PROJECT, "annual_list")
def annual_list(session: Session, instance: Any, row: Any, data: dict[str, Any]) -> dict[str, Any]:
    """Only families who confirmed their willingness; flag families other projects already serve."""
    households = data["households"]
    _check_streets(session, instance, households, "households")
    willing = {c["household_ref"] for c in instance.data.get("calls", []) if c.get("willing")}
    for number, h in enumerate(households, start=1):
        if h["household_ref"] not in willing:
            raise Invalid.on(
                "households",
                f"第{number}行：家庭 {h['household_ref']} 未确认服务意愿，不能列入年度名单 / row {number}: "
                f"household {h['household_ref']} has not confirmed its willingness",
            )
    flagged = []
    for h in households:
        others = ledger.other_projects(session, h["head_id_number"], project_ref(instance.id))
        if others:
            flagged.append({"household_ref": h["household_ref"], "projects": others})
    total = sum((line["amount"] for line in data["budget_lines"]), Decimal("0"))
    return {
        "household_count": len(households),
        "budget_total": total,
        "budget_cap": Decimal(instance.data["per_household_cap"]) * len(households),
        "flagged_households": flagged,
    }


@before_complete(PROJECT, "district_confirmation")
def open_household_cases(session: Session, instance: Any, row: Any, data: dict[str, Any]) -> dict[str, Any]:
    """On confirmation, one household case per listed family, each carrying its budget share."""
    if data["decision"] != "approve":
        return {}
    households = instance.data["households"]
    share = (Decimal(str(instance.data["budget_total"])) / len(households)).quantize(CENT, ROUND_DOWN)
    streets = _streets(session, {h["street"] for h in households})
    opened = []
    for h in households:
        # the district's confirmation is the message that opens each family's case (its start event)
        outcome = messages.send(
            session,
            ANNUAL_LIST_CONFIRMED,
            f"{instance.data['project_year']}-{h['household_ref']}",
            {
                "project_year": instance.data["project_year"],
                "household_ref": h["household_ref"],
                "head_id_number": h["head_id_number"],
                "budget_share": share,
                "project_key": project_ref(instance.id),  # whom its closure notice goes to
            },
            actor_id=row.assignee_id,
            unit=streets[h["street"]],
            sender=instance,
        )
        opened.extend(outcome.started)
    return {
        "household_case_ids": opened,
        "budget_share_per_household": share,
        "project_key": project_ref(instance.id),  # the key its closure notices carry
    }


def _households(session: Session, project_id: int) -> list[ProcessInstance]:
    return list(session.scalars(select(ProcessInstance).where(ProcessInstance.parent_id == project_id)))


def visit_counts(session: Session, case_ids: list[int]) -> dict[int, int]:
    """Home visits per household case, counted from the case-work records (one per visit, never
    overwritten), not from a counter in the case data."""
    return records.count(session, case_ids, "case_work", where={"action": "visit"})


def project_figures(session: Session, project_id: int, per_household_cap: Any) -> dict[str, Any]:
    """Households held now, their budget shares and visits, for reports and the final check."""
    cases = _households(session, project_id)
    shares = sum((Decimal(str(c.data.get("budget_share", 0))) for c in cases), Decimal("0"))
    cap = min(shares, Decimal(per_household_cap) * len(cases))
    visits = sum(visit_counts(session, [c.id for c in cases]).values())
    return {
        "households_total": len(cases),
        "households_open": sum(1 for c in cases if c.status == InstanceStatus.RUNNING),
        "households_withdrawn": sum(1 for c in cases if c.data.get("outcome") == "withdrawn"),
        "budget_cap": cap,
        "visits_total": visits,
        "visits_per_household": (Decimal(visits) / len(cases)).quantize(CENT) if cases else Decimal("0"),
    }


@before_complete(PROJECT, "monthly_report")
def one_report_per_month(session: Session, instance: Any, row: Any, data: dict[str, Any]) -> None:
    """The monthly reports are the project's collection of ``monthly_report`` records."""
    for report in records.all_of_step(session, instance.id, "monthly_report"):
        if report.data.get("report_month") == data["report_month"]:
            raise Invalid.on(
                "report_month",
                f"{data['report_month']}月的进度报告已报送 / the report for month {data['report_month']} is already in",
            )


@before_complete(PROJECT, "final_report")
def final_report(session: Session, instance: Any, row: Any, data: dict[str, Any]) -> dict[str, Any]:
    """Every household case closed, and actual spending within the cap of the households held now."""
    figures = project_figures(session, instance.id, instance.data["per_household_cap"])
    if figures["households_open"]:
        raise Invalid.on(
            "_form",
            f"尚有 {figures['households_open']} 户个案未结案，不能提交终期报告 / "
            f"{figures['households_open']} household cases are still open",
        )
    spent = sum((line["amount"] for line in data["spending_lines"]), Decimal("0"))
    if spent > figures["budget_cap"]:
        raise Invalid.on(
            "spending_lines",
            f"实际支出 {spent} 元超过预算上限 {figures['budget_cap']} 元（平均每户不超过5000元）/ "
            f"spending {spent} is above the cap {figures['budget_cap']}",
        )
    by_category: dict[str, Decimal] = {}
    for line in data["spending_lines"]:
        by_category[line["category"]] = by_category.get(line["category"], Decimal("0")) + line["amount"]
    rate = (Decimal(data["satisfied"]) / data["surveyed"] * 100).quantize(Decimal("0.1"))
    return {**figures, "spent_total": spent, "spending_by_category": by_category, "satisfaction_rate": rate}


# --- household cases -------------------------------------------------------------------------------


@before_complete(HOUSEHOLD, "needs_assessment")
def flag_other_projects(session: Session, instance: Any, row: Any, data: dict[str, Any]) -> dict[str, Any]:
    others = ledger.other_projects(
        session, instance.data.get("head_id_number"), project_ref(instance.parent_id)
    )
    return {"served_by_other_projects": others}


@before_complete(HOUSEHOLD, "case_work")
def count_service(session: Session, instance: Any, row: Any, data: dict[str, Any]) -> None:
    """Each visit, group activity or service goes into the ledger; an item counts in one project only."""
    if data["action"] not in COUNTED_ACTIONS:
        if data.get("service_item_ref"):
            raise Invalid.on(
                "service_item_ref", "只有走访、小组和服务记录可计入服务事项 / only services count"
            )
        return
    counting.record(
        session,
        kind=data["action"],
        instance=instance,
        project_ref=project_ref(instance.parent_id),
        household_id_number=instance.data.get("head_id_number"),
        task_id=row.id,
        item_ref=data.get("service_item_ref"),
    )


@before_complete(HOUSEHOLD, "closure")
def visits_or_reason(session: Session, instance: Any, row: Any, data: dict[str, Any]) -> None:
    visits, needed = (
        visit_counts(session, [instance.id])[instance.id],
        int(policy.case_value(session, instance, "min_visits")),
    )
    if visits < needed and not (data.get("short_visits_reason") or "").strip():
        raise Invalid.on(
            "short_visits_reason",
            f"入户走访仅 {visits} 次，少于 {needed} 次，结案须说明原因 / only {visits} home visits "
            f"(fewer than {needed}): give the reason to close",
        )


def _transfer_target(session: Session, instance: Any, code: str) -> tuple[OrgUnit, ProcessInstance]:
    """The street of residence and its district's project of the same year, which confirmed its list."""
    street = _streets(session, {code}).get(code)
    if street is None:
        raise Invalid.on("target_street", f"街镇代码 {code} 不存在 / no such street")
    if street.district_id == instance.district_id:
        raise Invalid.on(
            "target_street", "居住地与户籍地同属一区，无需转介 / same district: nothing to transfer"
        )
    year = instance.data.get("project_year")
    target = next(
        (
            p
            for p in session.scalars(
                select(ProcessInstance).where(
                    ProcessInstance.process_key == PROJECT,
                    ProcessInstance.status == InstanceStatus.RUNNING,
                    ProcessInstance.district_id == street.district_id,
                )
            )
            if p.data.get("project_year") == year
        ),
        None,
    )
    if target is None:
        raise Invalid.on(
            "target_street",
            f"居住地区尚无 {year} 年度桥计划项目，无法转介 / the district of residence has no Bridge Plan project for {year}",
        )
    if target.data.get("household_case_ids") is None:  # its annual list not yet confirmed by the district
        raise Invalid.on(
            "target_street",
            f"居住地区 {year} 年度桥计划项目尚未确认年度名单，暂不能转入 / the district of residence's {year} "
            "project has not confirmed its annual list yet",
        )
    return street, target


@before_complete(HOUSEHOLD, "transfer")
def transfer(session: Session, instance: Any, row: Any, data: dict[str, Any]) -> dict[str, Any]:
    """人户分离: the district of registration asks; the city coordinates; the receiving district accepts.
    Nothing moves until then (see :func:`transfer_accepted`)."""
    street, target = _transfer_target(session, instance, data["target_street"])
    return {"transfer_target_street": street.code, "transfer_target_project": target.id}


@before_complete(HOUSEHOLD, "transfer_acceptance")
def transfer_accepted(session: Session, instance: Any, row: Any, data: dict[str, Any]) -> dict[str, Any]:
    """Accepted by the district of residence: the case, and its budget share, move to its project."""
    if data["receiving_decision"] != "accept":
        return {"transfer_target_street": None, "transfer_target_project": None}
    try:  # checked again: the target project may have ended since the request
        street, target = _transfer_target(session, instance, instance.data["transfer_target_street"])
    except Invalid as err:
        raise Invalid.on("receiving_decision", err.message) from err
    source_id, share = instance.parent_id, instance.data.get("budget_share")
    instance.org_unit_id, instance.district_id, instance.street_id = street.id, street.district_id, street.id
    instance.parent_id = target.id
    details = {
        "household_case": instance.id,
        "from_project": source_id,
        "to_project": target.id,
        "budget_share": share,
    }
    # the project it leaves counts it as closed; its own closure will go to the project it joins
    messages.send(
        session,
        HOUSEHOLD_CLOSED,
        project_ref(source_id),
        {"household_ref": instance.data.get("household_ref"), "outcome": "transferred"},
        actor_id=row.assignee_id,
        sender=instance,
    )
    for logged in (source_id, target.id, instance.id):  # both projects' trails and the case's own
        record = functools.partial(
            audit.record,
            session,
            AuditAction.CASE_TRANSFERRED,
            actor_id=row.assignee_id,
            instance_id=logged,
            details=details,
        )
        optimistic.soon(session, record)  # after the message (SQLite: written with the step)
    return {
        "transferred_to_street": street.code,
        "transfer_count": int(instance.data.get("transfer_count", 0)) + 1,
        "transfer_target_street": None,
        "transfer_target_project": None,
        "project_key": project_ref(target.id),
    }
