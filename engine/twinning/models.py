"""Twinning Plan 牵手计划 reference data: the one-to-one pairings of Shanghai and Gansu agencies."""

from __future__ import annotations

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base


class TwinningPairing(Base):
    __tablename__ = "twinning_pairing"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    dispatching_agency: Mapped[str] = mapped_column(String(100))
    county: Mapped[str] = mapped_column(String(100))
    aided_agency: Mapped[str] = mapped_column(String(100))
