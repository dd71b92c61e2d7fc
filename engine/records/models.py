"""Step records: each completed user task's submitted, validated data, kept as its own immutable row.

A case's merged data bag (``process_instance.data``) is what the workflow's expressions read and later
steps overwrite; the record of a step is what the step's holder entered, under which form version, and is
never changed afterwards (the table refuses UPDATE and DELETE, as the audit log does). A step that runs
again (a loop: visits, group activities, monthly reports, working years; or a step reopened by a
send-back) adds a record with the next ``iteration``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.crypto import SealedJSON
from engine.db import Base, UTCDateTime, utcnow
from engine.users.models import User

ID = BigInteger().with_variant(Integer, "sqlite")


class StepRecord(Base):
    __tablename__ = "step_record"
    __table_args__ = (
        # one record per completed task; the n-th run of a step in a case has iteration n
        UniqueConstraint("task_id", name="uq_step_record_task_id"),
        UniqueConstraint("instance_id", "bpmn_id", "iteration", name="uq_step_record_step_iteration"),
        # a case's records in the order the steps were done (the case page's 办理记录, paged)
        Index("ix_step_record_instance_completed", "instance_id", "completed_at", "id"),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"))
    task_id: Mapped[int] = mapped_column(ForeignKey("human_task.id"))
    bpmn_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))  # the step's name when it was done
    form_key: Mapped[str | None] = mapped_column(String(100))
    form_version: Mapped[int | None] = mapped_column(Integer)  # NULL: the form file in forms/
    iteration: Mapped[int] = mapped_column(Integer)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    completed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # the validated submission (ID and phone numbers encrypted, as in the case data)
    data: Mapped[dict[str, Any]] = mapped_column(SealedJSON, default=dict)
    # what the procedure's rules added on completion (figures, flags), kept apart from what was entered
    derived: Mapped[dict[str, Any] | None] = mapped_column(SealedJSON)
    # where the record came from: "completion", or "audit" (backfilled from task.completed events)
    source: Mapped[str] = mapped_column(String(16), default="completion")

    actor: Mapped[User | None] = relationship(foreign_keys=[actor_id], viewonly=True)
