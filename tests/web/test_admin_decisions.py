"""The admin decision-table pages: the list, a decision's versions, the dmn-js editor page with its data,
deploy from the editor (refusals listed, nothing stored) and the "try it" evaluation; admins only."""

from __future__ import annotations

import json
from pathlib import Path

from api.extensions import db
from engine.decisions.models import DecisionDefinition

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "decisions"


def text(response) -> str:
    return response.get_data(as_text=True)


def test_only_admins_reach_the_decision_pages(web):
    browser = web("pt_district")
    for url in ("/admin/decisions", "/admin/decisions/ca_approval_authority", "/admin/decisions/new/editor"):
        assert browser.get(url).status_code == 403
    assert browser.post("/admin/decisions/deploy", data={"xml": "x"}).status_code == 403


def test_list_versions_editor_deploy_and_try(web):
    admin = web("admin")
    listed = text(admin.get("/admin/decisions"))
    assert "决策表" in listed and "/admin/decisions/ca_approval_authority" in listed
    assert "市民综合帮扶审批权限" in listed and "None" not in listed
    versions = text(admin.get("/admin/decisions/ca_approval_authority"))
    assert (
        "/admin/decisions/ca_approval_authority/1/editor" in versions
        and "comprehensive_assistance" in versions
    )
    editor = admin.get("/admin/decisions/ca_approval_authority/1/editor")
    assert editor.status_code == 200
    html = text(editor)
    assert "/vendor/dmn-modeler.js" in html and "decisions.js" in html and "试算" in html
    vendor = admin.get("/vendor/dmn-modeler.js")
    assert vendor.status_code == 200
    vendor.close()
    assert admin.get("/admin/decisions/ca_approval_authority/1/xml").status_code == 200
    assert admin.get("/admin/decisions/new/editor").status_code == 200

    xml = (FIXTURES / "dmn_demo_level.dmn").read_text(encoding="utf-8")
    tried = admin.post(
        "/admin/decisions/try",
        data={"xml": xml, "inputs": json.dumps({"amount_requested": "25000", "hardship_category": ""})},
    )
    assert tried.status_code == 200, text(tried)
    assert tried.json["result"] == [
        {"name": "review_level", "label": "审批层级", "value": "district"},
        {"name": "level_cap", "label": "上限", "value": "—"},
    ]
    assert tried.json["matched"] == [{"row": 4, "description": ""}]
    before = db.session.query(DecisionDefinition).count()
    refused = admin.post("/admin/decisions/deploy", data={"xml": xml.replace("&lt;= 5000", "&lt;= (")})
    assert refused.status_code == 422 and "第 1 行的条件无效" in refused.json["problems"][0]["message"]
    assert db.session.query(DecisionDefinition).count() == before
    deployed = admin.post("/admin/decisions/deploy", data={"xml": xml})
    assert deployed.json == {"ok": True, "created": True, "key": "dmn_demo_level", "version": 1}
