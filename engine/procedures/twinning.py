"""Twinning Plan 牵手计划: rules of a Shanghai–Gansu pairing's case that need the database."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import Invalid
from engine.instances.models import InstanceStatus, ProcessInstance
from engine.procedures import before_complete
from engine.records import service as records
from engine.twinning import service as twinning
from engine.twinning.models import TwinningPairing

KEY = twinning.PROCESS_KEY
# The four-party agreement is one multi-instance step (``sign_agreement``), one instance per party in
# that party's inbox: each instance's role names the party whose signature it records.
PARTIES = {
    "city_officer": "city_bureau",
    "gansu_officer": "gansu_department",
    "agency_lead": "dispatching_agency",
    "aided_agency": "aided_agency",
}


@before_complete(KEY, "needs_assessment")
def pairing(session: Session, instance: Any, row: Any, data: dict[str, Any]) -> dict[str, Any]:
    """The pairing must be one of the notice's eleven, and be run by one case at a time."""
    code = data["pairing_code"]
    found = session.scalar(select(TwinningPairing).where(TwinningPairing.code == code))
    if found is None:
        raise Invalid.on(
            "pairing_code", f"结对编号 {code} 不在牵手计划名单中 / {code} is not a Twinning pairing"
        )
    others = session.scalars(
        select(ProcessInstance).where(
            ProcessInstance.process_key == KEY,
            ProcessInstance.status == InstanceStatus.RUNNING,
            ProcessInstance.id != instance.id,
        )
    )
    if any(other.data.get("pairing_code") == code for other in others):
        raise Invalid.on(
            "pairing_code", f"结对 {code} 已有进行中的牵手计划 / pairing {code} already has a running case"
        )
    return {
        "dispatching_agency": found.dispatching_agency,
        "county": found.county,
        "aided_agency": found.aided_agency,
    }


@before_complete(KEY, "sign_agreement")
def signature(session: Session, instance: Any, row: Any, data: dict[str, Any]) -> dict[str, Any]:
    party = PARTIES[row.candidate_role]
    return {
        f"signature_{party}": {"signed_on": data["signed_on"], "signatory_title": data["signatory_title"]}
    }


@before_complete(KEY, "dispatch_record")
def dispatch(session: Session, instance: Any, row: Any, data: dict[str, Any]) -> dict[str, Any]:
    return {"workers_dispatched": len(data["workers"])}


@before_complete(KEY, "working_days")
def working_days(session: Session, instance: Any, row: Any, data: dict[str, Any]) -> dict[str, Any]:
    return {"working_days_total": sum(int(d["days"]) for d in data["day_log"])}


@before_complete(KEY, "annual_evaluation")
def annual_evaluation(session: Session, instance: Any, row: Any, data: dict[str, Any]) -> dict[str, Any]:
    """Keep each year's figures on the case; the plan's targets are summed over them."""
    year = instance.data["working_year"]
    entry = {
        "year": year,
        "rating": data["rating"],
        "workers": instance.data.get("workers_dispatched", 0),
        "working_days": instance.data.get("working_days_total", 0),
        "subsidy": Decimal(str(data["subsidy_amount"])),
        **{key: data[key] for key in twinning.SUMMED},
    }
    kept = [e for e in instance.data.get("evaluations", []) if e.get("year") != year]
    # the year's entry also stays in this step's own record (``derived``), one record per working year
    return {"evaluations": [*kept, entry], "evaluation": entry}


def evaluations_of(session: Session, instance_id: int) -> list[dict[str, Any]]:
    """One entry per working year, read from the annual-evaluation records in the order they were done."""
    out = []
    for record in records.all_of_step(session, instance_id, "annual_evaluation"):
        entry = (record.derived or {}).get("evaluation")
        if entry is not None:
            out.append(entry)
    return out


@before_complete(KEY, "summary_evaluation")
def summary(session: Session, instance: Any, row: Any, data: dict[str, Any]) -> dict[str, Any]:
    evaluations = evaluations_of(session, instance.id)
    return {
        "evaluations": evaluations,
        "subsidy_total": sum((Decimal(str(e["subsidy"])) for e in evaluations), Decimal("0")),
        "targets_progress": twinning.targets_progress(session),
    }
