"""Yearly policy parameters (caps, counts, thresholds) per procedure: read by anyone logged in, a new
version added by admins (audited). Running cases keep the set they started with."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from api.extensions import db
from api.policy.schemas import (
    InForceArgs,
    PolicyProcedureSchema,
    PolicySetArgs,
    PolicySetSchema,
    PolicyVersionsSchema,
)
from api.security import BEARER, current_user, login_required
from engine.db import utcnow
from engine.deadlines import calendar
from engine.errors import Forbidden, NotFound
from engine.policy import service as policy
from engine.users import service as users

blp = Blueprint(
    "policy_parameters",
    __name__,
    url_prefix="/api/v1/policy-parameters",
    description="政策参数 / yearly policy parameters",
)


@blp.route("", methods=["GET"])
@blp.response(200, PolicyProcedureSchema(many=True))
@blp.doc(security=[BEARER])
@login_required
def list_procedures() -> Any:
    """Procedures that have policy parameters, with their number of versions."""
    return [{"process_key": key, "versions": n} for key, n in policy.procedures(db.session())]


@blp.route("/<string:key>", methods=["GET"])
@blp.arguments(InForceArgs, location="query")
@blp.response(200, PolicyVersionsSchema)
@blp.doc(security=[BEARER])
@login_required
def get_versions(args: dict[str, Any], key: str) -> Any:
    """Every version of a procedure's parameters (newest first) and the one in force on ``on``."""
    session = db.session()
    rows = policy.versions(session, key)
    if not rows:
        raise NotFound(f"该流程没有政策参数 / procedure '{key}' has no policy parameters")
    on = args.get("on") or calendar.local_day(utcnow())
    return {"process_key": key, "in_force": policy.in_force(session, key, on), "versions": rows}


@blp.route("/<string:key>", methods=["POST"])
@blp.arguments(PolicySetArgs)
@blp.response(201, PolicySetSchema)
@blp.doc(security=[BEARER])
@login_required
def add_version(args: dict[str, Any], key: str) -> Any:
    """Add the next version (admins): new cases from its effective date use it, running cases keep theirs."""
    user = current_user()
    if not users.is_admin(user):
        raise Forbidden("只有管理员可以修改政策参数 / only admins may change policy parameters")
    return policy.save(
        db.session(),
        key,
        effective_from=args["effective_from"],
        values=args["values"],
        labels=args.get("labels"),
        note=args["note"],
        actor_id=user.id,
    )
