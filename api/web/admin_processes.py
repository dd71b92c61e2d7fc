"""Admin pages for process definitions: the list, each definition's versions, XML download, upload.

Only admins (a grant with role ``admin`` on any org unit) reach these pages; everyone else gets 403.
Uploads are linted and deployed by the same engine service as the REST API; a refused file is shown
problem by problem (element, line) and leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Response, abort, flash, redirect, render_template, request, url_for

from api.extensions import db
from api.web import bp
from api.web.i18n import pick, t
from api.web.views import login_required, user
from engine.bpmn.parsing import BpmnInvalid, BpmnTooLarge
from engine.definitions import service as definitions
from engine.users import service as users


def admin_required(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Logged in (else the login page) and an admin (else 403)."""

    @wraps(fn)
    @login_required
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not users.is_admin(user()):
            abort(403)
        return fn(*args, **kwargs)

    return wrapper


@bp.get("/admin/processes")
@admin_required
def admin_processes() -> Any:
    session = db.session()
    running = definitions.running_by_key(session)
    rows = [
        {"definition": d, "versions": n, "running": running.get(d.key, 0)}
        for d, n in definitions.list_latest(session)
    ]
    return render_template("admin_processes.html", rows=rows)


@bp.get("/admin/processes/<key>")
@admin_required
def admin_process(key: str) -> Any:
    versions = definitions.versions_with_counts(db.session(), key)
    return render_template("admin_process.html", key=key, name=versions[0].definition.name, versions=versions)


@bp.get("/admin/processes/<key>/<int:version>/xml")
@admin_required
def admin_process_xml(key: str, version: int) -> Any:
    definition = definitions.get_version(db.session(), key, version)
    return Response(
        definition.bpmn_xml,
        mimetype="application/xml",
        headers={"Content-Disposition": f'attachment; filename="{key}-v{version}.bpmn"'},
    )


@bp.post("/admin/processes/upload")
@admin_required
def admin_process_upload() -> Any:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return render_template(
            "admin_upload_result.html", problems=[], message=t("admin_upload_missing")
        ), 422
    try:
        data = upload.read()
    finally:
        upload.close()
    try:
        definition, created = definitions.deploy(
            db.session(), data, actor_id=user().id, source=f"upload:{upload.filename[:150]}"
        )
    except BpmnInvalid as err:
        db.session().rollback()
        status = 413 if isinstance(err, BpmnTooLarge) else 422
        problems = [
            {"element": p.element_id, "line": p.line, "message": pick(p.message)} for p in err.problems
        ]
        return render_template(
            "admin_upload_result.html", problems=problems, message=t("admin_upload_refused")
        ), status
    flash(
        t("admin_deployed", key=definition.key, version=definition.version)
        if created
        else t("admin_unchanged", key=definition.key, version=definition.version),
        "success",
    )
    return redirect(url_for("web.admin_process", key=definition.key))
