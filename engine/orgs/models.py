"""Organisation units: city → district → street/town → residents' committee."""

from __future__ import annotations

import enum

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base, str_enum


class OrgLevel(enum.StrEnum):
    CITY = "city"
    DISTRICT = "district"
    STREET = "street"
    COMMITTEE = "committee"


LEVEL_ORDER = [OrgLevel.CITY, OrgLevel.DISTRICT, OrgLevel.STREET, OrgLevel.COMMITTEE]


class OrgUnit(Base):
    __tablename__ = "org_unit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    level: Mapped[OrgLevel] = mapped_column(str_enum(OrgLevel, "org_level", 16))
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    # Denormalised ancestry so scope checks are equality tests on indexed columns.
    district_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"))
    street_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"))

    def name(self, locale: str = "zh") -> str:
        return self.name_en if locale == "en" else self.name_zh
