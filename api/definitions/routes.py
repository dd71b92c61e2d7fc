from __future__ import annotations

from typing import Any

from flask import Response, request
from flask_smorest import Blueprint

from api.definitions.schemas import (
    DefinitionSummarySchema,
    DefinitionVersionsSchema,
    DeployArgs,
    DeployResultSchema,
    DiffAgainstArgs,
    DiffSchema,
    DiffVersionsArgs,
    LintResultSchema,
    XmlArgs,
)
from api.extensions import db
from api.security import BEARER, current_user, login_required
from engine.definitions import service as definitions
from engine.definitions.models import ProcessDefinition
from engine.errors import Forbidden, Invalid
from engine.users import service as users

blp = Blueprint(
    "process_definitions",
    __name__,
    url_prefix="/api/v1/process-definitions",
    description="流程定义 / process definitions",
)


# A BPMN file as multipart ``file`` or as the XML body itself (deploy, lint, diff)
BPMN_BODY = {
    "content": {
        "multipart/form-data": {"schema": DeployArgs},
        "application/xml": {"schema": {"type": "string"}},
    }
}


@blp.route("", methods=["GET"])
@blp.response(200, DefinitionSummarySchema(many=True))
@blp.doc(security=[BEARER])
@login_required
def list_definitions() -> Any:
    """The latest version of every process definition."""
    rows = definitions.list_latest(db.session())
    return [{**{c.key: getattr(d, c.key) for c in d.__table__.columns}, "versions": n} for d, n in rows]


# Everything but the (deferred) XML, which would be loaded once per row.
_SUMMARY_COLUMNS = [c for c in ProcessDefinition.__table__.columns if c.key != "bpmn_xml"]


def _uploaded_xml() -> bytes:
    if request.files:
        upload = request.files.get("file")
        if upload is None:
            raise Invalid(
                "缺少文件 / missing file", {"file": ["请上传 BPMN 文件 / upload a BPMN file as 'file'"]}
            )
        try:
            return upload.read()
        finally:
            upload.close()  # a large upload is spooled to a temporary file
    if request.mimetype in ("application/xml", "text/xml", "application/bpmn+xml"):
        return request.get_data()
    raise Invalid(
        "请以 multipart 的 file 字段或 application/xml 请求体上传 BPMN / send BPMN as multipart 'file' or XML body",
        {"file": ["缺少文件 / missing file"]},
    )


@blp.route("", methods=["POST"])
@blp.doc(
    security=[BEARER],
    requestBody=BPMN_BODY,
)
@blp.response(201, DeployResultSchema)
@blp.alt_response(200, schema=DeployResultSchema, description="unchanged: same content as the latest version")
@login_required
def deploy() -> Any:
    """Deploy a BPMN file as a new version (422 with the element named if invalid)."""
    user = current_user()
    if not users.is_admin(user):
        raise Forbidden("只有管理员可以部署流程 / only admins may deploy")
    definition, created = definitions.deploy(db.session(), _uploaded_xml(), actor_id=user.id, source="upload")
    return {"created": created, "definition": definition}, (201 if created else 200)


@blp.route("/lint", methods=["POST"])
@blp.doc(
    security=[BEARER],
    requestBody=BPMN_BODY,
)
@blp.response(200, LintResultSchema)
@login_required
def lint() -> Any:
    """Validate BPMN as a deploy would, without deploying: every problem with its element, line and
    severity. ``ok`` means deployable: errors refuse a deploy, warnings do not."""
    if not users.is_admin(current_user()):
        raise Forbidden("只有管理员可以校验流程 / only admins may lint process definitions")
    xml = _uploaded_xml()
    problems = definitions.lint_all(xml, source="upload", session=db.session())
    return {
        "ok": definitions.deployable(problems),
        "draft": definitions.is_draft(xml),
        "problems": [p.as_dict() for p in problems],
        "errors": [p.as_dict() for p in problems if p.severity == "error"],
        "warnings": [p.as_dict() for p in problems if p.severity == "warning"],
    }


@blp.route("/<string:key>", methods=["GET"])
@blp.response(200, DefinitionVersionsSchema)
@blp.doc(security=[BEARER])
@login_required
def get_versions(key: str) -> Any:
    """All versions of one process definition, newest first, with deployer and running cases."""
    rows = definitions.versions_with_counts(db.session(), key)
    return {
        "key": key,
        "name": rows[0].definition.name,
        "versions": [
            {
                **{c.key: getattr(v.definition, c.key) for c in _SUMMARY_COLUMNS},
                "deployed_by": v.deployed_by,
                "running_instances": v.running_instances,
            }
            for v in rows
        ],
    }


@blp.route("/<string:key>/xml", methods=["GET"])
@blp.arguments(XmlArgs, location="query")
@blp.response(200, content_type="application/xml")
@blp.doc(security=[BEARER])
@login_required
def get_xml(args: dict[str, Any], key: str) -> Any:
    """The BPMN XML of one version (latest when no version is given)."""
    definition = definitions.get_version(db.session(), key, args.get("version"))
    return Response(definition.bpmn_xml, mimetype="application/xml")


def _require_admin() -> None:
    if not users.is_admin(current_user()):
        raise Forbidden("只有管理员可以对比流程版本 / only admins may compare process versions")


@blp.route("/<string:key>/diff", methods=["POST"])
@blp.arguments(DiffAgainstArgs, location="query")
@blp.doc(
    security=[BEARER],
    requestBody=BPMN_BODY,
)
@blp.response(200, DiffSchema)
@login_required
def diff_candidate(args: dict[str, Any], key: str) -> Any:
    """Elements a candidate BPMN adds, removes and changes against a deployed version (latest by default)."""
    _require_admin()
    xml = _uploaded_xml()
    base, result = definitions.diff_candidate(db.session(), key, xml, args.get("against"))
    return {"key": key, "from_version": base.version, "to_version": None, **result.as_dict()}


@blp.route("/<string:key>/diff", methods=["GET"])
@blp.arguments(DiffVersionsArgs, location="query")
@blp.doc(security=[BEARER])
@blp.response(200, DiffSchema)
@login_required
def diff_versions(args: dict[str, Any], key: str) -> Any:
    """Elements added, removed and changed between two deployed versions."""
    _require_admin()
    old, new, result = definitions.diff_versions(
        db.session(), key, args.get("from_version"), args.get("to_version")
    )
    return {"key": key, "from_version": old.version, "to_version": new.version, **result.as_dict()}
