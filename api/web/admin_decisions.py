"""Admin pages for DMN decision tables: the decisions and their versions, a dmn-js editor on any version
(or a new table) that deploys the edited XML as the next version, and a "try it" panel evaluating the
table being edited on entered inputs (the matched rows shown; nothing stored)."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, jsonify, render_template, request, url_for

from api.extensions import db
from api.web import bp
from api.web.admin_policy import procedure_names
from api.web.admin_processes import _shown, admin_required
from api.web.i18n import MESSAGES, pick, t
from api.web.views import user
from engine.bpmn import dmn
from engine.bpmn.xmlsafe import BpmnInvalid, Problem
from engine.decisions import service as decisions
from engine.errors import Invalid
from engine.policy import service as policy

MESSAGES.update(
    {
        "admin_decisions": ("决策表", "Decision tables"),
        "decisions_help": (
            "决策表（DMN）由流程中的业务规则任务按 id 调用，像流程一样按版本部署：案件沿用其发起时的版本，新版本只用于此后发起的案件。",
            "Decision tables (DMN) are called by id from business-rule tasks and deployed as versions like "
            "processes: a case keeps the version in force when it started; a new version applies to new cases.",
        ),
        "decision_key": ("决策 id", "Decision id"),
        "decision_name": ("名称", "Name"),
        "decision_versions": ("版本数", "Versions"),
        "decision_latest": ("最新版本", "Latest version"),
        "decision_new": ("新建决策表", "New decision table"),
        "decision_edit": ("在编辑器中打开", "Open in the editor"),
        "decision_download": ("下载 XML", "Download XML"),
        "decision_source": ("来源", "Source"),
        "decision_editor": ("决策表编辑", "Decision table editor"),
        "decision_deploy": ("部署为新版本", "Deploy as a new version"),
        "decision_opened_from": ("基于版本 {version}", "Opened from version {version}"),
        "decision_try": ("试算", "Try it"),
        "decision_try_help": (
            "输入各列的值，按当前编辑中的决策表计算（不保存）；param() 读取所选流程今日适用的政策参数。",
            "Enter a value per input column: the table as edited now is evaluated (nothing is stored); "
            "param() reads the chosen procedure's policy parameters in force today.",
        ),
        "decision_params_of": ("政策参数取自流程", "Policy parameters of"),
        "decision_no_params": ("（不读取参数）", "(none)"),
        "decision_result": ("结果", "Result"),
        "decision_matched": ("命中规则", "Matched rules"),
        "decision_row": ("第 {row} 行", "Row {row}"),
        "decision_no_match": ("没有命中的规则", "No rule matched"),
        "decision_deployed": ("已部署为 {key} 第 {version} 版", "Deployed as {key} version {version}"),
        "decision_unchanged": ("内容未变，仍为第 {version} 版", "Unchanged: still version {version}"),
    }
)

# A new table: one decision, one input, one output, no rules yet (dmn-js opens it as a table).
BLANK_DMN = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="Definitions_new" \
name="新决策表" namespace="http://assistflow.example/dmn">
  <decision id="new_decision" name="新决策表">
    <decisionTable id="DecisionTable_new" hitPolicy="FIRST">
      <input id="Input_1" label="金额">
        <inputExpression id="InputExpression_1" typeRef="number"><text>amount</text></inputExpression>
      </input>
      <output id="Output_1" label="结果" name="result" typeRef="string"/>
    </decisionTable>
  </decision>
</definitions>
"""


@bp.get("/admin/decisions")
@admin_required
def admin_decisions() -> Any:
    return render_template("admin_decisions.html", rows=decisions.list_latest(db.session()))


@bp.get("/admin/decisions/<key>")
@admin_required
def admin_decision(key: str) -> Any:
    session = db.session()
    return render_template(
        "admin_decision.html",
        key=key,
        rows=decisions.versions(session, key),
        used_by=decisions.used_by(session, key),
    )


@bp.get("/admin/decisions/<key>/<int:version>/xml")
@admin_required
def admin_decision_xml(key: str, version: int) -> Any:
    row = decisions.get_version(db.session(), key, version)
    return Response(
        row.dmn_xml,
        mimetype="application/xml",
        headers={"Content-Disposition": f'attachment; filename="{row.key}-v{row.version}.dmn"'},
    )


