"""Near-relative filing (近亲属备案): staff's and committee members' relatives who apply for aid."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.crypto import EncryptedText
from engine.db import Base, UTCDateTime, utcnow


class NearRelativeFiling(Base):
    __tablename__ = "near_relative_filing"
    __table_args__ = (Index("ix_near_relative_filing_relative_id_index", "relative_id_index", "active"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    # Encrypted; found by its blind index (HMAC of the normalized number, engine.crypto.blind_index).
    relative_id_number: Mapped[str] = mapped_column(EncryptedText)
    relative_id_index: Mapped[str] = mapped_column(String(64))
    relation: Mapped[str] = mapped_column(String(20))
    filed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    filed_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
