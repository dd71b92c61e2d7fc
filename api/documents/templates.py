"""Document templates over the API (admins): the kinds with their current version, one kind's text and
versions, saving a new version (the same service as the 文书模板 pages)."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from api.extensions import db
from api.security import BEARER, current_user, login_required
from engine.documents import service as documents
from engine.documents import template_versions
from engine.errors import Forbidden
from engine.users import service as users

blp = Blueprint(
    "document_templates",
    __name__,
    url_prefix="/api/v1/document-templates",
    description="文书模板 / document templates",
)


class TemplateSummarySchema(Schema):
    kind = fields.String()
    title = fields.String()
    latest_version = fields.Integer(allow_none=True, metadata={"description": "null: the template file"})


class TemplateVersionSchema(Schema):
    version = fields.Integer()
    sha256 = fields.String()
    created_by = fields.String(allow_none=True)
    created_at = fields.DateTime()


class TemplateDetailSchema(TemplateSummarySchema):
    source = fields.String(metadata={"description": "the Jinja HTML new documents are filled from"})
    versions = fields.List(fields.Nested(TemplateVersionSchema))


class TemplateSaveArgs(Schema):
    source = fields.String(required=True, validate=validate.Length(max=template_versions.MAX_SOURCE_CHARS))


class TemplateSavedSchema(Schema):
    kind = fields.String()
    version = fields.Integer()
    sha256 = fields.String()


def _require_admin() -> None:
    if not users.is_admin(current_user()):
        raise Forbidden("只有管理员可以管理文书模板 / only admins may manage document templates")


@blp.route("", methods=["GET"])
@blp.response(200, TemplateSummarySchema(many=True))
@blp.doc(security=[BEARER])
@login_required
def list_templates() -> Any:
    """Every document kind with its current template version (``null``: the file)."""
    _require_admin()
    session, locale = db.session(), current_user().locale
    return [
        {
            "kind": k.name,
            "title": k.label(locale),
            "latest_version": template_versions.latest_version(session, k.name),
        }
        for k in documents.KINDS.values()
    ]


@blp.route("/<string:kind>", methods=["GET"])
@blp.response(200, TemplateDetailSchema)
@blp.doc(security=[BEARER])
@login_required
def get_template(kind: str) -> Any:
    """One kind's current template text and its saved versions, newest first (404 unknown kind)."""
    _require_admin()
    session = db.session()
    version, source = documents.template_text(session, kind)
    return {
        "kind": kind,
        "title": documents.kind_of(kind).label(current_user().locale),
        "latest_version": version,
        "source": source,
        "versions": template_versions.versions(session, kind),
    }


@blp.route("/<string:kind>/versions", methods=["POST"])
@blp.arguments(TemplateSaveArgs)
@blp.response(201, TemplateSavedSchema)
@blp.doc(security=[BEARER])
@login_required
def save_template(args: dict[str, Any], kind: str) -> Any:
    """Save a new version (422 on ``source`` when it cannot fill the kind's sample); audited."""
    _require_admin()
    row = documents.save_template(db.session(), current_user(), kind, args["source"])
    return {"kind": kind, "version": row.version, "sha256": row.sha256}
