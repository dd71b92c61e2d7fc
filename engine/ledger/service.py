"""Counting services and payments once across civil-affairs projects."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import crypto
from engine.errors import Invalid
from engine.ledger.models import ServiceRecord

PROCESS_NAMES = {
    "bridge_plan_project": "桥计划",
    "bridge_plan_household": "桥计划",
    "comprehensive_assistance": "市民综合帮扶",
    "service_referral_3a": "浦东“3A”服务救助",
}


def new_record(
    session: Session,
    *,
    kind: str,
    instance: Any,
    project_ref: str,
    household_id_number: str | None,
    task_id: int | None = None,
    item_ref: str | None = None,
    field: str = "service_item_ref",
) -> ServiceRecord:
    """The row counting one service or payment for ``project_ref``, not added to the session yet; an item
    already counted anywhere is refused (422 on ``field``). Reads only, and flushes nothing: a step's
    rule may call it before the step is worked out (engine.procedures.counting)."""
    if item_ref:
        with session.no_autoflush:
            existing = session.scalars(
                select(ServiceRecord).where(ServiceRecord.item_ref == item_ref)
            ).first()
        if existing is not None:
            if existing.project_ref == project_ref:
                message = "该服务事项已在本项目记录，不得重复计算 / this service item is already counted in this project"
            else:
                name = PROCESS_NAMES.get(existing.process_key, existing.process_key)
                message = (
                    f"该服务事项已计入其他民政项目（{name}），不得重复计算 / "
                    f"this service item is already counted in another civil-affairs project ({existing.process_key})"
                )
            raise Invalid.on(field, message)
    return ServiceRecord(
        item_ref=item_ref or None,
        kind=kind,
        process_key=instance.process_key,
        project_ref=project_ref,
        instance_id=instance.id,
        task_id=task_id,
        household_id_number=household_id_number or None,
        household_id_index=crypto.blind_index(household_id_number),
    )


def add(session: Session, row: ServiceRecord) -> ServiceRecord:
    """Write a row made by :func:`new_record`."""
    session.add(row)
    session.flush()
    return row


def record(session: Session, **what: Any) -> ServiceRecord:
    """Count one service or payment for ``project_ref`` now (:func:`new_record`, then written)."""
    return add(session, new_record(session, **what))


def case_record(session: Session, instance: Any, row: Any, *, kind: str, id_field: str) -> ServiceRecord:
    """The row counting a completed step of a case that is its own project (a payment, a delivered
    service) for the household whose ID number the case holds in ``id_field``; not added yet
    (:func:`new_record`; written by engine.procedures.counting)."""
    return new_record(
        session,
        kind=kind,
        instance=instance,
        project_ref=f"{instance.process_key}:{instance.id}",
        household_id_number=(instance.data or {}).get(id_field),
        task_id=row.id,
    )


def other_projects(
    session: Session, household_id_number: str | None, project_ref: str
) -> list[dict[str, Any]]:
    """Other projects that have already served this household (a flag for staff, not a refusal)."""
    if not household_id_number:
        return []
    rows = session.execute(
        select(ServiceRecord.process_key, ServiceRecord.project_ref)
        .where(
            ServiceRecord.household_id_index == crypto.blind_index(household_id_number),
            ServiceRecord.project_ref != project_ref,
        )
        .distinct()
        .order_by(ServiceRecord.project_ref)
    )
    return [
        {"process_key": key, "project_ref": ref, "name": PROCESS_NAMES.get(key, key)} for key, ref in rows
    ]
