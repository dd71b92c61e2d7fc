"""Put the holiday calendar back as migration 0021 seeded it (tests that enter years change it)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from engine.deadlines import calendar
from engine.deadlines.holiday_models import HolidayCalendarVersion, HolidayDay, HolidayYear

_MIGRATION = Path(__file__).resolve().parent.parent / "migrations" / "versions" / "0021_holiday_calendar.py"


def _seed_days() -> list[dict]:
    spec = importlib.util.spec_from_file_location("_holiday_migration", _MIGRATION)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module._library_days()


def restore_if_changed(session: Session) -> bool:
    """Reseed when an admin entered or replaced a year (the seed has only 'library' years)."""
    changed = session.scalar(select(HolidayYear.year).where(HolidayYear.source != "library").limit(1))
    if changed is None:
        return False
    days = _seed_days()
    session.execute(delete(HolidayDay))
    session.execute(delete(HolidayYear))
    session.add_all(HolidayYear(year=y, source="library") for y in sorted({d["year"] for d in days}))
    session.flush()
    session.add_all(HolidayDay(day=d["day"], year=d["year"], kind=d["kind"], name=d["name"]) for d in days)
    session.execute(update(HolidayCalendarVersion).values(version=HolidayCalendarVersion.version + 1))
    session.commit()
    calendar.invalidate()
    return True
