"""Special-care visits 特殊关爱对象走访 (Putuo work points 2024, (九): 每周走访不少于2次).

A case is one care period of ``care_weeks`` weeks (a policy parameter, 13 by default): a case
that repeated its weekly step for years would grow without bound, so a period ends with a review that
opens the next period as a new case. Week 1 starts on the day of enrolment; each week ends at midnight
(Shanghai) seven days later, when the week's record opens. Visits are counted by distinct dates inside
the week (our default: several visits on one day count once); fewer than ``min_weekly_visits`` (a policy
parameter, 2 from the notice) raise the missed-visit warning for the street officer."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from engine.db import utcnow
from engine.deadlines.calendar import SHANGHAI, local_day
from engine.definitions import service as definitions
from engine.errors import Invalid
from engine.instances import newcase
from engine.policy import service as policy
from engine.procedures import before_complete

KEY = "special_care_visits"
WEEK = dt.timedelta(days=7)
CARRIED = ("person_id_number", "care_category", "care_reason", "address_note")


def _week_end(start: dt.date) -> str:
    end = start + WEEK
    return dt.datetime(end.year, end.month, end.day, tzinfo=SHANGHAI).isoformat()


@before_complete(KEY, "enrolment")
def first_week(session: Session, instance: Any, row: Any, data: dict[str, Any]) -> dict[str, Any]:
    start = local_day(utcnow())
    return {"week_start": start.isoformat(), "week_ends_at": _week_end(start), "week_no": 1}


def _as_date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


@before_complete(KEY, "weekly_visits")
def count_the_week(session: Session, instance: Any, row: Any, data: dict[str, Any]) -> dict[str, Any]:
    case = instance.data or {}
    start = dt.date.fromisoformat(case["week_start"])
    last = start + WEEK - dt.timedelta(days=1)
    visits = data.get("visits") or []
    outside = [i for i, v in enumerate(visits) if not start <= _as_date(v["visit_date"]) <= last]
    if outside:
        raise Invalid(
            "走访日期不在本周内 / visit dates outside this week",
            {
                f"visits.{i}.visit_date": [
                    f"应在 {start.isoformat()} 至 {last.isoformat()} 之间 / must be between "
                    f"{start.isoformat()} and {last.isoformat()}"
                ]
                for i in outside
            },
        )
    counted = len({_as_date(v["visit_date"]) for v in visits})
    week_no = int(case.get("week_no") or 1)
    following = start + WEEK
    return {
        "visits_counted": counted,
        "visits_short": counted < int(policy.case_value(session, instance, "min_weekly_visits")),
        "week_no": week_no + 1 if data.get("continue_care") else week_no,
        "weeks_done": week_no,
        "week_start": following.isoformat(),
        "week_ends_at": _week_end(following),
    }


@before_complete(KEY, "period_review")
def next_period(session: Session, instance: Any, row: Any, data: dict[str, Any]) -> dict[str, Any]:
    """Continuing care opens the next period as a new case (same person), linked to this one."""
    if not data.get("next_period"):
        return {}
    # worked out now, written with the step (engine.instances.newcase)
    case_id = newcase.start(
        session,
        newcase.prepare(
            session,
            definitions.get_version(session, KEY),
            instance.org_unit,
            actor_id=row.assignee_id,
            data={k: instance.data[k] for k in CARRIED if k in (instance.data or {})},
            origin=f"{KEY}:{instance.id}",
            parent_id=instance.id,
        ),
    )
    return {"next_period_case_id": case_id}
