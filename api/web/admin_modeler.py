"""The BPMN modeler pages (admins only): bpmn-js Modeler with our side panel, validate, diff, deploy.

The page carries the version's XML, the known roles and the form keys; the browser edits the diagram
and posts the whole XML (form field ``xml``, CSRF header) back to three JSON endpoints: validation
(every problem, pointing at its element), the diff against the version it was opened from, and deploy
(a new version through the engine service; nothing is stored when it is refused).
"""

from __future__ import annotations

from typing import Any

from flask import jsonify, render_template, request, url_for

from api.extensions import db
from api.web import bp
from api.web.admin_processes import _shown, admin_required
from api.web.display import role_name
from api.web.i18n import MESSAGES, locale, t
from api.web.views import user
from engine import formstore
from engine.bpmn.parsing import BPMN_NS, BpmnInvalid, Problem, choose_process, parse_xml, to_utf8
from engine.decisions import service as decisions
from engine.definitions import service as definitions
from engine.definitions.diff import DefinitionDiff, diff_xml
from engine.definitions.models import ProcessDefinition
from engine.forms.model import _text
from engine.users.models import ROLE_NAMES_ZH, Role

MESSAGES.update(
    {
        "modeler": ("流程建模", "Process modeler"),
        "modeler_validate": ("校验", "Validate"),
        "modeler_diff": ("对比", "Diff"),
        "modeler_deploy": ("部署", "Deploy"),
        "modeler_download": ("下载 XML", "Download XML"),
        "modeler_new": ("新建流程", "New process"),
        "modeler_panel": ("属性", "Properties"),
        "modeler_nothing_selected": ("请在图中选择一个元素", "Select an element in the diagram"),
        "modeler_opened_from": ("基于版本 {version}", "Opened from version {version}"),
        "modeler_draft": ("草稿（未保存）", "Draft (not stored)"),
        "modeler_draft_help": (
            "此文件的流程未标记为可执行，不能部署：在右侧属性中勾选“可执行”，校验后再部署。",
            "This file's process is not marked executable and cannot be deployed: tick “Executable” in "
            "the properties on the right, validate, then deploy.",
        ),
        "modeler_open_draft": ("作为草稿在建模器中打开", "Open as a draft in the modeler"),
    }
)

# A new process: one executable process with a start event, ready for the modeler to draw on.
BLANK_XML = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="{BPMN_NS}" xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" \
xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" \
xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="Definitions_new" \
targetNamespace="http://assistflow.example/bpmn">
  <bpmn:process id="new_process" name="新流程" isExecutable="true">
    <bpmn:startEvent id="start" name="开始"/>
  </bpmn:process>
  <bpmndi:BPMNDiagram id="BPMNDiagram_new">
    <bpmndi:BPMNPlane id="BPMNPlane_new" bpmnElement="new_process">
      <bpmndi:BPMNShape id="start_di" bpmnElement="start">
        <dc:Bounds x="180" y="160" width="36" height="36"/>
      </bpmndi:BPMNShape>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""
_NOTHING = f'<bpmn:definitions xmlns:bpmn="{BPMN_NS}"/>'


def _named(name: str, key: str) -> str:
    return f"{name}（{key}）" if locale() != "en" else f"{name} ({key})"


def _page(key: str | None, version: int | None, xml: str, *, draft: bool = False) -> str:
    page = {
        "key": key,
        "version": version,
        "draft": draft,
        "xml": xml,
        # the role's name in the page's language, with the key a lane's name carries
        "roles": [{"value": r.value, "label": _named(role_name(r.value, locale()), r.value)} for r in Role],
        "role_names": {r.value: ROLE_NAMES_ZH.get(r, r.value) for r in Role},  # written into lane names
        "forms": [
            {"value": k, "label": _named(_text(f.title, locale()) or k, k)}
            for k, f in sorted(formstore.all_forms().items())
        ],
        "decisions": [
            {"value": s.latest.key, "label": f"{s.latest.name} ({s.latest.key})"}
            for s in decisions.list_latest(db.session())
        ],
        "urls": {
            "validate": url_for("web.admin_modeler_validate"),
            "diff": url_for("web.admin_modeler_diff"),
            "deploy": url_for("web.admin_modeler_deploy"),
        },
    }
    return render_template("admin_modeler.html", page=page, key=key, version=version, draft=draft)


