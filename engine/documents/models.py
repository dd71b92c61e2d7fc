"""Document templates saved by admins as numbered versions (the files in ``engine/documents/templates``
are version ``None``, the base)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base, UTCDateTime, utcnow


class DocumentTemplateVersion(Base):
    """One immutable version of a document kind's template; the latest fills documents printed from then on."""

    __tablename__ = "document_template_version"
    __table_args__ = (UniqueConstraint("kind", "version", name="uq_document_template_version_kind_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
