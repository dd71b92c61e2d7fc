"""Service organisations 服务机构 and their members: the agencies a 3A case is matched with and referred to.

A task may belong to one organisation (``human_task.service_org_id``, set from the case data field its
BPMN property ``service_org_field`` names): only that organisation's members may then see, claim or
complete it, whatever role grants others hold (engine.tasks.access, engine.scope)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.db import Base, UTCDateTime, utcnow
from engine.orgs.models import OrgUnit
from engine.users.models import User


class ServiceOrganisation(Base):
    __tablename__ = "service_organisation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # the district it is registered to serve (3A: Pudong); NULL: anywhere
    district_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))

    district: Mapped[OrgUnit | None] = relationship(viewonly=True)
    members: Mapped[list[ServiceOrganisationMember]] = relationship(
        back_populates="organisation", cascade="all, delete-orphan", order_by="ServiceOrganisationMember.id"
    )


class ServiceOrganisationMember(Base):
    __tablename__ = "service_organisation_member"
    __table_args__ = (UniqueConstraint("organisation_id", "user_id", name="uq_service_org_member"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("service_organisation.id", ondelete="CASCADE", name="fk_service_org_member_organisation"),
        index=True,
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    added_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))

    organisation: Mapped[ServiceOrganisation] = relationship(back_populates="members")
    user: Mapped[User] = relationship(foreign_keys=[user_id], viewonly=True)
