"""One row per scheduler process: when it started, its last heartbeat, and when it stopped cleanly."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base, UTCDateTime, utcnow


class SchedulerHeartbeat(Base):
    __tablename__ = "scheduler_heartbeat"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    beat_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # the last job the process finished, and how many it ran
    last_job: Mapped[str | None] = mapped_column(String(40))
    jobs_run: Mapped[int] = mapped_column(Integer, default=0)
    # set by a graceful shutdown (SIGTERM); a process that died keeps None and its beat grows old
    stopped_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
