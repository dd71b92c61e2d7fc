from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from api.extensions import db
from api.incidents.schemas import IncidentListArgs, IncidentPageSchema, IncidentSchema, IncidentSkipArgs
from api.security import BEARER, current_user, login_required
from engine.incidents import rerun, skip
from engine.incidents import service as incidents

blp = Blueprint(
    "incidents",
    __name__,
    url_prefix="/api/v1/incidents",
    description="事件：失败的自动步骤 / incidents: failed automatic steps (admins)",
)


@blp.route("", methods=["GET"])
@blp.arguments(IncidentListArgs, location="query")
@blp.response(200, IncidentPageSchema)
@blp.doc(security=[BEARER])
@login_required
def list_incidents(args: dict[str, Any]) -> Any:
    """Incidents of every case, newest first (open ones by default); admins only."""
    rows, total = incidents.list_incidents(
        db.session(),
        current_user(),
        status=None if args["status"] == "all" else args["status"],
        instance_id=args["instance_id"],
        page=args["page"],
        per_page=args["per_page"],
    )
    return {"items": rows, "meta": {"page": args["page"], "per_page": args["per_page"], "total": total}}


@blp.route("/<int:incident_id>", methods=["GET"])
@blp.response(200, IncidentSchema)
@blp.doc(security=[BEARER])
@login_required
def get_incident(incident_id: int) -> Any:
    """One incident; admins only."""
    return incidents.get(db.session(), current_user(), incident_id)


@blp.route("/<int:incident_id>/retry", methods=["POST"])
@blp.response(200, IncidentSchema)
@blp.alt_response(409, description="the step failed again: the incident stays open (attempt counted)")
@blp.doc(security=[BEARER])
@login_required
def retry_incident(incident_id: int) -> Any:
    """Run the failed step again after a fix (case data edited, case migrated to a corrected version)."""
    return rerun.retry(db.session(), current_user(), incident_id)


@blp.route("/<int:incident_id>/skip", methods=["POST"])
@blp.arguments(IncidentSkipArgs)
@blp.response(200, IncidentSchema)
@blp.alt_response(409, description="not a script or service step, or already resolved")
@blp.doc(security=[BEARER])
@login_required
def skip_incident(args: dict[str, Any], incident_id: int) -> Any:
    """Mark the failed script or service step done without running it (a reason is required); the case
    moves on. Admins only; audited (``incident.skipped``)."""
    return skip.skip(db.session(), current_user(), incident_id, args["reason"])
