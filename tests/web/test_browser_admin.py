"""The admin's BPMN modeler in a real browser (Playwright + Debian chromium against a live server).

An admin opens the comprehensive-assistance process in the modeler, renames a task and changes its
deadline (and its reminder and escalation target) in our side panel, validates, looks at the diff and
deploys version n+1. A case started before stays on version n; a new case runs on n+1 with the new name
and deadline. The XML the browser produced re-parses to the values entered (the panel writes the XML
the engine reads).

Sections are numbered so that later steps (the admin migrating the old case to the new version) can be
appended as the last section.
"""

from __future__ import annotations

import datetime as dt

from api.extensions import db
from engine.bpmn import element_names
from engine.deadlines import calendar as cal
from engine.definitions import service as definitions
from engine.definitions.models import ProcessDefinition
from engine.instances.models import ProcessInstance
from tests.conftest import ROOT
from tests.web.browser import Staff

KEY = "comprehensive_assistance"
STREET = "310107014"
NEW_NAME = "帮扶申请登记（网上）"
NEW_DEADLINE = "5 working days"
OLD_DEADLINE = "3 working days"
# The XML the browser deployed, kept for the round-trip test that runs without a browser.
BROWSER_XML = ROOT / "test-artifacts" / "modeler-edited.bpmn"


def _start_case(client, login, business_key: str) -> dict:
    response = client.post(
        "/api/v1/process-instances",
        json={"process_key": KEY, "org_unit": STREET, "business_key": business_key},
        headers=login("pt_advisor"),
    )
    assert response.status_code == 201, response.json
    return response.json


def _change(page, label: str, old: str, new: str) -> None:
    """The side panel's field ``label`` shows ``old``; the admin types ``new`` and leaves the field."""
    field = page.get_by_label(label, exact=True)
    assert field.input_value() == old
    field.fill(new)
    field.press("Tab")


