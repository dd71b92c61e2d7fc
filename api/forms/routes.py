"""Form definitions: the list, one form with its versions, saving a new version, previewing a draft."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_smorest import Blueprint

from api import jsonbody
from api.extensions import db
from api.forms.schemas import FormDetailSchema, FormSummarySchema, FormVersionSchema, PreviewSchema
from api.security import BEARER, current_user, login_required
from engine.errors import Forbidden, Invalid
from engine.forms import form_to_client
from engine.formversions import service as formversions
from engine.users import service as users

blp = Blueprint("forms", __name__, url_prefix="/api/v1/forms", description="表单定义 / form definitions")

_BODY_DOC = {
    "content": {"application/json": {"schema": {"type": "object", "description": "a form definition"}}}
}


def _require_admin() -> None:
    if not users.is_admin(current_user()):
        raise Forbidden("只有管理员可以管理表单 / only admins may manage forms")


def _definition_body() -> Any:
    try:
        raw = jsonbody.loads(request.get_data(cache=True)) if request.is_json else None
    except ValueError:
        raw = None
    if not isinstance(raw, dict):
        raise Invalid.on(
            "_form", "请求体必须是表单定义 JSON 对象 / the body must be a form definition object"
        )
    return raw


@blp.route("", methods=["GET"])
@blp.response(200, FormSummarySchema(many=True))
@blp.doc(security=[BEARER])
@login_required
def list_forms() -> Any:
    """Every form with its current version (``null``: the file in ``forms/``)."""
    _require_admin()
    return formversions.list_forms(db.session())


@blp.route("/<string:key>", methods=["GET"])
@blp.response(200, FormDetailSchema)
@blp.doc(security=[BEARER])
@login_required
def get_form(key: str) -> Any:
    """One form: its current definition and its saved versions, newest first."""
    _require_admin()
    session = db.session()
    versions = formversions.versions(session, key)
    form, version = formversions.current(session, key)
    assert form is not None  # versions() refused unknown keys
    return {
        "key": key,
        "title": dict(form.title),
        "latest_version": version,
        "definition": dict(form.raw),
        "versions": versions,
    }


@blp.route("/<string:key>/versions", methods=["POST"])
@blp.doc(security=[BEARER], requestBody=_BODY_DOC)
@blp.response(201, FormVersionSchema)
@login_required
def save_version(key: str) -> Any:
    """Save a new version (422 with the reason per field path if the definition is invalid)."""
    _require_admin()
    row = formversions.save(db.session(), key, _definition_body(), actor_id=current_user().id)
    return {
        "version": row.version,
        "sha256": row.sha256,
        "created_by": current_user().username,
        "created_at": row.created_at,
    }, 201


@blp.route("/<string:key>/preview", methods=["POST"])
@blp.doc(security=[BEARER], requestBody=_BODY_DOC)
@blp.response(200, PreviewSchema)
@login_required
def preview(key: str) -> Any:
    """Check a draft definition without saving: its fields as a task would show them, or the problems."""
    _require_admin()
    try:
        form = formversions.check(key, _definition_body())
    except Invalid as err:
        return {"ok": False, "form": None, "problems": err.fields}
    return {"ok": True, "form": form_to_client(form, current_user().locale), "problems": {}}
