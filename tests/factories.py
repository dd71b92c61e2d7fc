"""Builders for test data, used by service and API tests."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from api import demo_materials
from engine.instances import service as instances
from engine.tasks import service as tasks
from engine.users import service as users

_seq = itertools.count(1)

STREET = "310107014"  # a Putuo street in the reference data
OTHER_STREET = "310107015"
PUDONG_STREET = "310115004"


def application_data(**overrides: Any) -> dict[str, Any]:
    data = {
        "household_size": 3,
        "hardship_category": "dibao_edge",
        "aid_types": ["money", "services"],
        "amount_requested": "6000.50",
        "reason": "家庭成员突发重病，医疗支出较大",
        "credit_commitment_signed": True,
    }
    data.update(overrides)
    return data


def review_data(**overrides: Any) -> dict[str, Any]:
    data = {"decision": "approve", "amount_approved": "5000.00", "opinion": "情况属实，同意帮扶"}
    data.update(overrides)
    return data


def visit_data(more: bool = False, **overrides: Any) -> dict[str, Any]:
    data = {"visit_date": "2026-11-20", "summary": "入户走访，了解近况", "more_visits_needed": more}
    data.update(overrides)
    return data


def disbursement_data(**overrides: Any) -> dict[str, Any]:
    data = {"amount_paid": "5000.00", "paid_on": "2026-11-21"}
    data.update(overrides)
    return data


def start_demo(session: Session, username: str = "pt_advisor", org: str = STREET, **kwargs: Any):
    user = users.by_username(session, username)
    business_key = kwargs.pop("business_key", f"T-{next(_seq):05d}")
    return instances.start(session, user, "demo_assistance", org, business_key=business_key, **kwargs)


def open_task(session: Session, instance_id: int, bpmn_id: str):
    return next(t for t in tasks.open_tasks_of(session, instance_id) if t.bpmn_id == bpmn_id)


def complete(session: Session, username: str, instance_id: int, bpmn_id: str, data: dict[str, Any]):
    """Complete a step as ``username``, first uploading a sample file for each material it requires."""
    user = users.by_username(session, username)
    row = open_task(session, instance_id, bpmn_id)
    demo_materials.supply(session, user, row)
    return tasks.complete(session, user, row.id, data)


def to_parallel_stage(session: Session):
    """A demo case approved and waiting for both the visit and the disbursement."""
    instance = start_demo(session)
    complete(session, "pt_advisor", instance.id, "application", application_data())
    complete(session, "pt_officer", instance.id, "review", review_data())
    return instance


def money(value: str) -> Decimal:
    return Decimal(value)
