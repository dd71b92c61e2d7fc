"""What the system is doing, read from the database: the figures behind the metrics' gauges and the
admins' 系统状态 page (scheduler processes, due wake-ups, incidents, outbox, seal lag, calendar
coverage, versions). Each figure is one indexed aggregate query."""

from __future__ import annotations

import datetime as dt
import platform
from dataclasses import dataclass, field
from importlib import metadata

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from engine.audit.models import AuditEvent, AuditPending
from engine.deadlines import calendar
from engine.deadlines.holiday_models import HolidayYear
from engine.incidents.models import Incident, IncidentStatus
from engine.instances.models import InstanceStatus, ProcessInstance
from engine.notifications.models import EmailStatus, Notification
from engine.system import heartbeat
from engine.system.models import SchedulerHeartbeat
from engine.tasks.models import HumanTask, SlaLevel, open_clause

SLA_COLOURS = {
    SlaLevel.GREEN: "green",
    SlaLevel.YELLOW: "yellow",
    SlaLevel.ORANGE: "orange",
    SlaLevel.RED: "red",
}
COVERAGE_CAP_DAYS = 400


@dataclass
class Figures:
    open_tasks_by_sla: dict[str, int] = field(default_factory=dict)
    open_incidents: int = 0
    outbox_pending: int = 0
    outbox_failed: int = 0
    seal_pending: int = 0
    seal_lag_seconds: float = 0.0
    schedulers_alive: int = 0
    heartbeat_age_seconds: float | None = None
    due_wakeups: int = 0
    oldest_due_seconds: float = 0.0
    calendar_covered_days: int = 0
    calendar_covered_until: dt.date | None = None


def figures(session: Session, now: dt.datetime) -> Figures:
    out = Figures()
    levels = dict(
        session.execute(
            select(HumanTask.sla_level, func.count()).where(open_clause()).group_by(HumanTask.sla_level)
        ).all()
    )
    out.open_tasks_by_sla = {name: int(levels.get(int(level), 0)) for level, name in SLA_COLOURS.items()}
    out.open_incidents = int(
        session.scalar(select(func.count()).where(Incident.status == IncidentStatus.OPEN)) or 0
    )
    mail = dict(
        session.execute(
            select(Notification.email_status, func.count())
            .where(Notification.email_status.in_([EmailStatus.PENDING, EmailStatus.FAILED]))
            .group_by(Notification.email_status)
        ).all()
    )
    out.outbox_pending = int(mail.get(EmailStatus.PENDING, 0))
    out.outbox_failed = int(mail.get(EmailStatus.FAILED, 0))
    pending, oldest_event = session.execute(
        select(func.count(AuditPending.event_id), func.min(AuditPending.event_id))
    ).one()
    out.seal_pending = int(pending or 0)
    if oldest_event is not None:
        at = session.scalar(select(AuditEvent.at).where(AuditEvent.id == oldest_event))
        out.seal_lag_seconds = max(0.0, (now - at).total_seconds()) if at is not None else 0.0
    beats = heartbeat.processes(session)
    out.schedulers_alive = sum(1 for row in beats if heartbeat.alive(row, now))
    running = [row for row in beats if row.stopped_at is None]
    if running:
        out.heartbeat_age_seconds = max(0.0, (now - max(r.beat_at for r in running)).total_seconds())
    due, oldest = session.execute(
        select(func.count(), func.min(ProcessInstance.next_wakeup_at)).where(
            ProcessInstance.next_wakeup_at <= now, ProcessInstance.status == InstanceStatus.RUNNING
        )
    ).one()
    out.due_wakeups = int(due or 0)
    if oldest is not None:
        oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=dt.UTC)
        out.oldest_due_seconds = max(0.0, (now - oldest).total_seconds())
    out.calendar_covered_days, out.calendar_covered_until = coverage(session, calendar.local_day(now))
    return out


def coverage(session: Session, today: dt.date) -> tuple[int, dt.date | None]:
    """How many days from ``today`` (included) the holiday data cover without a gap — the years entered
    in the table, else those the chinesecalendar package knows — capped at ``COVERAGE_CAP_DAYS``; and
    the last covered day (None when today's year is not covered)."""
    entered = set(session.scalars(select(HolidayYear.year)))
    year, last = today.year, None
    while True:
        if year not in entered and not calendar.library_covers(year):
            break
        last = dt.date(year, 12, 31)
        if (last - today).days + 1 >= COVERAGE_CAP_DAYS:
            break
        year += 1
    if last is None:
        return 0, None
    return min(COVERAGE_CAP_DAYS, (last - today).days + 1), last


def covers(session: Session, today: dt.date, days: int) -> bool:
    """Do the holiday data cover the ``days`` days from ``today``?"""
    return coverage(session, today)[0] >= days


@dataclass
class Versions:
    assistflow: str
    spiffworkflow: str
    python: str
    database: str
    schema: str


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "?"


def versions(session: Session) -> Versions:
    bind = session.get_bind()
    dialect = bind.dialect.name
    server = ".".join(str(p) for p in (bind.dialect.server_version_info or ()))
    schema = ", ".join(session.scalars(text("SELECT version_num FROM alembic_version"))) or "?"
    return Versions(
        assistflow=_version("assistflow"),
        spiffworkflow=_version("SpiffWorkflow"),
        python=platform.python_version(),
        database=f"{'PostgreSQL' if dialect == 'postgresql' else 'SQLite' if dialect == 'sqlite' else dialect} {server}".strip(),
        schema=schema,
    )


def scheduler_rows(session: Session, now: dt.datetime) -> list[tuple[SchedulerHeartbeat, bool]]:
    return [(row, heartbeat.alive(row, now)) for row in heartbeat.processes(session)]
