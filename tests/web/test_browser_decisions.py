"""The decision table editor in a real browser (Playwright + Debian chromium against a live server).

A procedure with a business-rule task runs on version 1 of its decision table. An admin opens the table
in dmn-js, changes one output cell, tries the edited table on entered inputs (the result and the matched
row shown), and deploys it as version 2. A case started before keeps version 1; a case started after
uses the new value. The BPMN modeler's side panel shows and changes the decision a task names.
"""

from __future__ import annotations

from pathlib import Path

from api.extensions import db
from engine.decisions import service as decisions
from engine.definitions import service as definitions
from engine.instances.models import ProcessInstance
from tests.factories import application_data, complete
from tests.web.browser import Staff

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "decisions"
KEY = "dmn_demo_level"
STREET = "310107014"


def _start(client, login, business_key: str) -> int:
    response = client.post(
        "/api/v1/process-instances",
        json={"process_key": "dmn_demo", "org_unit": STREET, "business_key": business_key},
        headers=login("pt_advisor"),
    )
    assert response.status_code == 201, response.json
    return int(response.json["id"])


def _level_after_application(instance_id: int) -> str:
    session = db.session()
    complete(session, "pt_advisor", instance_id, "application", application_data())
    session.commit()
    db.session.remove()
    return str(db.session.get(ProcessInstance, instance_id).data["review_level"])


def test_admin_edits_a_decision_table_tries_it_and_deploys_it(browser, live_server, client, login):
    # --- 1. A procedure on version 1 of its table, and a case started on it ---------------------------
    session = db.session()
    decisions.deploy(session, (FIXTURES / "dmn_demo_level.dmn").read_bytes(), source="test")
    definitions.deploy(session, (FIXTURES / "dmn_demo.bpmn").read_bytes(), source="test")
    session.commit()
    db.session.remove()
    old_case = _start(client, login, "DMN-OLD-1")

    # --- 2. The admin changes an output cell in dmn-js ------------------------------------------------
    admin = Staff(browser, live_server, "admin").login()
    page = admin.page
    admin.goto(f"/admin/decisions/{KEY}/1/editor")
    page.locator('#d-canvas[data-ready="true"]').wait_for()
    # dmn-js speaks Chinese on a Chinese page (editor-zh.js): its headers, hit policy and DRD button
    canvas_text = page.locator("#d-canvas").inner_text()
    for english in ("When", "Then", "Annotations", "Hit policy", "View DRD"):
        assert english not in canvas_text, english
    assert "命中策略" in canvas_text and "备注" in canvas_text
    assert page.locator("#d-deploy").inner_text() == "部署为新版本"
    cell = page.locator('#d-canvas td[data-row-id="r_mid"][data-col-id="out_level"]')
    cell.click()
    editable = cell.locator("[contenteditable]").first
    editable.press("Control+a")
    editable.press_sequentially('"district"')
    page.locator("#d-try-h").click()  # leave the cell
    page.locator(
        '#d-canvas td[data-row-id="r_mid"][data-col-id="out_level"]', has_text='"district"'
    ).wait_for()
    admin.shot("60-decision-edited")

    # --- 3. Try it: the edited table on entered inputs --------------------------------------------------
    page.locator('[data-input="amount_requested"]').fill("6000.50")
    page.locator('[data-input="hardship_category"]').fill("dibao_edge")
    page.locator("#d-try-run").click()
    page.locator('[data-testid="try-result"] [data-output="review_level"]', has_text="district").wait_for()
    assert page.locator('[data-testid="try-matched"] [data-row]').all_inner_texts() == ["第 2 行"]
    admin.shot("61-decision-tried")

    # --- 4. Deploy as version 2 ---------------------------------------------------------------------------
    page.locator("#d-deploy").click()
    page.locator("#d-status", has_text="已部署为 dmn_demo_level 第 2 版").wait_for()
    db.session.remove()
    assert [v.version for v in decisions.versions(db.session(), KEY)] == [2, 1]

    # --- 5. The BPMN modeler's panel names a business-rule task's decision ---------------------------------
    ca = definitions.latest(db.session(), "comprehensive_assistance")
    admin.goto(f"/admin/processes/comprehensive_assistance/{ca.version}/modeler")
    page.locator('#canvas[data-modeler-ready="1"]').wait_for()
    select = "id => window.afModeler.get('selection').select(window.afModeler.get('elementRegistry').get(id))"
    page.evaluate(select, "approval_authority")
    page.get_by_test_id("panel-element").filter(has_text="approval_authority").wait_for()
    assert page.get_by_label("决策表", exact=True).input_value() == "ca_approval_authority"
    page.get_by_label("决策表", exact=True).select_option(KEY)
    xml = page.evaluate("window.afModeler.saveXML().then(r => r.xml)")
    assert f"<spiffworkflow:calledDecisionId>{KEY}</spiffworkflow:calledDecisionId>" in xml
    assert xml.count("calledDecisionId>") == 2  # one element, replaced
    admin.close()

    # --- 6. The old case keeps version 1, a new case uses the new value -----------------------------------
    new_case = _start(client, login, "DMN-NEW-1")
    assert _level_after_application(old_case) == "street"
    assert _level_after_application(new_case) == "district"
