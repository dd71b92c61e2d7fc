"""The values of the Bridge Plan's one-household plan (一户一策帮扶计划) and the Twinning Plan's
four-party agreement (牵手计划四方协议), taken from the case's step records and case data.

The plan is printed from the ``household_plan`` step (once the family stays in the service): the
five-dimension needs of the pre-test and the plan itself, with the signature lines of the family, the
social worker and the agency. The agreement is printed from the ``agency_selection`` step: the pairing
(Shanghai's dispatching agency, the aided agency in Gansu and its county), the needs both sides
confirmed, the commitments the notice fixes (workers, working days, the yearly subsidy) and a block per
party to sign and seal; each party then uploads its signed page at its own signing step.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from engine.documents import values as V
from engine.households.links import parties
from engine.households.people import UNKNOWN_NAME
from engine.instances.models import ProcessInstance
from engine.records import service as records
from engine.records.models import StepRecord

NEEDS = (
    ("need_economic", "经济"),
    ("need_psychological", "心理"),
    ("need_medical", "医疗"),
    ("need_education", "教育"),
    ("need_employment", "就业"),
)


def household_plan(session: Session, instance: Any, kind: Any, decision: StepRecord) -> dict[str, Any]:
    data = dict(instance.data or {})
    project = session.get(ProcessInstance, instance.parent_id) if instance.parent_id else None
    project_data = dict(project.data or {}) if project is not None else {}
    assessed = records.latest(session, instance.id, "needs_assessment")
    needs = dict(assessed.data or {}) if assessed is not None else {}
    needs_form = V.form_of(assessed) if assessed is not None else None
    plan = dict(decision.data or {})
    named = parties(session, [instance.id]).get(instance.id)
    return {
        "title": kind.label("zh"),
        "case_number": instance.business_key or f"#{instance.id}",
        "household_ref": data.get("household_ref"),
        "head": named[2] if named and named[2] and named[2] != UNKNOWN_NAME else "户主",
        "id_number": V.masked_id(data.get("head_id_number")),
        "org": instance.org_unit.name("zh"),
        "project": project.business_key if project is not None and project.business_key else "—",
        "project_year": data.get("project_year"),
        "agency": project_data.get("agency_name"),
        "budget_share": data.get("budget_share"),
        "needs": [(label, V.choice(needs_form, key, needs.get(key))) for key, label in NEEDS],
        "needs_note": needs.get("needs_note"),
        "pre_test_score": needs.get("pre_test_score"),
        "assessed_by": assessed.actor.display_name if assessed is not None and assessed.actor else "—",
        "assessed_on": V.local_date(assessed.completed_at) if assessed is not None else None,
        "goals": plan.get("goals"),
        "methods": V.choice(V.form_of(decision), "methods", plan.get("methods")),
        "planned_visits": plan.get("planned_visits"),
        "planned_by": decision.actor.display_name if decision.actor is not None else "—",
        "planned_on": V.local_date(decision.completed_at),
    }


def twinning_agreement(session: Session, instance: Any, kind: Any, decision: StepRecord) -> dict[str, Any]:
    data = dict(instance.data or {})
    needs = records.latest(session, instance.id, "needs_assessment")
    subsidy = data.get("annual_subsidy")
    return {
        "title": kind.label("zh"),
        "case_number": instance.business_key or f"#{instance.id}",
        "pairing_code": data.get("pairing_code"),
        "county": data.get("county"),
        "dispatching_agency": data.get("dispatching_agency"),
        "aided_agency": data.get("aided_agency"),
        "needs_summary": (needs.data or {}).get("needs_summary") if needs is not None else None,
        "selection_note": (decision.data or {}).get("selection_note"),
        "selected_on": V.local_date(decision.completed_at),
        "min_workers": data.get("min_workers"),
        "min_service_years": data.get("min_service_years"),
        "min_working_days": data.get("min_working_days"),
        "annual_subsidy": Decimal(str(subsidy)) if subsidy not in (None, "") else None,
        "parties": [
            ("甲方", "上海市民政局"),
            ("乙方", "甘肃省民政厅"),
            ("丙方（派出机构）", data.get("dispatching_agency") or "—"),
            ("丁方（受援机构）", data.get("aided_agency") or "—"),
        ],
    }
