"""Append-only audit events and their hash chain. Services add rows; nothing updates or deletes them."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.crypto import SealedJSON
from engine.db import Base, UTCDateTime, utcnow


class AuditAction(enum.StrEnum):
    DEFINITION_DEPLOYED = "definition.deployed"
    INSTANCE_STARTED = "instance.started"
    INSTANCE_COMPLETED = "instance.completed"
    TASK_CREATED = "task.created"
    TASK_CLAIMED = "task.claimed"
    TASK_UNCLAIMED = "task.unclaimed"
    TASK_ASSIGNED = "task.assigned"
    TASK_COMPLETED = "task.completed"
    TASK_CANCELLED = "task.cancelled"
    TIMER_FIRED = "timer.fired"
    TASK_DEADLINE_CHANGED = "task.deadline_changed"
    TASK_DRAFT_SAVED = "task.draft_saved"
    TASK_REMINDED = "task.reminded"
    TASK_OVERDUE = "task.overdue"
    TASK_ESCALATED = "task.escalated"
    USER_CREATED = "user.created"
    NEAR_RELATIVE_FILED = "recusal.filed"
    NEAR_RELATIVE_WITHDRAWN = "recusal.withdrawn"
    LOGIN_FAILED = "auth.login_failed"
    CASE_TRANSFERRED = "case.transferred"
    LOGIN_LOCKED = "auth.login_locked"
    TOKEN_REVOKED = "auth.token_revoked"
    PASSWORD_CHANGED = "auth.password_changed"
    USER_DEACTIVATED = "user.deactivated"
    USER_REACTIVATED = "user.reactivated"
    LOGIN_UNLOCKED = "auth.login_unlocked"  # an admin cleared a user's failed logins
    INSTANCE_SUSPENDED = "instance.suspended"
    INSTANCE_RESUMED = "instance.resumed"
    INSTANCE_TERMINATED = "instance.terminated"
    INSTANCE_MOVED_BACK = "instance.moved_back"
    INSTANCE_DATA_EDITED = "instance.data_edited"
    INSTANCE_MIGRATED = "instance.migrated"
    TASK_REASSIGNED = "task.reassigned"
    TASK_SENT_BACK = "task.sent_back"  # 退回补正: the holder returned the case to an earlier step
    FORM_VERSION_SAVED = "form.version_saved"
    POLICY_SET_SAVED = "policy.set_saved"
    DECISION_DEPLOYED = "decision.deployed"
    PERSONAL_DATA_READ = "personal_data.read"
    INCIDENT_OPENED = "incident.opened"
    INCIDENT_RETRIED = "incident.retried"
    INCIDENT_RESOLVED = "incident.resolved"
    INCIDENT_SKIPPED = "incident.skipped"  # an admin skipped the failed step, with a reason
    HOUSEHOLD_CREATED = "household.created"
    HOUSEHOLD_UPDATED = "household.updated"
    PERSON_ADDED = "household.person_added"
    PERSON_UPDATED = "household.person_updated"
    CASE_HOUSEHOLD_LINKED = "case.household_linked"
    CASE_SEARCHED = "case.searched"
    CALENDAR_YEAR_SAVED = "calendar.year_saved"
    CALENDAR_RECOMPUTED = "calendar.recomputed"
    TASK_DEADLINE_RECOMPUTED = "task.deadline_recomputed"
    ATTACHMENT_UPLOADED = "attachment.uploaded"
    ATTACHMENT_DOWNLOADED = "attachment.downloaded"
    ATTACHMENT_REMOVED = "attachment.removed"
    DOCUMENT_GENERATED = "document.generated"
    REPORT_EXPORTED = "report.exported"
    USER_IDENTITY_LINKED = "user.identity_linked"  # an OIDC identity provisioned or linked its user
    USER_GRANTS_SYNCED = "user.grants_synced"  # an OIDC login set the user's grants from its claims
    LOGIN_REFUSED_EXTERNAL = "auth.login_refused_external"  # an OIDC login the claim rules refused
    SERVICE_ORG_CREATED = "service_org.created"
    SERVICE_ORG_UPDATED = "service_org.updated"  # renamed, its district changed, deactivated or reactivated
    SERVICE_ORG_MEMBER_ADDED = "service_org.member_added"
    SERVICE_ORG_MEMBER_REMOVED = "service_org.member_removed"
    ARCHIVE_EXPORTED = "archive.exported"
    DOCUMENT_TEMPLATE_SAVED = "document.template_saved"
    MESSAGE_SENT = "message.sent"  # a message reached a waiting case or started one
    MESSAGE_RECEIVED = "message.received"  # a case caught a message
    MESSAGE_BUFFERED = "message.buffered"  # no case waited: kept until one does (or it expires)
    MESSAGE_EXPIRED = "message.expired"  # kept past its time limit: dropped
    MESSAGE_REFUSED = "message.refused"  # the case it was for has ended
    SIGNAL_SENT = "signal.sent"
    SIGNAL_RECEIVED = "signal.received"


class AuditEvent(Base):
    """One thing that happened. Never changed once written: the database refuses UPDATE and DELETE."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_instance_id_id", "instance_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    action: Mapped[str] = mapped_column(String(40))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("human_task.id", ondelete="CASCADE"))
    definition_id: Mapped[int | None] = mapped_column(ForeignKey("process_definition.id"))
    # ID and phone numbers inside are stored encrypted; the hash chain hashes the stored form.
    details: Mapped[dict[str, Any]] = mapped_column(SealedJSON, default=dict)
    # HMAC-SHA256 by the application under an audit key the database never holds (engine.audit.signing);
    # NULL only on legacy events, written before migration 0017 (bounded by AuditSigning)
    sig_key_id: Mapped[str | None] = mapped_column(String(16))
    sig_nonce: Mapped[str | None] = mapped_column(String(16))
    sig: Mapped[str | None] = mapped_column(String(64))


class AuditSeal(Base):
    """An event's link in the hash chain (engine.audit.chain), appended by the sealer after the event's
    transaction commits. Kept apart from the event so that sealing inserts rows and never rewrites one."""

    __tablename__ = "audit_seal"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    event_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), ForeignKey("audit_event.id"), unique=True
    )
    # SHA-256 over the event's fields, its seq and the previous link's hash (chain.canonical)
    hash: Mapped[str] = mapped_column(String(64))


class AuditPending(Base):
    """Events committed but not sealed yet: a database trigger adds each new event, the sealer removes it."""

    __tablename__ = "audit_pending"

    event_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )


class AuditChainHead(Base):
    """One row: the position and hash of the chain's last event. Locked to append, so the chain never forks."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    hash: Mapped[str] = mapped_column(String(64))


class AuditSigning(Base):
    """One row, written by migration 0017 and never changed: the events before signatures existed.

    Events with ``id <= legacy_max_id`` may be unsigned, and there must be exactly ``legacy_count`` of
    them; every other event must carry a valid signature. Checkpoints repeat both numbers, so changing
    this row (which only the table owner could) fails ``assistflow audit verify``.
    """

    __tablename__ = "audit_signing"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    legacy_max_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    legacy_count: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    signed_since: Mapped[dt.datetime] = mapped_column(UTCDateTime)
