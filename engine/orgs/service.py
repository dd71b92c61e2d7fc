"""Org units: reference data loading and scope arithmetic."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import NotFound
from engine.orgs.models import OrgLevel, OrgUnit

REFERENCE_FILE = Path(__file__).resolve().parent.parent / "reference" / "org_units.json"


class Scoped(Protocol):
    """Anything placed in the org tree: a task, an instance."""

    org_unit_id: int
    district_id: int | None
    street_id: int | None


def covers(unit: OrgUnit, target: Scoped) -> bool:
    """Does ``unit`` contain ``target`` (a unit contains itself)?"""
    if unit.level == OrgLevel.CITY:
        return True
    if unit.level == OrgLevel.DISTRICT:
        return target.district_id == unit.id
    if unit.level == OrgLevel.STREET:
        return target.street_id == unit.id
    return target.org_unit_id == unit.id


def load_reference(session: Session, path: Path = REFERENCE_FILE) -> int:
    """Insert or update the reference org units; return how many were written."""
    units = json.loads(path.read_text(encoding="utf-8"))["units"]
    by_code = {u.code: u for u in session.scalars(select(OrgUnit))}
    count = 0
    for item in units:  # parents precede children in the file
        unit = by_code.get(item["code"])
        if unit is None:
            unit = OrgUnit(code=item["code"])
            session.add(unit)
            by_code[item["code"]] = unit
        parent = by_code.get(item["parent"]) if item.get("parent") else None
        unit.level = OrgLevel(item["level"])
        unit.name_zh = item["name_zh"]
        unit.name_en = item["name_en"]
        session.flush()
        unit.parent_id = parent.id if parent else None
        if unit.level == OrgLevel.DISTRICT:
            unit.district_id, unit.street_id = unit.id, None
        elif unit.level == OrgLevel.STREET:
            unit.district_id = parent.district_id if parent else None
            unit.street_id = unit.id
        elif unit.level == OrgLevel.COMMITTEE:
            unit.district_id = parent.district_id if parent else None
            unit.street_id = parent.street_id if parent else None
        else:
            unit.district_id = unit.street_id = None
        count += 1
    session.flush()
    return count


def by_code(session: Session, code: str) -> OrgUnit:
    unit = session.scalar(select(OrgUnit).where(OrgUnit.code == code))
    if unit is None:
        raise NotFound(f"组织机构不存在 / org unit '{code}' not found")
    return unit


def unit_of_step(session: Session, properties: dict[str, str], data: dict[str, Any]) -> OrgUnit | None:
    """The unit a step belongs to when it is not its case's: the BPMN property ``org_unit_field`` names the
    data field holding that unit's code (a Bridge Plan transfer's acceptance by the receiving district)."""
    field = properties.get("org_unit_field")
    code = data.get(field) if field else None
    if not isinstance(code, str) or not code:
        return None
    with session.no_autoflush:  # read while a step is computed: no write (a deferred lock) before it
        return session.scalar(select(OrgUnit).where(OrgUnit.code == code))


def get(session: Session, unit_id: int) -> OrgUnit:
    unit = session.get(OrgUnit, unit_id)
    if unit is None:
        raise NotFound(f"组织机构不存在 / org unit {unit_id} not found")
    return unit


def list_units(
    session: Session, level: OrgLevel | None = None, parent_code: str | None = None
) -> list[OrgUnit]:
    stmt = select(OrgUnit).order_by(OrgUnit.code)
    if level is not None:
        stmt = stmt.where(OrgUnit.level == level)
    if parent_code is not None:
        stmt = stmt.where(OrgUnit.parent_id == by_code(session, parent_code).id)
    return list(session.scalars(stmt))
