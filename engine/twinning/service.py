"""Loading and listing the Twinning Plan pairings (public reference data from seed 003, attachment 1)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.instances.models import InstanceStatus, ProcessInstance
from engine.twinning.models import TwinningPairing

REFERENCE_FILE = Path(__file__).resolve().parent.parent / "reference" / "twinning_pairings.json"


def load_reference(session: Session, path: Path = REFERENCE_FILE) -> int:
    """Insert or update the pairings by code; return how many were written."""
    items = json.loads(path.read_text(encoding="utf-8"))["pairings"]
    existing = {p.code: p for p in session.scalars(select(TwinningPairing))}
    for item in items:
        row = existing.get(item["code"]) or TwinningPairing(code=item["code"])
        row.dispatching_agency = item["dispatching_agency"]
        row.county = item["county"]
        row.aided_agency = item["aided_agency"]
        session.add(row)
    session.flush()
    return len(items)


def pairings(session: Session) -> list[TwinningPairing]:
    return list(session.scalars(select(TwinningPairing).order_by(TwinningPairing.code)))


PROCESS_KEY = "twinning"
TARGET_LABELS = {
    "areas": ("受援地区", "Areas"),
    "beneficiaries": ("受益人数", "Beneficiaries"),
    "stations": ("社工站", "Stations"),
    "agencies": ("发展社会工作服务机构", "Social-work agencies developed"),
    "professionals_trained": ("培养专业人才", "Professionals trained"),
    "training_person_times": ("培训人次", "Training person-times"),
}
# summed over every working year's evaluation; "agencies" counts the agencies developed (孵化培育), as the
# plan's 发展社会工作服务机构数量 does — not the aided agencies paired
SUMMED = ("beneficiaries", "stations", "agencies", "professionals_trained", "training_person_times")


def targets(path: Path = REFERENCE_FILE) -> dict[str, int]:
    raw = json.loads(path.read_text(encoding="utf-8"))["targets"]
    return {key: int(raw[key]) for key in TARGET_LABELS}


def targets_progress(session: Session) -> list[dict[str, Any]]:
    """The plan's targets against what the annual evaluations of every twinning case reported."""
    achieved = dict.fromkeys(TARGET_LABELS, 0)
    counties = set()
    rows = session.scalars(
        select(ProcessInstance).where(
            ProcessInstance.process_key == PROCESS_KEY, ProcessInstance.status != InstanceStatus.TERMINATED
        )
    )
    for instance in rows:
        evaluations = instance.data.get("evaluations") or []
        if not evaluations:
            continue
        counties.add(instance.data.get("county"))
        for ev in evaluations:
            for key in SUMMED:
                achieved[key] += int(ev.get(key, 0))
    achieved["areas"] = len(counties)
    goal = targets()
    return [
        {
            "key": key,
            "label": {"zh": zh, "en": en},
            "target": goal[key],
            "achieved": achieved[key],
            "met": achieved[key] >= goal[key],
        }
        for key, (zh, en) in TARGET_LABELS.items()
    ]
