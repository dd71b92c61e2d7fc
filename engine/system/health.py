"""Readiness: is this process fit to serve? Each check is named with its result, so an operator (or a
load balancer's log) sees which one failed. A check never raises: its failure is its answer."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from engine import crypto
from engine.audit import signing
from engine.deadlines import calendar
from engine.system import status

CALENDAR_DAYS = 30


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    # A failing critical check makes the node not ready (503: a load balancer takes it out). The holiday
    # calendar is not critical: every node shares it, so failing readiness on it would take the whole
    # service down on 2 December; the node reports itself degraded instead (200, the check named).
    critical: bool = True


def _run(name: str, fn: Callable[[], tuple[bool, str]], *, critical: bool = True) -> Check:
    try:
        ok, detail = fn()
    except Exception as err:  # the failure is the check's answer, never a 500
        first = str(err).splitlines()[0][:300] if str(err) else ""
        return Check(name, False, f"{type(err).__name__}: {first}", critical)
    return Check(name, ok, detail, critical)


def ready(engine: Engine, expected_heads: set[str], now: dt.datetime) -> list[Check]:
    """database reachable, migrations at head, keys loaded, holiday calendar covers the next 30 days."""
    checks: list[Check] = []
    heads: dict[str, Any] = {}

    def database() -> tuple[bool, str]:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            try:
                heads["current"] = set(conn.scalars(text("SELECT version_num FROM alembic_version")))
            except Exception:  # reachable, not migrated: the migrations check says so
                heads["current"] = set()
        return True, engine.dialect.name

    checks.append(_run("database", database))

    def migrations() -> tuple[bool, str]:
        if "current" not in heads:
            return False, "database unreachable"
        if heads["current"] != expected_heads:
            return False, f"at {sorted(heads['current']) or 'nothing'}, head is {sorted(expected_heads)}"
        return True, ", ".join(sorted(expected_heads))

    checks.append(_run("migrations", migrations))

    def keys() -> tuple[bool, str]:
        crypto.keyring()
        audit = signing.keys()
        return True, f"data keys, index key, audit key {audit.current_id}"

    checks.append(_run("keys", keys))

    def holiday_calendar() -> tuple[bool, str]:
        today = calendar.local_day(now)
        with Session(engine) as session:
            days, until = status.coverage(session, today)
        if days < CALENDAR_DAYS:
            return False, (
                f"covers {days} of the next {CALENDAR_DAYS} days"
                + (f" (until {until.isoformat()})" if until else "")
                + ": enter the next year's holidays"
            )
        return True, f"covered until {until.isoformat() if until else '?'}"

    checks.append(_run("holiday_calendar", holiday_calendar, critical=False))
    return checks
