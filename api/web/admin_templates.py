"""Admin pages for the document templates (文书模板): the list of kinds with their current version, and an
editor per kind — the Jinja HTML text, saved as a new audited version that fills the documents printed
from then on (documents already stored keep theirs: a reprint is the same file)."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for

from api.extensions import db
from api.web import bp
from api.web.admin_processes import admin_required
from api.web.i18n import MESSAGES, locale, pick, t
from api.web.views import user
from engine.documents import service as documents
from engine.documents import template_versions
from engine.errors import Invalid

MESSAGES.update(
    {
        "admin_templates": ("文书模板", "Document templates"),
        "admin_template_kind": ("文书", "Document"),
        "admin_template_file": ("模板文件", "Template file"),
        "admin_template_editor": ("模板（Jinja HTML）", "Template (Jinja HTML)"),
        "admin_template_save": ("保存为新版本", "Save as a new version"),
        "admin_template_saved": (
            "已保存文书模板 {kind} 第 {version} 版",
            "Saved template {kind} version {version}",
        ),
        "admin_template_hint": (
            "保存后新生成的文书使用新版本；已生成的文书不变，重新打印仍为原文件。",
            "Documents generated from now on use the new version; documents already generated stay as they are.",
        ),
    }
)


def _lang() -> str:
    return "en" if locale() == "en" else "zh"


def _editor(name: str, text: str, problems: list[str], status: int = 200) -> Any:
    session = db.session()
    kind = documents.kind_of(name)
    version, _current = documents.template_text(session, name)
    return render_template(
        "admin_template.html",
        kind=kind,
        title=kind.label(_lang()),
        current_version=version,
        versions=template_versions.versions(session, name),
        text=text,
        problems=problems,
    ), status


@bp.get("/admin/templates")
@admin_required
def admin_templates() -> Any:
    session = db.session()
    rows = [
        {
            "kind": k.name,
            "title": k.label(_lang()),
            "version": template_versions.latest_version(session, k.name),
        }
        for k in documents.KINDS.values()
    ]
    return render_template("admin_templates.html", rows=rows)


@bp.route("/admin/templates/<name>", methods=["GET", "POST"])
@admin_required
def admin_template(name: str) -> Any:
    session = db.session()
    if request.method == "GET":
        _version, text = documents.template_text(session, name)  # 404 for an unknown kind
        return _editor(name, text, [])
    text = request.form.get("source", "")
    try:
        row = documents.save_template(session, user(), name, text)
    except Invalid as err:
        session.rollback()
        return _editor(name, text, [pick(m) for messages in err.fields.values() for m in messages], 422)
    flash(
        t("admin_template_saved", kind=documents.kind_of(name).label(_lang()), version=row.version), "success"
    )
    return redirect(url_for("web.admin_template", name=name))
