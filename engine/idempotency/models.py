"""Idempotency keys: a retried request with the same key gets the first answer, not a second effect."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.crypto import SealedJSON
from engine.db import Base, UTCDateTime, utcnow


class IdempotencyKey(Base):
    __tablename__ = "idempotency_key"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(128))
    target: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    response: Mapped[Any] = mapped_column(SealedJSON)  # ID and phone numbers inside stored encrypted
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
