"""Human tasks projected from the workflow state; inbox queries read only this table."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.db import Base, UTCDateTime, str_enum, utcnow
from engine.orgs.models import OrgUnit
from engine.users.models import User


class SlaLevel(enum.IntEnum):
    """Three-colour warning (DOMAIN.md §6); the level a task has reached, each fired once."""

    GREEN = 0
    YELLOW = 1  # due within the reminder window: the assignee (or the group) is reminded
    ORANGE = 2  # overdue: the org unit's supervisor role is told
    RED = 3  # overdue by N working days: offered to the next level's group, escalation recorded


class TaskStatus(enum.StrEnum):
    READY = "ready"
    CLAIMED = "claimed"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


OPEN_STATUSES = (TaskStatus.READY, TaskStatus.CLAIMED)
_OPEN = text("state IN ('ready', 'claimed')")
_OPEN_ESCALATED = text("state IN ('ready', 'claimed') AND escalated_role IS NOT NULL")


def open_clause() -> Any:
    """Open tasks, spelled as the partial indexes' own WHERE clause, with literals.

    SQLite uses a partial index only when the query's WHERE contains the index's predicate term (a bound
    parameter cannot prove it), so every query over open tasks adds this term; PostgreSQL is indifferent.
    """
    return text("human_task.state IN ('ready', 'claimed')")


class HumanTask(Base):
    __tablename__ = "human_task"
    __table_args__ = (
        # inboxes and dashboards (partial: open tasks only): the scope column leads, then the role, then
        # the due date the lists sort by; city-level roles use (candidate_role, state, due_at)
        Index(
            "ix_human_task_open_district_role_due",
            "district_id",
            "candidate_role",
            "due_at",
            postgresql_where=_OPEN,
            sqlite_where=_OPEN,
        ),
        Index(
            "ix_human_task_open_street_role_due",
            "street_id",
            "candidate_role",
            "due_at",
            postgresql_where=_OPEN,
            sqlite_where=_OPEN,
        ),
        # role-only scopes (city-level grants): the state after the role, so "claimable" (ready) is one
        # range in due order and its count reads the index alone
        Index(
            "ix_human_task_open_role_state_due",
            "candidate_role",
            "state",
            "due_at",
            postgresql_where=_OPEN,
            sqlite_where=_OPEN,
        ),
        Index("ix_human_task_assignee_state_due", "assignee_id", "state", "due_at"),
        Index("ix_human_task_instance_state", "instance_id", "state"),
        # a case's finished tasks in completion order (the case page's 已办环节, paged)
        Index("ix_human_task_instance_completed", "instance_id", "completed_at", "id"),
        # due order for lists that cover every unit, and, with the other two thresholds and the state, all the
        # SLA colour counts read: a whole city's are counted from this index alone (PostgreSQL index-only
        # scan; SQLite covering index, which needs the state among the columns, not only in the WHERE)
        Index(
            "ix_human_task_open_due_sla",
            "due_at",
            "warn_at",
            "escalate_at",
            "state",
            postgresql_where=_OPEN,
            sqlite_where=_OPEN,
        ),
        Index("ix_human_task_open_warn", "warn_at", postgresql_where=_OPEN, sqlite_where=_OPEN),
        # escalated tasks only (few): its statistics then show how selective it is, so planners use it
        Index(
            "ix_human_task_open_escalated_due",
            "escalated_role",
            "due_at",
            postgresql_where=_OPEN_ESCALATED,
            sqlite_where=_OPEN_ESCALATED,
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"))
    process_key: Mapped[str] = mapped_column(String(100))
    spiff_task_id: Mapped[str] = mapped_column(String(36), unique=True)
    bpmn_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    lane: Mapped[str | None] = mapped_column(String(200))
    candidate_role: Mapped[str] = mapped_column(String(32))
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"))
    district_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"))
    street_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    state: Mapped[TaskStatus] = mapped_column(
        str_enum(TaskStatus, "task_status", 16), default=TaskStatus.READY
    )
    form_key: Mapped[str | None] = mapped_column(String(100))
    # The saved form version the task was created with; NULL: the form file in forms/ (no saved version then).
    form_version: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    deadline: Mapped[str | None] = mapped_column(String(100))
    # The SLA thresholds, fixed with the due time: yellow from warn_at, orange from due_at, red from escalate_at.
    warn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    escalate_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    sla_level: Mapped[int] = mapped_column(Integer, default=0)  # highest level already fired (SlaLevel)
    # After a red escalation the task is also offered to this role (the next level's group).
    escalated_role: Mapped[str | None] = mapped_column(String(32))
    # The service organisation the step belongs to (BPMN ``service_org_field``, a 3A referral): only its
    # members may see, claim or complete it (engine.serviceorgs); NULL: any holder of the role.
    service_org_id: Mapped[int | None] = mapped_column(ForeignKey("service_organisation.id"))

    org_unit: Mapped[OrgUnit] = relationship(foreign_keys=[org_unit_id], viewonly=True)
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id], viewonly=True)
