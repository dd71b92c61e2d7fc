"""The modeler's side panel names a receive task's message and its correlation (issue 19), writing the
XML the engine reads: a real browser against a live server."""

from __future__ import annotations

from pathlib import Path

from api.extensions import db
from engine.bpmn import messaging
from engine.definitions import service as definitions
from tests.conftest import get_user
from tests.web.browser import Staff

MESSAGES = Path(__file__).resolve().parents[1] / "fixtures" / "bpmn" / "messages"


def test_the_panel_edits_a_receive_tasks_message_and_correlation(browser, live_server):
    session = db.session()
    definition, _created = definitions.deploy(
        session, (MESSAGES / "msg_receiver.bpmn").read_bytes(), actor_id=get_user(session, "admin").id
    )
    session.commit()
    version = definition.version
    db.session.remove()

    admin = Staff(browser, live_server, "admin").login()
    page = admin.page
    admin.goto(f"/admin/processes/msg_receiver/{version}/modeler")
    page.locator('#canvas[data-modeler-ready="1"]').wait_for()
    select = "id => window.afModeler.get('selection').select(window.afModeler.get('elementRegistry').get(id))"
    page.evaluate(select, "wait_list")
    page.get_by_test_id("panel-element").filter(has_text="wait_list").wait_for()
    assert page.get_by_label("消息名称", exact=True).input_value() == "list_confirmed"
    assert page.get_by_label("关联", exact=True).input_value() == "project_key"
    page.get_by_label("消息名称", exact=True).fill("closure_confirmed")
    page.get_by_label("消息名称", exact=True).press("Tab")
    page.get_by_label("关联", exact=True).fill("project_ref")
    page.get_by_label("关联", exact=True).press("Tab")
    page.get_by_role("button", name="校验").click()
    page.get_by_test_id("valid").wait_for()
    assert page.locator("#m-status").inner_text() == "校验通过：msg_receiver"
    xml = page.evaluate("window.afModeler.saveXML({ format: true }).then(function (r) { return r.xml; })")
    # in English the panel speaks English only
    admin.goto("/lang/en")
    admin.goto(f"/admin/processes/msg_receiver/{version}/modeler")
    page.locator('#canvas[data-modeler-ready="1"]').wait_for()
    page.evaluate(select, "wait_list")
    page.get_by_test_id("panel-element").filter(has_text="wait_list").wait_for()
    assert page.get_by_label("Message", exact=True).input_value() == "list_confirmed"
    panel = page.locator("#panel-body").inner_text()
    assert "Correlation" in panel and "the sender and the receiver use the same name" in panel
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in panel), panel
    admin.close()

    assert 'name="closure_confirmed"' in xml and 'value="project_ref"' in xml
    assert definitions.lint(xml) == []
    compiled = definitions.compile_for_deploy(xml)
    spec = compiled.spec.task_specs["wait_list"]
    assert spec.event_definition.name == "closure_confirmed"
    assert messaging.correlation_expression(spec) == "project_ref"
