"""One row per service or payment a project counts, so no item is counted twice and households served
by several projects are visible."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.crypto import EncryptedText
from engine.db import Base, UTCDateTime, utcnow


class ServiceRecord(Base):
    __tablename__ = "service_record"
    __table_args__ = (Index("ix_service_record_household", "household_id_index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # A reference the service item carries across projects; unique, so it counts in one project only.
    item_ref: Mapped[str | None] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(32))  # visit, group, service, disbursement …
    process_key: Mapped[str] = mapped_column(String(100))
    # The project that counts the item: "bridge_plan_project:12", "comprehensive_assistance:40" …
    project_ref: Mapped[str] = mapped_column(String(120), index=True)
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("process_instance.id", ondelete="CASCADE"), index=True
    )
    task_id: Mapped[int | None] = mapped_column(ForeignKey("human_task.id", ondelete="CASCADE"))
    # The household's ID number, encrypted; found by its blind index (HMAC, engine.crypto.blind_index).
    household_id_number: Mapped[str | None] = mapped_column(EncryptedText)
    household_id_index: Mapped[str | None] = mapped_column(String(64))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
