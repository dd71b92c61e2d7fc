"""Policy parameter sets: the numbers a notice fixes for a procedure (caps, counts, thresholds), one
version per change, each in force from its effective date."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base, UTCDateTime, utcnow


class PolicyParameterSet(Base):
    """One version of a procedure's parameters: ``values`` maps a parameter name to its value (an
    integer, a decimal written as text, or text), ``labels`` its name for people (中文 / English)."""

    __tablename__ = "policy_parameter_set"
    __table_args__ = (UniqueConstraint("process_key", "version", name="uq_policy_parameter_set_key_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_key: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[dt.date] = mapped_column(Date)
    values: Mapped[dict[str, Any]] = mapped_column(JSON)
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    note: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