def test_admin_edits_validates_diffs_and_deploys_a_new_version(browser, live_server, client, login):
    # --- 1. A case started on the current version n ---------------------------------------------------
    session = db.session()
    before = definitions.latest(session, KEY)
    assert before is not None
    n = before.version
    old_case = _start_case(client, login, "MODELER-OLD-1")
    assert old_case["definition_version"] == n
    db.session.remove()

    # --- 2. The admin edits the first task in the modeler's side panel ---------------------------------
    admin = Staff(browser, live_server, "admin").login()
    page = admin.page
    admin.goto(f"/admin/processes/{KEY}/{n}/modeler")
    page.locator('#canvas[data-modeler-ready="1"]').wait_for()
    # the diagram opens with its first steps under the palette: move the canvas right, as a user drags it
    page.evaluate("window.afModeler.get('canvas').scroll({ dx: 200, dy: 0 })")
    page.locator('#canvas .djs-element.djs-shape[data-element-id="application"]').click()
    page.get_by_test_id("panel-element").filter(has_text="application").wait_for()
    # bpmn-js's own tooltips speak Chinese on a Chinese page (editor-zh.js)
    pad = page.locator(".djs-context-pad .entry[title]").evaluate_all("es => es.map(e => e.title)")
    assert "追加任务" in pad and "Append task" not in pad
    assert page.get_by_label("表单", exact=True).input_value() == "ca_application"
    assert page.get_by_label("办理期限", exact=True).input_value() == OLD_DEADLINE
    page.get_by_label("名称", exact=True).fill(NEW_NAME)
    page.get_by_label("名称", exact=True).press("Tab")
    page.get_by_label("办理期限", exact=True).fill(NEW_DEADLINE)
    page.get_by_label("办理期限", exact=True).press("Tab")
    page.get_by_label("到期前提醒", exact=True).fill("1 working day")
    page.get_by_label("到期前提醒", exact=True).press("Tab")
    page.get_by_label("逾期升级至", exact=True).select_option("street_head")
    assert page.get_by_label("英文名称", exact=True).input_value() == ""
    page.get_by_label("英文名称", exact=True).fill("Online assistance application")
    page.get_by_label("英文名称", exact=True).press("Tab")
    # the canvas shows the new name
    page.locator('#canvas .djs-element[data-element-id="application"]', has_text=NEW_NAME).wait_for()
    admin.shot("20-modeler-edited")

    # a lane's role and a gateway's condition, through the same panel
    select = "id => window.afModeler.get('selection').select(window.afModeler.get('elementRegistry').get(id))"
    page.evaluate(select, "Lane_district_officer")
    page.get_by_test_id("panel-element").filter(has_text="Lane_district_officer").wait_for()
    assert page.get_by_label("角色", exact=True).input_value() == "district_officer"
    page.get_by_label("角色", exact=True).select_option("district_head")
    page.evaluate(select, "f_gw_accept_gw_rejected")
    page.get_by_test_id("panel-element").filter(has_text="f_gw_accept_gw_rejected").wait_for()
    _change(page, "条件表达式", "accepted == False", "not accepted")
    # a flow's and a gateway's English names (what English pages show in the diagram)
    _change(page, "英文名称", "Not accepted", "Refused")
    page.evaluate(select, "gw_accept")
    page.get_by_test_id("panel-element").filter(has_text="gw_accept").wait_for()
    _change(page, "英文名称", "Accepted?", "Accepted for processing?")
    page.evaluate(select, "f_gw_accept_gw_rejected_label")  # a flow's label edits its flow's
    page.get_by_test_id("panel-element").filter(has_text="f_gw_accept_gw_rejected").wait_for()
    _change(page, "英文名称", "Refused", "Refused at acceptance")

    # --- 3. Validate, then the diff against version n shows the changed task -----------------------
    page.get_by_role("button", name="校验").click()
    page.get_by_test_id("valid").wait_for()
    page.get_by_role("button", name="对比").click()
    changed = page.get_by_test_id("diff-changed").locator('li[data-element="application"]')
    changed.wait_for()
    text = changed.inner_text()
    assert f"name: 帮扶申请登记 → {NEW_NAME}" in text
    assert f"deadline: {OLD_DEADLINE} → {NEW_DEADLINE}" in text
    assert "reminder: ∅ → 1 working day" in text
    assert "escalate_to: ∅ → street_head" in text
    assert "property:nameEn: ∅ → Online assistance application" in text
    lane = (
        page.get_by_test_id("diff-changed").locator('li[data-element="Lane_district_officer"]').inner_text()
    )
    assert "role: district_officer → district_head" in lane
    moved = page.get_by_test_id("diff-changed").locator('li[data-element="district_approval"]').inner_text()
    assert "role: district_officer → district_head" in moved
    flow = (
        page.get_by_test_id("diff-changed").locator('li[data-element="f_gw_accept_gw_rejected"]').inner_text()
    )
    assert "condition: accepted == False → not accepted" in flow
    assert "property:nameEn: Not accepted → Refused at acceptance" in flow
    gateway = page.get_by_test_id("diff-changed").locator('li[data-element="gw_accept"]').inner_text()
    assert "property:nameEn: Accepted? → Accepted for processing?" in gateway
    assert page.get_by_test_id("diff-added").locator("li").count() == 0
    assert page.get_by_test_id("diff-removed").locator("li").count() == 0
    admin.shot("21-modeler-diff")
    browser_xml = page.evaluate(
        "window.afModeler.saveXML({ format: true }).then(function (r) { return r.xml; })"
    )
    BROWSER_XML.parent.mkdir(parents=True, exist_ok=True)
    BROWSER_XML.write_text(browser_xml, encoding="utf-8")

    # --- 4. Deploy: version n+1, then the process page -------------------------------------------------
    page.get_by_role("button", name="部署").click()
    page.wait_for_url(f"**/admin/processes/{KEY}")
    admin.close()

    session = db.session()
    after = definitions.latest(session, KEY)
    assert after is not None and after.version == n + 1
    assert after.source == "modeler"
    assert after.bpmn_xml == browser_xml  # stored exactly as the browser produced it
    meta = definitions.compiled(session, after.id).task_meta("application")
    assert meta is not None
    assert (meta.name, meta.form_key, meta.role) == (NEW_NAME, "ca_application", "advisor")
    assert meta.properties["deadline"] == NEW_DEADLINE
    assert meta.properties["reminder"] == "1 working day"
    assert meta.properties["escalate_to"] == "street_head"
    district = definitions.compiled(session, after.id).task_meta("district_approval")
    assert district is not None and district.role == "district_head"
    assert "not accepted" in after.bpmn_xml
    english = element_names.english_names(after.bpmn_xml)
    assert (english["f_gw_accept_gw_rejected"], english["gw_accept"]) == (
        "Refused at acceptance",
        "Accepted for processing?",
    )

    # --- 5. The old case stays on version n; a new case runs on n+1 with the new name and deadline ---
    old = client.get(f"/api/v1/process-instances/{old_case['id']}", headers=login("admin")).json
    assert old["definition_version"] == n
    (old_task,) = old["open_tasks"]
    assert (old_task["name"], old_task["deadline"]) == ("帮扶申请登记", OLD_DEADLINE)
    new_case = _start_case(client, login, "MODELER-NEW-1")
    assert new_case["definition_version"] == n + 1
    (new_task,) = new_case["open_tasks"]
    assert (new_task["name"], new_task["deadline"]) == (NEW_NAME, NEW_DEADLINE)
    created = dt.datetime.fromisoformat(new_task["created_at"])
    due = dt.datetime.fromisoformat(new_task["due_at"])
    # the end of the fifth working day after creation on the holiday calendar, whatever today is
    assert due == cal.due_after(created, NEW_DEADLINE)
    old_created = dt.datetime.fromisoformat(old_task["created_at"])
    assert dt.datetime.fromisoformat(old_task["due_at"]) == cal.due_after(old_created, OLD_DEADLINE)
    rows = session.query(ProcessInstance.id, ProcessDefinition.version).join(ProcessDefinition)
    assert dict(rows.filter(ProcessInstance.id.in_([old_case["id"], new_case["id"]])).all()) == {
        old_case["id"]: n,
        new_case["id"]: n + 1,
    }

    # --- 6. The admin checks, then migrates the old case to version n+1 from its case page --------------
    db.session.remove()
    admin = Staff(browser, live_server, "admin").login()
    page = admin.page
    admin.goto(f"/cases/{old_case['id']}")
    page.get_by_test_id("case-ops").locator("summary", has_text="迁移到版本").click()
    migrate = page.get_by_test_id("op-migrate")
    assert migrate.get_by_label("迁移到版本").input_value() == str(n + 1)  # the newest is offered first
    migrate.get_by_label("仅检查（不迁移）").check()
    migrate.get_by_label("原因").fill("政策调整：申请登记期限改为5个工作日")
    migrate.get_by_role("button", name="迁移到版本").click()
    page.locator(".flash.success", has_text="可以迁移").wait_for()
    page.get_by_test_id("case-ops").locator("summary", has_text="迁移到版本").click()
    assert (
        client.get(f"/api/v1/process-instances/{old_case['id']}", headers=login("admin")).json[
            "definition_version"
        ]
        == n
    ), "a dry run moves nothing"
    migrate = page.get_by_test_id("op-migrate")
    migrate.get_by_label("原因").fill("政策调整：申请登记期限改为5个工作日")
    migrate.get_by_role("button", name="迁移到版本").click()
    page.locator(".flash.success", has_text="操作已完成").wait_for()
    page.get_by_test_id("case-ops").filter(has_text=f"{n + 1}").wait_for()
    admin.shot("22-case-migrated")
    admin.close()

    moved = client.get(f"/api/v1/process-instances/{old_case['id']}", headers=login("admin")).json
    assert moved["definition_version"] == n + 1
    (moved_task,) = moved["open_tasks"]
    assert moved_task["id"] == old_task["id"], "the open task keeps its row"
    assert (moved_task["name"], moved_task["deadline"]) == (NEW_NAME, NEW_DEADLINE)
    assert moved_task["due_at"] > old_task["due_at"], "the due date follows the new deadline"
    events = client.get(f"/api/v1/process-instances/{old_case['id']}/events", headers=login("admin")).json
    migrated = [e for e in events if e["action"] == "instance.migrated"]
    assert len(migrated) == 1 and migrated[0]["details"]["reason"].startswith("政策调整")
