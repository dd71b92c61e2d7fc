"""Working days (mainland China, State Council holidays and adjusted working weekends) and deadlines.

Holidays come first from the holiday calendar kept in the database (tables ``holiday_year`` /
``holiday_day``, entered by admins when the State Council publishes a year; seeded from the
``chinesecalendar`` package). For a year the table lacks, the package is the fallback; for a year
neither covers, the calendar falls back to Monday–Friday and says so (``covered()``), so a deadline is
never refused. Deadlines are computed in Asia/Shanghai and stored in UTC.

The table is read through a *source* the service layer installs (``use_source``): this module never
opens a session itself. What it loaded is kept per process as one snapshot of every entered year (a few
hundred rows) and checked against the table's version counter at most every ``TTL`` seconds, so the
deadline arithmetic on the completion hot path costs dictionary look-ups; an edit is seen at once by
the process that made it (``invalidate()`` after its commit) and within ``TTL`` seconds by every other
process (web workers, the scheduler).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import chinese_calendar

from engine import errors
from engine.db import SHANGHAI

log = logging.getLogger("assistflow.calendar")

_WORKING = re.compile(
    r"^\s*(\d{1,3})\s*(working days?|work days?|business days?|个?工作日)\s*$", re.IGNORECASE
)
_CALENDAR = re.compile(r"^\s*(\d{1,3})\s*(days?|天|日|个自然日|自然日)\s*$", re.IGNORECASE)
_HOURS = re.compile(r"^\s*(\d{1,4})\s*(hours?|小时)\s*$", re.IGNORECASE)
_ISO = re.compile(r"^P(?!$)(?:(\d+)W)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


@errors.family(errors.Invalid)
class DeadlineError(ValueError):
    """A deadline text that cannot be understood."""


@dataclass(frozen=True)
class YearDays:
    """One entered year: its holidays and its adjusted working days (weekend days worked), with names."""

    holidays: dict[dt.date, str] = field(default_factory=dict)
    workdays: dict[dt.date, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Snapshot:
    version: int
    years: dict[int, YearDays]


class Source:
    """Where the entered years come from (the database, through the service layer)."""

    def version(self) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def load(self) -> Snapshot:  # pragma: no cover - interface
        raise NotImplementedError


TTL = 30.0  # seconds between two checks of the table's version counter
_EMPTY = Snapshot(-1, {})


class _Cache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.source: Source | None = None
        self.snapshot: Snapshot | None = None
        self.checked = 0.0
        self.clock: Callable[[], float] = time.monotonic


_cache = _Cache()


def use_source(source: Source | None) -> None:
    """Install (or remove, with None) the source of entered years; the cache starts again."""
    with _cache.lock:
        _cache.source, _cache.snapshot, _cache.checked = source, None, 0.0


def invalidate() -> None:
    """Drop this process's snapshot: the next look-up reloads (after an edit committed here)."""
    with _cache.lock:
        _cache.snapshot = None


def _snapshot() -> Snapshot:
    source, snapshot, now = _cache.source, _cache.snapshot, _cache.clock()
    if source is None:
        return _EMPTY
    if snapshot is not None and now - _cache.checked < TTL:
        return snapshot
    with _cache.lock:
        snapshot = _cache.snapshot
        try:
            if snapshot is not None and source.version() == snapshot.version:
                _cache.checked = now
                return snapshot
            fresh = source.load()
        except Exception:  # the table unreadable (e.g. not migrated yet): say so, keep what we had
            log.exception(
                "holiday table unreadable; %s until the next check", "cached years" if snapshot else "library"
            )
            fresh = snapshot or _EMPTY
        _cache.snapshot, _cache.checked = fresh, now
        return fresh


def entered(year: int) -> bool:
    """Is ``year`` entered in the holiday table?"""
    return year in _snapshot().years


def year_days(year: int) -> YearDays | None:
    return _snapshot().years.get(year)


