"""Citizen comprehensive assistance 市民综合帮扶: rules that need the database."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from engine.procedures import before_complete
from engine.recusal import service as recusal

KEY = "comprehensive_assistance"


@before_complete(KEY, "application")
def near_relative_check(session: Session, instance: Any, row: Any, data: dict[str, Any]) -> dict[str, Any]:
    """An applicant on file as a staff member's near relative: that person steps aside, district reviews."""
    related = recusal.staff_related_to(session, data.get("applicant_id_number"))
    if not related:
        return {"near_relative_staff": [], "needs_district_review": False}
    return {"near_relative_staff": related, "excluded_users": related, "needs_district_review": True}
