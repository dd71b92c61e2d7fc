"""Pudong 3A service assistance: the delivered service counts in the cross-project ledger."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from engine.ledger import service as ledger
from engine.procedures import before_complete

KEY = "service_referral_3a"


@before_complete(KEY, "service_delivery")
def count_service(session: Session, instance: Any, row: Any, data: dict[str, Any]) -> None:
    ledger.count_for_case(session, instance, row, kind="service", id_field="applicant_id_number")
