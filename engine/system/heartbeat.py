"""Scheduler heartbeats: each scheduler process keeps one row up to date (a job of its own), so the
status page and the metrics tell a live scheduler from a dead or stopped one, on any node."""

from __future__ import annotations

import datetime as dt
import os
import socket
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from engine.db import utcnow
from engine.system.models import SchedulerHeartbeat

INTERVAL_SECONDS = 5.0
# a process whose last beat is older than this is shown (and counted) as not alive
STALE_AFTER = dt.timedelta(seconds=60)
# rows of processes stopped or silent for longer than this are removed by the next beat
KEEP_FOR = dt.timedelta(days=7)


class Heartbeat:
    """This process's row (made at the first beat)."""

    def __init__(self) -> None:
        self.host = socket.gethostname()[:200]
        self.pid = os.getpid()
        self.row_id: int | None = None
        self.last_job: str | None = None
        self.jobs_run = 0

    def job_done(self, job_id: str) -> None:
        self.last_job, self.jobs_run = job_id, self.jobs_run + 1

    def beat(self, session_factory: Any) -> None:
        with session_factory() as session:
            now = utcnow()
            row = session.get(SchedulerHeartbeat, self.row_id) if self.row_id is not None else None
            if row is None:
                row = SchedulerHeartbeat(host=self.host, pid=self.pid, started_at=now, jobs_run=0)
                session.add(row)
                session.execute(delete(SchedulerHeartbeat).where(SchedulerHeartbeat.beat_at < now - KEEP_FOR))
            row.beat_at, row.last_job, row.jobs_run, row.stopped_at = now, self.last_job, self.jobs_run, None
            session.commit()
            self.row_id = row.id

    def stopped(self, session_factory: Any) -> None:
        """A graceful shutdown: the row says so (its beat no longer matters)."""
        if self.row_id is None:
            return
        with session_factory() as session:
            row = session.get(SchedulerHeartbeat, self.row_id)
            if row is not None:
                row.stopped_at = row.beat_at = utcnow()
                row.last_job, row.jobs_run = self.last_job, self.jobs_run
                session.commit()


def processes(session: Session) -> list[SchedulerHeartbeat]:
    """Every scheduler process known (newest beat first)."""
    return list(session.scalars(select(SchedulerHeartbeat).order_by(SchedulerHeartbeat.beat_at.desc())))


def alive(row: SchedulerHeartbeat, now: dt.datetime) -> bool:
    return row.stopped_at is None and now - row.beat_at <= STALE_AFTER
