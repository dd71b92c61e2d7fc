"""Loading and listing the Twinning Plan pairings (public reference data from seed 003, attachment 1)."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

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
