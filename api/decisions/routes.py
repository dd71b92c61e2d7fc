"""DMN decision tables: listed by anyone logged in; deployed, linted and tried by admins (audited)."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask_smorest import Blueprint

from api.decisions.schemas import (
    DecisionDeployResultSchema,
    DecisionLintSchema,
    DecisionSummarySchema,
    DecisionVersionsSchema,
    EvaluateArgs,
    EvaluateResultSchema,
    XmlVersionArgs,
)
from api.definitions.routes import BPMN_BODY, _uploaded_xml
from api.extensions import db
from api.security import BEARER, current_user, login_required
from engine.decisions import service as decisions
from engine.errors import Forbidden
from engine.users import service as users

blp = Blueprint(
    "decisions",
    __name__,
    url_prefix="/api/v1/decisions",
    description="决策表（DMN）/ decision tables",
)


def _require_admin() -> None:
    if not users.is_admin(current_user()):
        raise Forbidden("只有管理员可以管理决策表 / only admins may manage decision tables")


def _summary(row: Any) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in row.__table__.columns if c.key != "dmn_xml"}


@blp.route("", methods=["GET"])
@blp.response(200, DecisionSummarySchema(many=True))
@blp.doc(security=[BEARER])
@login_required
def list_decisions() -> Any:
    """The latest version of every decision table."""
    return [{**_summary(s.latest), "versions": s.versions} for s in decisions.list_latest(db.session())]


@blp.route("", methods=["POST"])
@blp.doc(security=[BEARER], requestBody=BPMN_BODY)
@blp.response(201, DecisionDeployResultSchema)
@blp.alt_response(200, schema=DecisionDeployResultSchema, description="unchanged: same content as the latest")
@login_required
def deploy() -> Any:
    """Deploy a DMN file as its decision's next version (422 with every problem, nothing stored)."""
    _require_admin()
    row, created = decisions.deploy(db.session(), _uploaded_xml(), actor_id=current_user().id)
    return {"created": created, "decision": row}, (201 if created else 200)


@blp.route("/lint", methods=["POST"])
@blp.doc(security=[BEARER], requestBody=BPMN_BODY)
@blp.response(200, DecisionLintSchema)
@login_required
def lint() -> Any:
    """Check a DMN file as a deploy would, without deploying: every problem with its element and line."""
    _require_admin()
    table, problems = decisions.check(_uploaded_xml())
    return {"ok": table is not None, "problems": [p.as_dict() for p in problems]}


@blp.route("/<string:key>", methods=["GET"])
@blp.response(200, DecisionVersionsSchema)
@blp.doc(security=[BEARER])
@login_required
def get_versions(key: str) -> Any:
    """Every version of a decision, newest first."""
    return {"key": key, "versions": decisions.versions(db.session(), key)}


@blp.route("/<string:key>/xml", methods=["GET"])
@blp.arguments(XmlVersionArgs, location="query")
@blp.doc(security=[BEARER])
@login_required
def get_xml(args: dict[str, Any], key: str) -> Any:
    """A version's DMN XML (the latest by default)."""
    row = decisions.get_version(db.session(), key, args.get("version"))
    return Response(row.dmn_xml, mimetype="application/xml")


@blp.route("/<string:key>/evaluate", methods=["POST"])
@blp.arguments(EvaluateArgs)
@blp.response(200, EvaluateResultSchema)
@blp.doc(security=[BEARER])
@login_required
def evaluate(args: dict[str, Any], key: str) -> Any:
    """Try a version on entered inputs: its outputs and the rows that matched (nothing is stored)."""
    _require_admin()
    return decisions.try_it_view(
        db.session(), key, args.get("version"), args["inputs"], args.get("process_key")
    )
