"""The holiday calendar kept in the database: State Council holidays and adjusted working days (调休)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base, UTCDateTime, utcnow

HOLIDAY = "holiday"
WORKDAY = "workday"  # an adjusted working day: a weekend day worked (调休上班)


class HolidayYear(Base):
    """A year whose holidays and adjusted working days are entered (complete): the table decides it."""

    __tablename__ = "holiday_year"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(String(20))  # 'library' (seeded) or 'admin'
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))


class HolidayDay(Base):
    __tablename__ = "holiday_day"
    __table_args__ = (
        CheckConstraint("kind IN ('holiday', 'workday')", name="kind"),
        Index("ix_holiday_day_year", "year"),
    )

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    year: Mapped[int] = mapped_column(ForeignKey("holiday_year.year", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(50), default="")


class HolidayCalendarVersion(Base):
    """One row: bumped by every edit, read by each process at most once per TTL to drop its cache."""

    __tablename__ = "holiday_calendar_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(Integer, default=0)
