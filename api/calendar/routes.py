"""Holiday calendar (admins): enter a year's holidays and adjusted working days when the State Council
publishes them, and re-compute open deadlines after a change (dry run first; audited)."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from api.calendar.schemas import RecomputeArgs, RecomputeResultSchema, YearArgs, YearSchema
from api.extensions import db
from api.security import BEARER, current_user, login_required
from engine.db import utcnow
from engine.deadlines import holidays

blp = Blueprint(
    "calendar", __name__, url_prefix="/api/v1/calendar", description="节假日日历 / holiday calendar (admins)"
)


def _out(view: holidays.YearView) -> dict[str, Any]:
    return {
        **view.__dict__,
        "covered": view.covered,
        "missing_years": holidays.missing_years(db.session(), utcnow()),
    }


@blp.route("/<int:year>", methods=["GET"])
@blp.response(200, YearSchema)
@blp.doc(security=[BEARER])
@login_required
def get_year(year: int) -> Any:
    """A year's holidays and adjusted working days, whether it is entered, and the years missing."""
    return _out(holidays.view_year(db.session(), current_user(), year))


@blp.route("/<int:year>", methods=["PUT"])
@blp.arguments(YearArgs)
@blp.response(200, YearSchema)
@blp.doc(security=[BEARER])
@login_required
def put_year(args: dict[str, Any], year: int) -> Any:
    """Enter (replace) a year's holidays and adjusted working days; deadlines already set do not move."""
    return _out(holidays.put_year(db.session(), current_user(), year, args["days"]))


@blp.route("/recompute", methods=["POST"])
@blp.arguments(RecomputeArgs)
@blp.response(200, RecomputeResultSchema)
@blp.doc(security=[BEARER])
@login_required
def recompute(args: dict[str, Any]) -> Any:
    """Open tasks whose working-day deadline the calendar now puts elsewhere: counted (dry run, default)
    or moved (``dry_run: false`` with a reason), each audited."""
    changes = holidays.recompute(db.session(), current_user(), dry_run=args["dry_run"], reason=args["reason"])
    return {"dry_run": args["dry_run"], "count": len(changes), "tasks": changes}
