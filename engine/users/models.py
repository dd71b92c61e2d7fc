"""Staff users, their role grants (role × org unit) and API tokens."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.db import Base, UTCDateTime, str_enum, utcnow
from engine.orgs.models import OrgUnit


class Role(enum.StrEnum):
    ADVISOR = "advisor"
    STREET_OFFICER = "street_officer"
    STREET_HEAD = "street_head"
    REVIEW_PANEL = "review_panel"
    FINANCE = "finance"
    DISTRICT_OFFICER = "district_officer"
    DISTRICT_HEAD = "district_head"
    FOUNDATION = "foundation"
    CITY_OFFICER = "city_officer"
    AGENCY_WORKER = "agency_worker"
    AGENCY_LEAD = "agency_lead"
    GANSU_OFFICER = "gansu_officer"
    AIDED_AGENCY = "aided_agency"
    SUPERVISOR_EXPERT = "supervisor_expert"
    ADMIN = "admin"


ROLE_NAMES_ZH: dict[Role, str] = {
    Role.ADVISOR: "社区救助顾问",
    Role.STREET_OFFICER: "街镇救助专员",
    Role.STREET_HEAD: "街镇救助负责人",
    Role.REVIEW_PANEL: "评议小组",
    Role.FINANCE: "资金发放",
    Role.DISTRICT_OFFICER: "区民政局救助科",
    Role.DISTRICT_HEAD: "区民政局负责人",
    Role.FOUNDATION: "市帮困互助基金会",
    Role.CITY_OFFICER: "市民政局",
    Role.AGENCY_WORKER: "社工机构社工",
    Role.AGENCY_LEAD: "社工机构负责人",
    Role.GANSU_OFFICER: "甘肃省民政厅",
    Role.AIDED_AGENCY: "受援机构",
    Role.SUPERVISOR_EXPERT: "专家督导团",
    Role.ADMIN: "系统管理员",
}

ROLE_NAMES_EN: dict[Role, str] = {
    Role.ADVISOR: "Community assistance advisor",
    Role.STREET_OFFICER: "Street assistance officer",
    Role.STREET_HEAD: "Street head",
    Role.REVIEW_PANEL: "Review panel",
    Role.FINANCE: "Finance",
    Role.DISTRICT_OFFICER: "District civil affairs officer",
    Role.DISTRICT_HEAD: "District head",
    Role.FOUNDATION: "Mutual-aid foundation",
    Role.CITY_OFFICER: "City civil affairs bureau",
    Role.AGENCY_WORKER: "Social worker",
    Role.AGENCY_LEAD: "Agency lead",
    Role.GANSU_OFFICER: "Gansu civil affairs department",
    Role.AIDED_AGENCY: "Aided agency",
    Role.SUPERVISOR_EXPERT: "Expert supervisor",
    Role.ADMIN: "System administrator",
}


def role_name(key: str, locale: str) -> str:
    """A role's name in a language ("zh" or "en"); a key that names no role, as it is."""
    try:
        role = Role(key)
    except ValueError:
        return key
    return (ROLE_NAMES_EN if locale == "en" else ROLE_NAMES_ZH).get(role, key)


# Roles that may reassign tasks and see their unit's whole workload.
SUPERVISOR_ROLES = frozenset(
    {Role.STREET_HEAD, Role.DISTRICT_HEAD, Role.DISTRICT_OFFICER, Role.CITY_OFFICER, Role.ADMIN}
)


class User(Base):
    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    locale: Mapped[str] = mapped_column(String(8), default="zh")
    email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A published password (the demo users'): every request but the password change is refused until it
    # is changed, except on the local demo database.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)

    # Loaded when first used (the acting user's, once per request), not with every user row shown.
    grants: Mapped[list[RoleGrant]] = relationship(back_populates="user", cascade="all, delete-orphan")


class RoleGrant(Base):
    """A user holds ``role`` inside ``org_unit``, for the procedures the grant covers (engine.scope).

    ``procedures``: process keys, or families as a key prefix ending in ``*`` (``bridge_plan_*``); empty
    (NULL) means the default: every procedure for admins and the supervising roles, otherwise the
    procedures whose BPMN gives a step (lane, candidate group or escalation) to ``role``.
    ``bound_to``: business keys of the projects or pairings an agency is contracted for (a Bridge Plan
    project ``BP-2026-310107``, a Twinning pairing ``TW01``): the grant then covers those cases and their
    sub-cases only; NULL means not bound.
    """

    __tablename__ = "role_grant"
    __table_args__ = (UniqueConstraint("user_id", "role", "org_unit_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    role: Mapped[Role] = mapped_column(str_enum(Role, "role", 32))
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"))
    procedures: Mapped[list[str] | None] = mapped_column(JSON)
    bound_to: Mapped[list[str] | None] = mapped_column(JSON)

    user: Mapped[User] = relationship(back_populates="grants")
    # Joined into the grants' own query: permission checks read the unit's level with no extra round trip.
    org_unit: Mapped[OrgUnit] = relationship(lazy="joined", viewonly=True)


class ApiToken(Base):
    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class WebSession(Base):
    """A logged-in browser: the session cookie carries the raw id, only its hash is stored.

    Revoked on logout, password change and deactivation; ``expires_at`` is fixed at login (activity does
    not extend it).
    """

    __tablename__ = "web_session"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class LoginFailure(Base):
    """A failed password login, counted for the lockout (a successful login clears its account and
    address pair)."""

    __tablename__ = "login_failure"
    __table_args__ = (
        Index("ix_login_failure_username_at", "username", "at"),
        Index("ix_login_failure_remote_addr_at", "remote_addr", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    remote_addr: Mapped[str | None] = mapped_column(String(64))


class ExternalIdentity(Base):
    """A user's account at an OpenID Connect provider (``issuer`` × ``subject``, the ``sub`` claim), linked
    to the local user it logs in as (engine/users/external.py). Provisioned or linked at its first login."""

    __tablename__ = "external_identity"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issuer: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