def _columns(table: dmn.DecisionTable) -> list[dict[str, str]]:
    return [
        {"name": c.expression, "label": c.label or c.expression, "type": c.type_ref or "string"}
        for c in table.inputs
    ]


def _editor(key: str | None, version: int | None, xml: str) -> Any:
    session = db.session()
    try:
        table = dmn.read_dmn(xml)
        columns = _columns(table)
    except BpmnInvalid:
        columns = []
    used = decisions.used_by(session, key) if key else []
    procedures = [k for k, _n in policy.procedures(session)]
    page = {
        "key": key,
        "version": version,
        "xml": xml,
        "columns": columns,
        "procedures": procedures,
        "procedure_names": procedure_names(session),
        "process_key": next((k for k in used if k in procedures), ""),
        "urls": {"deploy": url_for("web.admin_decision_deploy"), "try": url_for("web.admin_decision_try")},
        "texts": {
            "result": t("decision_result"),
            "matched": t("decision_matched"),
            "no_match": t("decision_no_match"),
            "row": t("decision_row", row="{row}"),
            "deployed": t("decision_deployed", key="{key}", version="{version}"),
            "unchanged": t("decision_unchanged", version="{version}"),
            "yes": t("yes"),
            "no": t("no"),
        },
    }
    return render_template("admin_decision_editor.html", page=page, key=key, version=version)


@bp.get("/admin/decisions/<key>/<int:version>/editor")
@admin_required
def admin_decision_editor(key: str, version: int) -> Any:
    row = decisions.get_version(db.session(), key, version)
    return _editor(row.key, row.version, row.dmn_xml)


@bp.get("/admin/decisions/new/editor")
@admin_required
def admin_decision_new() -> Any:
    return _editor(None, None, BLANK_DMN)


def _refused(problems: list[Problem], status: int = 422) -> Any:
    return jsonify({"ok": False, "problems": _shown(problems)}), status


@bp.post("/admin/decisions/deploy")
@admin_required
def admin_decision_deploy() -> Any:
    """Deploy the edited XML as the next version of its decision; every problem when refused."""
    xml = request.form.get("xml", "")
    try:
        row, created = decisions.deploy(db.session(), xml, actor_id=user().id, source="editor")
    except BpmnInvalid as err:
        db.session.rollback()
        return _refused(list(err.problems))
    return jsonify({"ok": True, "created": created, "key": row.key, "version": row.version})


def _display(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return t("yes") if value else t("no")
    if isinstance(value, list):
        return "、".join(_display(v) for v in value) or "—"
    return str(value)


@bp.post("/admin/decisions/try")
@admin_required
def admin_decision_try() -> Any:
    """Evaluate the edited table on the entered inputs (nothing stored): outputs and matched rows."""
    session = db.session()
    try:
        table = dmn.read_dmn(request.form.get("xml", ""))
    except BpmnInvalid as err:
        return _refused(list(err.problems))
    try:
        inputs = json.loads(request.form.get("inputs") or "{}")
    except ValueError:
        inputs = None
    if not isinstance(inputs, dict) or len(inputs) > decisions.MAX_TRY_INPUTS:
        return _refused([Problem("输入无效 / the inputs are not readable")])
    process_key = request.form.get("process_key") or ""
    kept = policy.snapshot(session, process_key, {}) if process_key else None
    try:
        outcome = decisions.evaluate(table, inputs, dict(kept["values"]) if kept else None)
    except Invalid as err:
        message = "; ".join(pick(m) for ms in err.fields.values() for m in ms) or pick(str(err))
        return jsonify({"ok": False, "problems": [{"message": message, "severity": "error"}]}), 422
    by_row = {r.row: r for r in table.rules}
    outputs = {o.name: o.label or o.name for o in table.outputs}
    return jsonify(
        {
            "ok": True,
            "columns": _columns(table),
            "result": [
                {"name": name, "label": outputs.get(name, name), "value": _display(value)}
                for name, value in outcome.result.items()
            ],
            "matched": [{"row": n, "description": by_row[n].description} for n in outcome.matched],
        }
    )
