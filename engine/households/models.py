"""Households and their people: one record per family across every procedure.

A household is placed in the org tree by the street of its residence (居住地址), which is what scopes it
like a case; the registered address (户籍地址) and its street are kept beside it (the Bridge Plan's
人户分离 rule needs both). Resident ID numbers, phone numbers and the bank account are encrypted at rest
(engine.crypto); ID and phone numbers are found by their blind index, never by their text.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.crypto import EncryptedText
from engine.db import Base, UTCDateTime, str_enum, utcnow
from engine.orgs.models import OrgUnit


class Hardship(enum.StrEnum):
    DIBAO = "dibao"  # 低保
    DIBAO_EDGE = "dibao_edge"  # 低保边缘
    LOW_INCOME = "low_income"  # 低收入
    EXPENDITURE = "expenditure"  # 支出型
    OTHER = "other"  # 其他


class Relation(enum.StrEnum):
    HEAD = "head"  # 户主
    SPOUSE = "spouse"  # 配偶
    CHILD = "child"  # 子女
    PARENT = "parent"  # 父母
    GRANDCHILD = "grandchild"  # 孙子女
    GRANDPARENT = "grandparent"  # 祖父母
    SIBLING = "sibling"  # 兄弟姐妹
    OTHER = "other"  # 其他


class Household(Base):
    __tablename__ = "household"
    __table_args__ = (
        Index("ix_household_district_id", "district_id"),
        Index("ix_household_street_id", "street_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # placed like a case: the unit of residence with its denormalised ancestry (engine.scope)
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"))
    district_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"))
    street_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"))
    registered_address: Mapped[str | None] = mapped_column(String(300))
    registered_street_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"))
    residence_address: Mapped[str | None] = mapped_column(String(300))
    hardship_category: Mapped[Hardship] = mapped_column(
        str_enum(Hardship, "hardship_category", 16), default=Hardship.OTHER
    )
    # the account aid is paid to: number encrypted, shown masked
    bank_name: Mapped[str | None] = mapped_column(String(100))
    bank_account_holder: Mapped[str | None] = mapped_column(String(50))
    bank_account: Mapped[str | None] = mapped_column(EncryptedText)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    org_unit: Mapped[OrgUnit] = relationship(foreign_keys=[org_unit_id], viewonly=True)
    registered_street: Mapped[OrgUnit | None] = relationship(
        foreign_keys=[registered_street_id], viewonly=True
    )
    members: Mapped[list[Person]] = relationship(
        back_populates="household", order_by="Person.id", viewonly=True
    )


class Person(Base):
    __tablename__ = "person"
    __table_args__ = (
        Index("ix_person_household_id", "household_id"),
        Index("ix_person_name", "name"),
        Index("ix_person_id_index", "id_index", unique=True),
        Index("ix_person_phone_index", "phone_index"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("household.id"))
    name: Mapped[str] = mapped_column(String(50))
    relation: Mapped[Relation] = mapped_column(str_enum(Relation, "person_relation", 16))
    # resident ID number: encrypted; found by its blind index (one person per number); the last four
    # digits in clear (every masked display shows them anyway) narrow a search by the number's tail
    id_number: Mapped[str | None] = mapped_column(EncryptedText)
    id_index: Mapped[str | None] = mapped_column(String(64))
    id_last4: Mapped[str | None] = mapped_column(String(4))
    phone: Mapped[str | None] = mapped_column(EncryptedText)
    phone_index: Mapped[str | None] = mapped_column(String(64))
    birth_date: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    household: Mapped[Household] = relationship(back_populates="members", viewonly=True)


class CaseHousehold(Base):
    """The household and applicant a case is about: one row per case that has them (a Bridge Plan
    district project or a monthly report has none). Kept beside ``process_instance`` rather than in it,
    so the case row and its engine stay as they are; removed with the case."""

    __tablename__ = "case_household"

    instance_id: Mapped[int] = mapped_column(
        ForeignKey("process_instance.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    household_id: Mapped[int] = mapped_column(ForeignKey("household.id"), index=True)
    applicant_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), index=True)
