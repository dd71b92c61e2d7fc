"""In-app notifications (reminders, supervisor alerts, escalations), with an optional e-mail outbox."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base, UTCDateTime, str_enum, utcnow


class NotificationKind(enum.StrEnum):
    REMINDER = "reminder"
    OVERDUE = "overdue"
    ESCALATION = "escalation"
    DEADLINE_CHANGED = "deadline_changed"
    NEW_TASK = "new_task"  # work arrived in my queue or a group queue I serve (engine.notifications.new_work)


class EmailStatus(enum.StrEnum):
    NONE = "none"  # no e-mail wanted
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # gave up after retries


class Notification(Base):
    __tablename__ = "notification"
    __table_args__ = (
        Index("ix_notification_user_read", "user_id", "read_at", "id"),
        Index("ix_notification_email_status", "email_status", "next_email_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    kind: Mapped[NotificationKind] = mapped_column(str_enum(NotificationKind, "notification_kind", 24))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("human_task.id", ondelete="CASCADE"))
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    email_status: Mapped[EmailStatus] = mapped_column(
        str_enum(EmailStatus, "email_status", 16), default=EmailStatus.NONE
    )
    email_attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_email_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
