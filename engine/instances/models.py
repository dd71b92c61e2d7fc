"""Process instances: one row each, holding the serialized workflow state (without its spec)."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.crypto import EncryptedText, SealedJSON
from engine.db import Base, UTCDateTime, str_enum, utcnow
from engine.definitions.models import ProcessDefinition
from engine.orgs.models import OrgUnit
from engine.users.models import User


class InstanceStatus(enum.StrEnum):
    RUNNING = "running"
    SUSPENDED = "suspended"
    COMPLETED = "completed"
    TERMINATED = "terminated"


# how a message to staff says where a case stands (the engine's words stay in code: WORDS.md)
STATUS_WORDS: dict[InstanceStatus, tuple[str, str]] = {
    InstanceStatus.RUNNING: ("在办", "in progress"),
    InstanceStatus.SUSPENDED: ("已挂起", "suspended"),
    InstanceStatus.COMPLETED: ("已办结", "closed"),
    InstanceStatus.TERMINATED: ("已终止", "terminated"),
}


def case_missing(key: object) -> str:
    """The message for a case that does not exist (or is not the caller's to see)."""
    return f"案件不存在或您无权查看 / case {key} not found or not visible to you"


class ProcessInstance(Base):
    __tablename__ = "process_instance"
    __table_args__ = (
        Index("ix_process_instance_key_status", "process_key", "status"),
        Index("ix_process_instance_org_started", "org_unit_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id"), index=True)
    process_key: Mapped[str] = mapped_column(String(100))
    business_key: Mapped[str | None] = mapped_column(String(100), index=True)
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"))
    district_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"))
    street_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"))
    status: Mapped[InstanceStatus] = mapped_column(
        str_enum(InstanceStatus, "instance_status", 16), default=InstanceStatus.RUNNING
    )
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Serialized SpiffWorkflow state without the spec (the spec is cached per definition version);
    # encrypted as a whole (it holds every task's data, personal data included); deferred, so lists of
    # instances neither read nor decrypt it (lock() loads it with the row).
    state: Mapped[str] = mapped_column(EncryptedText(compress=True), deferred=True)
    # The latest process data, for display and queries without deserializing the state; ID and phone
    # numbers inside it are stored encrypted (engine.crypto.SealedJSON).
    data: Mapped[dict[str, Any]] = mapped_column(SealedJSON, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # When the scheduler must next look at this instance: its earliest waiting BPMN timer or SLA level.
    next_wakeup_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    # The instance that opened this one as a sub-case (a Bridge Plan project's household cases).
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"), index=True)

    definition: Mapped[ProcessDefinition] = relationship(viewonly=True)
    org_unit: Mapped[OrgUnit] = relationship(foreign_keys=[org_unit_id], viewonly=True)
    started_by: Mapped[User | None] = relationship(foreign_keys=[started_by_id], viewonly=True)

    __mapper_args__ = {"version_id_col": version}