def library_covers(year: int) -> bool:
    try:
        chinese_calendar.is_workday(dt.date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def covered(day: dt.date) -> bool:
    """Do the holiday data (the table, else the library) cover ``day``'s year?"""
    return entered(day.year) or library_covers(day.year)


@functools.lru_cache(maxsize=8192)
def _library_workday(day: dt.date) -> bool:
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return day.weekday() < 5


def is_workday(day: dt.date) -> bool:
    """Chinese official working day: the holiday table first, the chinesecalendar package for a year the
    table lacks, Monday–Friday for a year neither covers."""
    entered_year = _snapshot().years.get(day.year)
    if entered_year is None:
        return _library_workday(day)
    if day in entered_year.holidays:
        return False
    if day in entered_year.workdays:
        return True
    return day.weekday() < 5


def add_working_days(day: dt.date, n: int) -> dt.date:
    """The ``n``-th working day after ``day`` (``day`` itself not counted); n may be negative."""
    step = 1 if n >= 0 else -1
    remaining = abs(n)
    current = day
    while remaining:
        current += dt.timedelta(days=step)
        if is_workday(current):
            remaining -= 1
    return current


def working_days_between(start: dt.date, end: dt.date) -> int:
    """Working days in (start, end]."""
    count, current = 0, start
    while current < end:
        current += dt.timedelta(days=1)
        count += is_workday(current)
    return count


def local_day(moment: dt.datetime) -> dt.date:
    return moment.astimezone(SHANGHAI).date()


def end_of_day(day: dt.date) -> dt.datetime:
    """The first instant after ``day`` in Shanghai, in UTC: a deadline 'on' a day ends there."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), SHANGHAI).astimezone(dt.UTC)


MAX_DEADLINE = dt.timedelta(days=100 * 366)  # no deadline is a century away (issue 18 item 12)


def _bounded(delta: dt.timedelta, text: str) -> dt.timedelta:
    if delta > MAX_DEADLINE:
        raise DeadlineError(f"期限超过 100 年 / deadline {text[:80]!r} is longer than 100 years")
    return delta


def parse_duration(text: str) -> tuple[str, int | dt.timedelta]:
    """('working', n) for working days, ('delta', timedelta) for calendar time."""
    value = text.strip()
    if m := _WORKING.match(value):
        return "working", int(m.group(1))
    try:
        if m := _CALENDAR.match(value):
            return "delta", _bounded(dt.timedelta(days=int(m.group(1))), text)
        if m := _HOURS.match(value):
            return "delta", _bounded(dt.timedelta(hours=int(m.group(1))), text)
        if m := _ISO.match(value.upper()):
            weeks, days, hours, minutes, seconds = (int(g) if g else 0 for g in m.groups())
            delta = dt.timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)
            return "delta", _bounded(delta, text)
    except (OverflowError, ValueError) as err:  # more days than a timedelta holds
        raise DeadlineError(f"期限过长 / deadline {text[:80]!r} is too long") from err
    raise DeadlineError(
        f"无法识别的期限 / cannot read deadline {text!r} (e.g. '10 working days', '10个工作日', '30 days', 'PT48H')"
    )


def due_after(start: dt.datetime, text: str) -> dt.datetime:
    """The due time of something started at ``start`` with a deadline written as ``text``.

    Working days end at the close of the n-th working day after the start day (Shanghai time);
    calendar days and ISO durations are added to the start instant.
    """
    kind, amount = parse_duration(text)
    if kind == "working":
        assert isinstance(amount, int)
        return end_of_day(add_working_days(local_day(start), amount))
    assert isinstance(amount, dt.timedelta)
    return start + amount


def shift_working_days(moment: dt.datetime, n: int) -> dt.datetime:
    """``moment`` moved by ``n`` working days, keeping the time of day (Shanghai)."""
    local = moment.astimezone(SHANGHAI)
    day = add_working_days(local.date(), n)
    return dt.datetime.combine(day, local.timetz()).astimezone(dt.UTC)


def shift(moment: dt.datetime, text: str, sign: int = 1) -> dt.datetime:
    """``moment`` moved by a duration text, later (``sign`` 1) or earlier (-1); working days keep the time of day."""
    kind, amount = parse_duration(text)
    if kind == "working":
        assert isinstance(amount, int)
        return shift_working_days(moment, sign * amount)
    assert isinstance(amount, dt.timedelta)
    return moment + sign * amount


def extend(due: dt.datetime, text: str) -> dt.datetime:
    """A due time moved later by ``text``; working days count from the day the old deadline ended."""
    kind, amount = parse_duration(text)
    if kind == "working":
        assert isinstance(amount, int)
        last_day = local_day(due - dt.timedelta(microseconds=1))
        return end_of_day(add_working_days(last_day, amount))
    assert isinstance(amount, dt.timedelta)
    return due + amount
