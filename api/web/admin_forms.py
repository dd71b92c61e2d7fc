"""Admin pages for form definitions: the list, a JSON editor with a live preview, save as a new version.

The preview (htmx, on every pause in typing) parses the draft with the same loader as the files and
renders it with the task page's field partial, or lists the problems per field path. Saving makes a new,
audited version; open tasks keep the version they were created with.
"""

from __future__ import annotations

import json
from typing import Any

from flask import flash, redirect, render_template, request, url_for

from api import jsonbody
from api.extensions import db
from api.web import bp, formview
from api.web.admin_processes import admin_required
from api.web.i18n import locale, pick, t
from api.web.views import user
from engine.errors import Invalid
from engine.formversions import service as formversions

MAX_DEFINITION_CHARS = 200_000


def _draft() -> Any:
    """The posted JSON text as an object; ``Invalid`` (per ``_form``) when it is not JSON."""
    text = request.form.get("definition", "")
    if len(text) > MAX_DEFINITION_CHARS:
        raise Invalid.on("_form", f"定义过长 / definition longer than {MAX_DEFINITION_CHARS} characters")
    try:
        return jsonbody.loads(text)
    except json.JSONDecodeError as err:
        raise Invalid.on(
            "_form", f"不是有效的 JSON / not valid JSON: {err.msg} (line {err.lineno}, column {err.colno})"
        ) from err


def _problems(err: Invalid) -> list[tuple[str, str]]:
    return [(path, pick(m)) for path, messages in err.fields.items() for m in messages]


def _editor(key: str, text: str, problems: list[tuple[str, str]], status: int = 200) -> Any:
    session = db.session()
    versions = formversions.versions(session, key)
    form, version = formversions.current(session, key)
    preview = formview.fields_of(form, locale()) if not problems else []
    return render_template(
        "admin_form.html",
        key=key,
        title=formview.title_of(form, locale()),
        current_version=version,
        versions=versions,
        text=text,
        problems=problems,
        fields=preview,
    ), status


@bp.get("/admin/forms")
@admin_required
def admin_forms() -> Any:
    return render_template("admin_forms.html", forms=formversions.list_forms(db.session()))


@bp.route("/admin/forms/<key>", methods=["GET", "POST"])
@admin_required
def admin_form(key: str) -> Any:
    session = db.session()
    if request.method == "GET":
        versions = formversions.versions(session, key)  # 404 for an unknown form
        form, _version = formversions.current(session, key)
        assert form is not None and versions is not None
        return _editor(key, json.dumps(dict(form.raw), ensure_ascii=False, indent=2), [])
    text = request.form.get("definition", "")
    try:
        row = formversions.save(session, key, _draft(), actor_id=user().id)
    except Invalid as err:
        session.rollback()
        return _editor(key, text, _problems(err), 422)
    flash(t("admin_form_saved", key=key, version=row.version), "success")
    return redirect(url_for("web.admin_form", key=key))


@bp.post("/admin/forms/<key>/preview")
@admin_required
def admin_form_preview(key: str) -> Any:
    try:
        form = formversions.check(key, _draft())
    except Invalid as err:
        return render_template("_admin_form_preview.html", problems=_problems(err), fields=[], title=None)
    return render_template(
        "_admin_form_preview.html",
        problems=[],
        fields=formview.fields_of(form, locale()),
        title=formview.title_of(form, locale()),
    )
