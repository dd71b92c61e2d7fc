"""Schedules of timer-started processes: one row per (process, org unit), with its next run."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base, UTCDateTime, utcnow


class StartSchedule(Base):
    __tablename__ = "start_schedule"
    __table_args__ = (Index("ix_start_schedule_active_next", "active", "next_run_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_key: Mapped[str] = mapped_column(String(100))
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id"))
    bpmn_id: Mapped[str] = mapped_column(String(100))
    expression: Mapped[str] = mapped_column(String(200))
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"))
    next_run_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Occurrences still to run; None for an unbounded cycle (R/…).
    remaining: Mapped[int | None] = mapped_column(Integer)
    runs: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
