"""Timer start events: a process whose start event is a timer is started by its schedule.

Deploying such a process creates one schedule per org unit named in the start event's ``org_units``
property (comma-separated codes; the city by default) and retires the previous version's schedules.
The scheduler claims a due schedule under a row lock (``FOR UPDATE SKIP LOCKED``), starts one
instance for that occurrence and moves the schedule to its next occurrence, in one transaction: a
scheduler that was down catches up every missed occurrence, once each, in order.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine import errors, expressions
from engine.bpmn import runtime
from engine.bpmn.parsing import CompiledDefinition
from engine.db import SHANGHAI, utcnow
from engine.deadlines.models import StartSchedule
from engine.definitions.models import ProcessDefinition
from engine.instances import optimistic
from engine.kernel import bus
from engine.orgs import service as orgs
from engine.orgs.models import OrgLevel

CITY = "310000"


@errors.family(errors.Invalid)
class ScheduleError(ValueError):
    pass


def _text(spec: Any) -> str:
    value = expressions.evaluate(spec.event_definition.expression, {})
    if not isinstance(value, str):
        raise ScheduleError(f"timer start event {spec.bpmn_id}: expression must give an ISO-8601 text")
    return value.strip()


def _step(duration_text: str, after: dt.datetime) -> dt.datetime:
    """``after`` moved by an ISO duration, months and years by the calendar."""
    parsed = TimerEventDefinition.parse_iso_duration(duration_text)
    return after + TimerEventDefinition.get_timedelta_from_start(parsed, after)


def first_run(spec: Any, now: dt.datetime) -> tuple[dt.datetime, int | None, str | None]:
    """(first occurrence, occurrences in all (None = unbounded), period text for cycles)."""
    text = _text(spec)
    definition = spec.event_definition
    if isinstance(definition, CycleTimerEventDefinition):
        parts = text.upper().replace("--", "/").split("/")
        cycles = int(parts[0][1:]) if parts[0][1:] else None
        period = next((p for p in parts[1:] if p.startswith("P")), None)
        if period is None:
            raise ScheduleError(f"timer start event {spec.bpmn_id}: cycle {text!r} has no period")
        starts = [p for p in parts[1:] if not p.startswith("P")]
        first = TimerEventDefinition.get_datetime(starts[0]) if starts else _step(period, now)
        return first.astimezone(dt.UTC), cycles, period
    if isinstance(definition, TimeDateEventDefinition):
        return TimerEventDefinition.get_datetime(text).astimezone(dt.UTC), 1, None
    return _step(text, now), 1, None


def on_deploy(
    session: Session, definition: ProcessDefinition, compiled: CompiledDefinition
) -> list[StartSchedule]:
    """Retire the key's old schedules and create the new version's (if it is timer-started)."""
    session.execute(
        update(StartSchedule)
        .where(StartSchedule.process_key == definition.key, StartSchedule.active.is_(True))
        .values(active=False)
    )
    created = []
    now = utcnow()
    for spec in runtime.timer_start_events(compiled.spec):
        first, remaining, _period = first_run(spec, now)
        codes = (spec.extensions.get("properties") or {}).get("org_units") or CITY
        for unit in _units(session, codes):
            row = StartSchedule(
                process_key=definition.key,
                definition_id=definition.id,
                bpmn_id=spec.bpmn_id,
                expression=_text(spec),
                org_unit_id=unit.id,
                next_run_at=first,
                remaining=remaining,
            )
            session.add(row)
            created.append(row)
    session.flush()
    return created


def _units(session: Session, codes: str) -> list[Any]:
    """Org units from a comma-separated list of codes and ``level:district`` / ``level:street`` tokens."""
    units = []
    for token in [c.strip() for c in codes.split(",") if c.strip()]:
        if token.startswith("level:"):
            try:
                level = OrgLevel(token.split(":", 1)[1])
            except ValueError as err:
                raise ScheduleError(f"unknown org level in {token!r}") from err
            units.extend(orgs.list_units(session, level=level))
        else:
            units.append(orgs.by_code(session, token))
    return units


def unit_problems(session: Session, compiled: CompiledDefinition) -> list[tuple[str, str]]:
    """(element, message) for each timer start event whose ``org_units`` names an unknown unit or level."""
    from engine.errors import NotFound

    found = []
    for spec in runtime.timer_start_events(compiled.spec):
        codes = (spec.extensions.get("properties") or {}).get("org_units") or CITY
        try:
            _units(session, codes)
        except (ScheduleError, NotFound) as err:
            found.append((spec.bpmn_id, str(err)))
    return found


def check(compiled: CompiledDefinition) -> list[str]:
    """Problems with a definition's timer start events (unreadable timers, unknown org units are
    reported at deploy by ``on_deploy``)."""
    problems = []
    for spec in runtime.timer_start_events(compiled.spec):
        try:
            first_run(spec, utcnow())
        except Exception as err:  # Spiff's parsers raise plain errors on bad ISO texts
            problems.append(f"{spec.bpmn_id}: {err}")
    return problems


def claim_due(session: Session, now: dt.datetime) -> StartSchedule | None:
    stmt = (
        select(StartSchedule)
        .where(StartSchedule.active.is_(True), StartSchedule.next_run_at <= now)
        .order_by(StartSchedule.next_run_at, StartSchedule.id)
        .limit(1)
    )
    if session.get_bind().dialect.name == "postgresql":
        return session.scalars(stmt.with_for_update(skip_locked=True)).one_or_none()
    row = session.scalars(stmt).one_or_none()
    if row is None:
        return None
    if optimistic.can_defer(session):
        # SQLite: the start's steps run before the write lock (issue 18 item 10); the row is claimed by
        # the same guarded no-op update at the first write (``StaleStep`` if another run took it)
        optimistic.guard(
            session,
            "UPDATE start_schedule SET runs = runs WHERE id = ? AND runs = ? AND active = 1",
            (row.id, row.runs),
        )
        return row
    # SQLite: take the write lock with a guarded no-op update, then re-read
    taken = session.execute(
        update(StartSchedule)
        .where(StartSchedule.id == row.id, StartSchedule.next_run_at == row.next_run_at)
        .values(runs=StartSchedule.runs)
        .execution_options(synchronize_session=False)
    )
    return row if taken.rowcount == 1 else None  # type: ignore[attr-defined]


def run(session: Session, row: StartSchedule) -> Any:
    """Start this occurrence's instance and advance the schedule (caller holds the row and commits).
    The case is started by the instances layer, which provides ``START_CASE`` (``engine.wiring``)."""
    definition = session.get(ProcessDefinition, row.definition_id)
    unit = orgs.get(session, row.org_unit_id)
    occurrence = row.next_run_at
    assert definition is not None and occurrence is not None
    instance = bus.call(
        bus.START_CASE,
        session,
        definition,
        unit,
        actor_id=None,
        business_key=case_number(row.process_key, unit.code, occurrence),
        data={"scheduled_for": occurrence.isoformat()},
        origin="schedule",
    )
    row.runs += 1
    if row.remaining is not None:
        row.remaining -= 1
    compiled_period = _period_of(row.expression)
    if (row.remaining is not None and row.remaining <= 0) or compiled_period is None:
        row.next_run_at, row.active = None, False
    else:
        row.next_run_at = _step(compiled_period, occurrence)
    session.flush()
    return instance


def case_number(process_key: str, unit_code: str, occurrence: dt.datetime) -> str:
    """A scheduled case's 案件编号 as staff read it, e.g. ``CMFR-310107014-20261201-0900``: the
    procedure's initials, the org unit and the occurrence in Shanghai time (no engine key on screens)."""
    initials = "".join(word[0] for word in process_key.split("_") if word).upper()
    return f"{initials}-{unit_code}-{occurrence.astimezone(SHANGHAI):%Y%m%d-%H%M}"


def _period_of(expression: str) -> str | None:
    if not expression.upper().startswith("R"):
        return None
    return next((p for p in expression.upper().replace("--", "/").split("/")[1:] if p.startswith("P")), None)
