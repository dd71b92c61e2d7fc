"""The holiday calendar kept in the database: read it, enter a year, warn when next year is missing,
and re-compute open deadlines after a change (an explicit, audited admin action).

Deadlines already set are never moved by an edit of the calendar: ``put_year`` changes the table only;
``recompute`` (dry run first) moves the due times of open tasks whose deadline is counted in working
days from their creation — not those a supervisor set or extended by hand (``task.deadline_changed``),
nor dates and expressions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, event, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from engine.audit import service as audit
from engine.audit.models import AuditAction, AuditEvent
from engine.db import utcnow
from engine.deadlines import calendar
from engine.deadlines.holiday_models import (
    HOLIDAY,
    WORKDAY,
    HolidayCalendarVersion,
    HolidayDay,
    HolidayYear,
)
from engine.errors import Forbidden, Invalid
from engine.users import service as users
from engine.users.models import User

KINDS = (HOLIDAY, WORKDAY)
FIRST_YEAR, LAST_YEAR = 2000, 2100
WARN_FROM = (12, 1)  # month, day: from then on, next year must be entered


class DatabaseSource(calendar.Source):
    """The calendar's source: its own short connection, so a look-up never touches a caller's session."""

    def __init__(self, bind: Engine | Callable[[], Engine]):
        self._bind = bind

    @property
    def bind(self) -> Engine:
        return self._bind if isinstance(self._bind, Engine) else self._bind()

    def version(self) -> int:
        with Session(self.bind) as session:
            return _version(session)

    def load(self) -> calendar.Snapshot:
        with Session(self.bind) as session:
            version = _version(session)
            years: dict[int, calendar.YearDays] = {
                y: calendar.YearDays() for y in session.scalars(select(HolidayYear.year))
            }
            for row in session.scalars(select(HolidayDay)):
                days = years.get(row.year)
                if days is not None:
                    (days.holidays if row.kind == HOLIDAY else days.workdays)[row.day] = row.name
            return calendar.Snapshot(version, years)


def install(bind: Engine | Callable[[], Engine]) -> None:
    """Let the working-day calendar read the holiday table through ``bind`` (an engine, or a function
    giving the current one), at the start of the app and of the scheduler."""
    calendar.use_source(DatabaseSource(bind))


def _version(session: Session) -> int:
    return session.scalar(select(HolidayCalendarVersion.version).where(HolidayCalendarVersion.id == 1)) or 0


def _require_admin(user: User) -> None:
    if not users.is_admin(user):
        raise Forbidden("仅系统管理员可维护节假日日历 / only admins may maintain the holiday calendar")


# --- reading ----------------------------------------------------------------------------------------


@dataclass
class YearView:
    year: int
    entered: bool
    source: str | None  # 'library' (seeded), 'admin', or None when not entered
    library_covers: bool
    updated_at: dt.datetime | None
    days: list[dict[str, Any]] = field(default_factory=list)

    @property
    def covered(self) -> bool:
        return self.entered or self.library_covers


def get_year(session: Session, year: int) -> YearView:
    _check_year(year)
    row = session.get(HolidayYear, year)
    days = session.scalars(select(HolidayDay).where(HolidayDay.year == year).order_by(HolidayDay.day))
    return YearView(
        year=year,
        entered=row is not None,
        source=row.source if row else None,
        library_covers=calendar.library_covers(year),
        updated_at=row.updated_at if row else None,
        days=[{"date": d.day, "kind": d.kind, "name": d.name} for d in days],
    )


def view_year(session: Session, user: User, year: int) -> YearView:
    _require_admin(user)
    return get_year(session, year)


def entered_years(session: Session) -> list[int]:
    return list(session.scalars(select(HolidayYear.year).order_by(HolidayYear.year)))


def missing_years(session: Session, now: dt.datetime) -> list[int]:
    """Years deadlines may need that are not entered in the table: the current year (Shanghai) always,
    and the next one from 1 December. ``now`` is the caller's clock."""
    today = calendar.local_day(now)
    wanted = [today.year]
    if (today.month, today.day) >= WARN_FROM:
        wanted.append(today.year + 1)
    have = set(session.scalars(select(HolidayYear.year).where(HolidayYear.year.in_(wanted))))
    return [y for y in wanted if y not in have]


# --- entering a year ----------------------------------------------------------------------------------


def _check_year(year: int) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise Invalid.on("year", f"年份须在 {FIRST_YEAR}–{LAST_YEAR} 之间 / year out of range")


def _validate(year: int, days: list[dict[str, Any]]) -> list[tuple[dt.date, str, str]]:
    errors: dict[str, list[str]] = {}
    seen: set[dt.date] = set()
    clean = []
    for i, item in enumerate(days):
        day, kind, name = item.get("date"), item.get("kind"), (item.get("name") or "").strip()
        key = f"days.{i}"
        if not isinstance(day, dt.date):
            errors.setdefault(f"{key}.date", []).append("日期无效 / not a valid date")
            continue
        if day.year != year:
            errors.setdefault(f"{key}.date", []).append(
                f"日期不在 {year} 年内 / date outside the year {year}"
            )
        if day in seen:
            errors.setdefault(f"{key}.date", []).append("日期重复 / duplicate date")
        seen.add(day)
        if kind not in KINDS:
            errors.setdefault(f"{key}.kind", []).append(
                "类型须为 holiday 或 workday / kind must be holiday or workday"
            )
        if len(name) > 50:
            errors.setdefault(f"{key}.name", []).append("名称过长 / name too long")
        clean.append((day, str(kind), name))
    if errors:
        raise Invalid("节假日数据有误 / invalid holiday data", errors)
    return clean


