"""Monthly business figures of comprehensive assistance (notice 002, 四(二): 区、街镇帮扶组织每月按时填报
业务及资金使用报表): next to the payments (engine.procedures.comprehensive), the report counts the cases
received, approved and refused and the households and people helped in its unit (a street, or a whole
district) during the month.

Our definitions (the notice names the report, not its lines): received = applications registered;
approved = approvals (street or district) granting aid; refused = cases ended refused (at acceptance,
assessment, review or approval); households helped = cases with a payment in the month (immediate aid
or disbursement); people helped = the household sizes of those cases."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.audit.models import AuditAction, AuditEvent
from engine.instances.models import ProcessInstance
from engine.procedures import on_start
from engine.procedures.comprehensive import KEY, PAID_STEPS, REPORT_KEY, _previous_month, _scheduled_for
from engine.scope import unit_clause

APPROVAL_STEPS = ("street_approval", "district_approval")


@on_start(REPORT_KEY)
def monthly_business_figures(session: Session, unit: Any, data: dict[str, Any]) -> dict[str, Any]:
    start, end = _previous_month(_scheduled_for(data.get("scheduled_for")))
    events = session.execute(
        select(AuditEvent.instance_id, AuditEvent.details)
        .join(ProcessInstance, ProcessInstance.id == AuditEvent.instance_id)
        .where(
            ProcessInstance.process_key == KEY,
            AuditEvent.action == AuditAction.TASK_COMPLETED.value,
            AuditEvent.at >= start,
            AuditEvent.at < end,
            unit_clause(unit, ProcessInstance),
        )
    )
    received = approved = 0
    paid: set[int] = set()
    for instance_id, details in events:
        step = details.get("bpmn_id")
        if step == "application":
            received += 1
        elif step in APPROVAL_STEPS and (details.get("data") or {}).get("approval_decision") == "approve":
            approved += 1
        elif step in PAID_STEPS:
            paid.add(instance_id)
    ended = session.scalars(
        select(ProcessInstance).where(
            ProcessInstance.process_key == KEY,
            ProcessInstance.ended_at >= start,
            ProcessInstance.ended_at < end,
            unit_clause(unit, ProcessInstance),
        )
    ).all()
    refused = sum(1 for i in ended if (i.data or {}).get("outcome") == "rejected")
    helped = (
        session.scalars(select(ProcessInstance).where(ProcessInstance.id.in_(paid))).all() if paid else []
    )
    people = sum(int((i.data or {}).get("household_size") or 0) for i in helped)
    return {
        "report_level": unit.level.value,
        "cases_received": received,
        "cases_approved": approved,
        "cases_refused": refused,
        "households_helped": len(helped),
        "people_helped": people,
    }