@bp.get("/admin/processes/<key>/<int:version>/modeler")
@admin_required
def admin_modeler(key: str, version: int) -> Any:
    definition = definitions.get_version(db.session(), key, version)
    return _page(definition.key, definition.version, definition.bpmn_xml)


@bp.get("/admin/processes/new/modeler")
@admin_required
def admin_modeler_new() -> Any:
    return _page(None, None, BLANK_XML)


@bp.post("/admin/modeler/draft")
@admin_required
def admin_modeler_draft() -> Any:
    """Open an uploaded file whose process is not marked executable in the modeler, as a draft: nothing
    is stored; the admin makes it executable there, validates and deploys it (a file that is not such a
    draft is refused with its problems, as an upload is)."""
    xml = request.form.get("xml", "")
    try:
        data = to_utf8(xml)
        if not definitions.is_draft(data):
            raise BpmnInvalid(
                [
                    Problem(
                        "只有未标记为可执行的流程可以作为草稿打开 / only a file whose process is not marked "
                        "executable opens as a draft"
                    )
                ]
            )
    except BpmnInvalid as err:
        return render_template(
            "admin_upload_result.html",
            problems=_shown(err.problems),
            message=t("admin_upload_refused"),
        ), 422
    key, _problem = choose_process(parse_xml(data).getroot())
    return _page(key, None, data.decode("utf-8"), draft=True)


def _problems(problems: list[Problem], status: int = 422) -> Any:
    body = {"ok": False, "problems": [p.as_dict() for p in problems]}  # "中文 / English", with the details
    return jsonify(body), status


def _posted_xml() -> str:
    xml = request.form.get("xml", "")
    if not xml.strip():
        raise BpmnInvalid([Problem("缺少 BPMN XML / BPMN XML is missing")])
    return xml


def _base_version() -> int | None:
    raw = request.form.get("version", "")
    return int(raw) if raw.isdigit() and 0 < int(raw) < 2**31 else None


@bp.post("/admin/modeler/validate")
@admin_required
def admin_modeler_validate() -> Any:
    """Every problem that would refuse this XML at deploy (``ok`` false, 422), then the warnings that
    would not (``severity`` warning; alone they leave ``ok`` true); nothing is stored."""
    try:
        xml = _posted_xml()
        compiled = definitions.compile_for_deploy(xml, source="modeler", session=db.session())
    except BpmnInvalid as err:
        return _problems(
            [*err.problems, *definitions.lint_warnings(request.form.get("xml", ""), session=db.session())]
        )
    warnings = [p.as_dict() for p in definitions.lint_warnings(xml, session=db.session())]
    return jsonify({"ok": True, "problems": warnings, "key": compiled.key, "name": compiled.name})


@bp.post("/admin/modeler/diff")
@admin_required
def admin_modeler_diff() -> Any:
    """Added, removed and changed elements against the version the modeler opened (or the latest)."""
    session = db.session()
    key, version = request.form.get("key") or None, _base_version()
    try:
        xml = _posted_xml()
        base: ProcessDefinition | None = None
        if key:
            base = (
                definitions.get_version(session, key, version)
                if version
                else definitions.latest(session, key)
            )
        if base is None:  # a new process: diff against the latest of the key it declares, if any
            base = definitions.latest(session, _process_key(xml))
        result: DefinitionDiff = diff_xml(base.bpmn_xml if base else _NOTHING, xml)
    except BpmnInvalid as err:
        return _problems(err.problems)
    return jsonify(
        {
            "ok": True,
            "key": base.key if base else None,
            "from_version": base.version if base else None,
            **result.as_dict(),
        }
    )


def _process_key(xml: str) -> str:
    root = parse_xml(xml).getroot()
    executable = [
        p.get("id") for p in root.iter(f"{{{BPMN_NS}}}process") if p.get("isExecutable", "").lower() == "true"
    ]
    return str(executable[0]) if executable else ""


@bp.post("/admin/modeler/deploy")
@admin_required
def admin_modeler_deploy() -> Any:
    """Deploy the XML as the next version of its process; refused with every problem, nothing stored."""
    session = db.session()
    try:
        definition, created = definitions.deploy(session, _posted_xml(), actor_id=user().id, source="modeler")
    except BpmnInvalid as err:
        session.rollback()
        return _problems(err.problems)
    return jsonify(
        {
            "ok": True,
            "created": created,
            "key": definition.key,
            "version": definition.version,
            "redirect": f"/admin/processes/{definition.key}",
        }
    )
