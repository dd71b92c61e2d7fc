from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from api.extensions import db
from api.instances.schemas import (
    EventListArgs,
    EventSchema,
    InstanceDetailSchema,
    InstanceListArgs,
    InstancePageSchema,
    PersonalDataSchema,
    StartArgs,
    TimerSchema,
)
from api.schemas import View
from api.security import BEARER, current_user, login_required
from engine import privacy
from engine.audit import service as audit
from engine.cases import service as cases
from engine.households import service as households
from engine.instances import service as instances
from engine.instances.models import ProcessInstance
from engine.tasks import service as tasks

blp = Blueprint(
    "process_instances",
    __name__,
    url_prefix="/api/v1/process-instances",
    description="流程实例 / process instances",
)


def _detail(instance: ProcessInstance) -> View:
    party = households.party_of(db.session(), instance.id)
    return View(
        instance,
        household_id=party.household_id if party else None,
        applicant_person_id=party.applicant_person_id if party else None,
        open_tasks=tasks.open_tasks_of(db.session(), instance.id),
        data=privacy.for_viewer(current_user(), instance.data or {}),
    )


@blp.route("", methods=["POST"])
@blp.arguments(StartArgs)
@blp.response(201, InstanceDetailSchema)
@blp.doc(security=[BEARER])
@login_required
def start(args: dict[str, Any]) -> Any:
    """Start a procedure for an org unit, naming the household and applicant when it has one (both
    checked first: unknown or out of scope 404, an applicant outside the household 422); returns the
    instance with its ready tasks."""
    instance = cases.start_case(
        db.session(),
        current_user(),
        args["process_key"],
        args["org_unit"],
        household_id=args.get("household_id"),
        applicant_person_id=args.get("applicant_person_id"),
        business_key=args.get("business_key"),
        data=args.get("data"),
    )
    return _detail(instance)


@blp.route("", methods=["GET"])
@blp.arguments(InstanceListArgs, location="query")
@blp.response(200, InstancePageSchema)
@blp.doc(security=[BEARER])
@login_required
def list_instances(args: dict[str, Any]) -> Any:
    """Instances inside the caller's org units."""
    page, per_page = args.pop("page"), args.pop("per_page")
    rows, total = instances.list_visible(
        db.session(),
        current_user(),
        process_key=args.get("process_key"),
        status=args.get("status"),
        org_unit_code=args.get("org_unit"),
        page=page,
        per_page=per_page,
    )
    return {"items": rows, "meta": {"page": page, "per_page": per_page, "total": total}}


@blp.route("/<int:instance_id>", methods=["GET"])
@blp.response(200, InstanceDetailSchema)
@blp.doc(security=[BEARER])
@login_required
def get_instance(instance_id: int) -> Any:
    """Status, data and open tasks of one instance."""
    return _detail(instances.get_visible(db.session(), current_user(), instance_id))


@blp.route("/<int:instance_id>/events", methods=["GET"])
@blp.arguments(EventListArgs, location="query")
@blp.response(200, EventSchema(many=True))
@blp.doc(security=[BEARER])
@login_required
def events(args: dict[str, Any], instance_id: int) -> Any:
    """The audit trail of one instance, oldest first."""
    session, user = db.session(), current_user()
    instances.get_visible(session, user, instance_id)
    rows = audit.instance_events(session, instance_id, limit=args["limit"], after_id=args["after_id"])
    return [View(row, details=privacy.for_viewer(user, row.details or {})) for row in rows]


@blp.route("/<int:instance_id>/timers", methods=["GET"])
@blp.response(200, TimerSchema(many=True))
@blp.doc(security=[BEARER])
@login_required
def timers(instance_id: int) -> Any:
    """The instance's waiting BPMN timers with their due times, soonest first."""
    return instances.waiting_timers(db.session(), current_user(), instance_id)


@blp.route("/<int:instance_id>/personal-data", methods=["GET"])
@blp.response(200, PersonalDataSchema)
@blp.doc(security=[BEARER])
@login_required
def personal_data(instance_id: int) -> Any:
    """Full ID and phone numbers of the case (other answers mask them), for roles that verify identity;
    every read is audited as ``personal_data.read``."""
    session, user = db.session(), current_user()
    instance = instances.get_visible(session, user, instance_id)
    return {"instance_id": instance.id, "fields": privacy.reveal(session, user, instance, channel="api")}
