"""One stored file: which case, step (task, hence its step record) and household it belongs to, what it
is (kind by content, size, SHA-256 of the plaintext), and where its ciphertext lies (a random key)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.db import Base, UTCDateTime, utcnow
from engine.users.models import User

ID = BigInteger().with_variant(Integer, "sqlite")


class Attachment(Base):
    __tablename__ = "attachment"
    __table_args__ = (
        Index("ix_attachment_instance_id", "instance_id"),
        Index("ix_attachment_task_id", "task_id"),
        Index("ix_attachment_household_id", "household_id"),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"))
    # the step it was uploaded at: the task (whose step record, once completed, lists it) and the form field
    task_id: Mapped[int | None] = mapped_column(ForeignKey("human_task.id"))
    field: Mapped[str] = mapped_column(String(64))
    household_id: Mapped[int | None] = mapped_column(ForeignKey("household.id"))
    filename: Mapped[str] = mapped_column(String(200))  # sanitised, with the content's own extension
    kind: Mapped[str] = mapped_column(String(10))  # engine.attachments.checks.KINDS
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)  # plaintext bytes, as stored (after location removal)
    sha256: Mapped[str] = mapped_column(String(64))  # of the plaintext as stored
    storage_key: Mapped[str] = mapped_column(String(64), unique=True)
    thumb_key: Mapped[str | None] = mapped_column(String(80))
    wrapped_key: Mapped[str] = mapped_column(Text)  # the file key under the data keys (enc1:…)
    location_removed: Mapped[bool] = mapped_column(Boolean, default=False)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    uploaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # a generated document: the template version it was filled from (NULL: the template file, or a material)
    template_version: Mapped[int | None] = mapped_column(Integer)

    uploaded_by: Mapped[User | None] = relationship(foreign_keys=[uploaded_by_id], viewonly=True)
