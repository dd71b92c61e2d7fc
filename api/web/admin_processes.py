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
from api.web.i18n import MESSAGES, pick, t
from api.web.views import login_required, user
from engine.bpmn.parsing import BpmnInvalid, BpmnTooLarge, to_utf8
from engine.definitions import service as definitions
from engine.errors import Invalid
from engine.users import service as users

MESSAGES.update(
    {
        "lint_error": ("错误", "Error"),
        "lint_warning": ("警告", "Warning"),
        "lint_warnings": (
            "校验提示（不影响部署，请确认是否符合预期）：",
            "Warnings (they do not block the deploy; check that this is intended):",
        ),
    }
)


def _shown(problems: list[Any]) -> list[dict[str, Any]]:
    """Lint findings for a page: element, line, severity and the message in the page's language."""
    return [
        {
            "element": p.element_id,
            "name": p.name,
            "line": p.line,
            "severity": p.severity,
            "message": pick(p.message),
        }
        for p in problems
    ]


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


def _refused(err: BpmnInvalid, xml: bytes | None = None) -> Any:
    db.session().rollback()
    status = 413 if isinstance(err, BpmnTooLarge) else 422
    problems = _shown(err.problems)
    if not isinstance(err, BpmnTooLarge) and xml is not None:
        problems += _shown(definitions.lint_warnings(xml, session=db.session()))
    draft = xml is not None and not isinstance(err, BpmnTooLarge) and definitions.is_draft(xml)
    return render_template(
        "admin_upload_result.html",
        problems=problems,
        message=t("admin_upload_refused"),
        draft_xml=xml.decode("utf-8", errors="replace") if draft and xml is not None else None,
    ), status


@bp.post("/admin/processes/upload")
@admin_required
def admin_process_upload() -> Any:
    """Step 1: the file is validated and compared with the latest version; nothing is stored yet.
    Step 2 (``confirm``): the same XML, sent back from the preview, is deployed."""
    session = db.session()
    if request.form.get("confirm"):
        data = request.form.get("xml", "").encode("utf-8")
        filename = request.form.get("filename", "")[:150]
    else:
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            return render_template(
                "admin_upload_result.html", problems=[], message=t("admin_upload_missing")
            ), 422
        try:
            data = upload.read()
        finally:
            upload.close()
        filename = upload.filename[:150]
    try:
        data = to_utf8(data)  # a valid ISO-8859-1 / GBK / UTF-16 file is shown and stored as UTF-8
        compiled = definitions.compile_for_deploy(data, f"upload:{filename}", session=db.session())
    except BpmnInvalid as err:
        return _refused(err, data)
    if not request.form.get("confirm"):
        current = definitions.latest(session, compiled.key)
        diff = definitions.diff_xml(current.bpmn_xml, data) if current is not None else None
        return render_template(
            "admin_upload_preview.html",
            key=compiled.key,
            name=compiled.name,
            current=current,
            diff=diff,
            xml=data.decode("utf-8"),
            filename=filename,
            warnings=_shown(definitions.lint_warnings(data, session=db.session())),
        )
    try:
        definition, created = definitions.deploy(
            session, data, actor_id=user().id, source=f"upload:{filename}"
        )
    except BpmnInvalid as err:
        return _refused(err)
    flash(
        t("admin_deployed", key=definition.key, version=definition.version)
        if created
        else t("admin_unchanged", key=definition.key, version=definition.version),
        "success",
    )
    return redirect(url_for("web.admin_process", key=definition.key))


@bp.get("/admin/processes/<key>/diff")
@admin_required
def admin_process_diff(key: str) -> Any:
    """What changed between two deployed versions (``to`` defaults to the latest, ``from`` to the one before)."""
    try:
        old, new, diff = definitions.diff_versions(
            db.session(), key, _version_arg("from"), _version_arg("to")
        )
    except Invalid as err:
        return render_template("error.html", message=pick(err.message)), 422
    return render_template("admin_process_diff.html", key=key, old=old, new=new, diff=diff)


def _version_arg(name: str) -> int | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 9:
        raise Invalid.on(name, "版本号必须是正整数 / the version must be a positive integer")
    return int(raw)
