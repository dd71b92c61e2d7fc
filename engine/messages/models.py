"""Waiting message and signal subscriptions of cases, and messages kept until their receiver waits.

A ``message_subscription`` row is one catch element (receive task, message catch or boundary event,
signal catch) of one case with the correlation key it waits on. ``waiting`` is true while the case
waits there; once caught (or the case moved on) the row stays with ``waiting`` false, so that a later
message for the same key can tell "the case ended" from "nobody ever waited for it".
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.crypto import SealedJSON
from engine.db import Base, UTCDateTime, utcnow

MESSAGE = "message"
SIGNAL = "signal"


class MessageSubscription(Base):
    __tablename__ = "message_subscription"
    __table_args__ = (
        # the correlation lookup: one index probe whatever the number of waiting cases
        Index("ix_message_subscription_lookup", "kind", "name", "correlation_key", "waiting"),
        Index("ix_message_subscription_instance_id", "instance_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))  # "message" | "signal"
    name: Mapped[str] = mapped_column(String(200))
    # what the message must carry to reach this case (None: a signal, or a case without a key)
    correlation_key: Mapped[str | None] = mapped_column(String(200))
    bpmn_id: Mapped[str] = mapped_column(String(200))
    label: Mapped[str | None] = mapped_column(String(200))  # the element's name, for the case page
    waiting: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class BufferedMessage(Base):
    """A message no case waited for when it arrived: delivered when a matching subscription appears,
    dropped (and audited) after ``expires_at``."""

    __tablename__ = "message_buffer"
    __table_args__ = (
        Index("ix_message_buffer_lookup", "name", "correlation_key"),
        Index("ix_message_buffer_expires_at", "expires_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    correlation_key: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[Any] = mapped_column(SealedJSON, nullable=True)
    sender_instance_id: Mapped[int | None] = mapped_column(
        ForeignKey("process_instance.id", ondelete="SET NULL")
    )
    sent_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