def _bump(session: Session) -> None:
    updated = session.execute(
        update(HolidayCalendarVersion)
        .where(HolidayCalendarVersion.id == 1)
        .values(version=HolidayCalendarVersion.version + 1)
    )
    if not getattr(updated, "rowcount", 0):
        session.add(HolidayCalendarVersion(id=1, version=1))
    # this process drops its snapshot once the change is committed; the others within calendar.TTL
    event.listen(session, "after_commit", lambda _s: calendar.invalidate(), once=True)


def put_year(session: Session, user: User, year: int, days: list[dict[str, Any]]) -> YearView:
    """Enter (or replace) a year's holidays and adjusted working days; the year counts as entered.
    Deadlines already set do not move (see ``recompute``)."""
    _require_admin(user)
    _check_year(year)
    clean = _validate(year, days)
    before = get_year(session, year)
    row = session.get(HolidayYear, year)
    if row is None:
        row = HolidayYear(year=year, source="admin")
        session.add(row)
    row.source, row.updated_at, row.updated_by_id = "admin", utcnow(), user.id
    session.flush()
    session.execute(delete(HolidayDay).where(HolidayDay.year == year))
    session.add_all(HolidayDay(day=d, year=year, kind=k, name=n) for d, k, n in sorted(clean))
    _bump(session)
    session.flush()
    after = get_year(session, year)
    audit.record(
        session,
        AuditAction.CALENDAR_YEAR_SAVED,
        actor_id=user.id,
        details={
            "year": year,
            "before": {"entered": before.entered, "source": before.source, "days": before.days},
            "after": {"days": after.days},
        },
    )
    return after


# --- re-computing open deadlines ------------------------------------------------------------------------


@dataclass
class Recomputed:
    task_id: int
    instance_id: int
    deadline: str
    before: dt.datetime | None
    after: dt.datetime


def _changes(session: Session) -> list[tuple[Any, Recomputed]]:
    from engine.tasks.models import OPEN_STATUSES, HumanTask

    open_rows = select(HumanTask.id).where(
        HumanTask.state.in_(list(OPEN_STATUSES)), HumanTask.deadline.is_not(None)
    )
    rows = session.scalars(select(HumanTask).where(HumanTask.id.in_(open_rows)).order_by(HumanTask.id))
    # a due time a supervisor set by hand (task.deadline_changed) is theirs: never recomputed
    changed_by_hand = set(
        session.scalars(
            select(AuditEvent.task_id).where(
                AuditEvent.action == AuditAction.TASK_DEADLINE_CHANGED.value,
                AuditEvent.task_id.in_(open_rows),
            )
        )
    )
    changes = []
    for row in rows:
        if row.id in changed_by_hand:
            continue
        try:
            kind, _amount = calendar.parse_duration(row.deadline or "")
        except calendar.DeadlineError:
            continue  # an expression or a date field: not counted in working days
        if kind != "working":
            continue
        due = calendar.due_after(row.created_at, row.deadline or "")
        if row.due_at != due:
            changes.append((row, Recomputed(row.id, row.instance_id, row.deadline or "", row.due_at, due)))
    return changes


def recompute(session: Session, user: User, *, dry_run: bool = True, reason: str = "") -> list[Recomputed]:
    """Open tasks whose working-day deadline the current calendar puts elsewhere; unless ``dry_run``,
    their due time and SLA thresholds are moved (levels start again from green), each audited."""
    from engine.deadlines import sla as deadlines
    from engine.definitions.service import SPEC_CACHE
    from engine.instances.models import InstanceStatus, ProcessInstance

    _require_admin(user)
    text = (reason or "").strip()
    if not dry_run and not text:
        raise Invalid.on("reason", "请填写原因 / a reason is required")
    changes = _changes(session)
    if dry_run:
        return [c for _row, c in changes]
    for row, change in changes:
        instance = session.get(ProcessInstance, row.instance_id)
        if instance is None:
            continue
        meta = SPEC_CACHE.get(instance.definition).task_meta(row.bpmn_id)
        deadlines.set_due(row, change.after, meta.properties if meta else None)
        row.escalated_role = None
        if instance.status == InstanceStatus.RUNNING:
            # waking early is harmless: the scheduler recomputes the exact wake-up when it runs
            candidates = [t for t in (instance.next_wakeup_at, deadlines.next_sla_at(row)) if t is not None]
            instance.next_wakeup_at = min(candidates) if candidates else None
        audit.record(
            session,
            AuditAction.TASK_DEADLINE_RECOMPUTED,
            actor_id=user.id,
            instance_id=row.instance_id,
            task_id=row.id,
            details={
                "reason": text,
                "deadline": change.deadline,
                "before": change.before,
                "after": change.after,
            },
        )
    audit.record(
        session,
        AuditAction.CALENDAR_RECOMPUTED,
        actor_id=user.id,
        details={"reason": text, "tasks": [c.task_id for _row, c in changes]},
    )
    session.flush()
    return [c for _row, c in changes]
