"""Cases that name their applicant only by ID number (typed into the first form, or carried by a Bridge
Plan project's annual list) are given that person's household when the step is completed: the
registered household when the number is known, otherwise a new one in the case's org unit with the
person as its head, to be completed (name "待补登"). A case that already names its household keeps it."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy.orm import Session

from engine.households import service as households
from engine.instances import optimistic
from engine.procedures import before_complete


def _link(field: str, *, from_case: bool = False):
    def hook(session: Session, instance: Any, row: Any, data: dict[str, Any]) -> dict[str, Any]:
        number = (instance.data if from_case else data).get(field)
        if isinstance(number, str) and number:
            # written with the step (SQLite: after the step was worked out, engine.instances.optimistic)
            optimistic.soon(
                session,
                functools.partial(
                    households.link_by_id_number, session, instance, number, actor_id=row.assignee_id
                ),
            )
        return {}

    return hook


before_complete("comprehensive_assistance", "application")(_link("applicant_id_number"))
before_complete("service_referral_3a", "needs_discovery")(_link("applicant_id_number"))
before_complete("bridge_plan_household", "needs_assessment")(_link("head_id_number", from_case=True))
