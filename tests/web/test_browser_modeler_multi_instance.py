"""The modeler's side panel on a multi-instance step (issue 19), in a real browser: Twinning's
four-party signing shows who each instance is for, and an edit validates."""

from __future__ import annotations

from api.extensions import db
from engine.bpmn.parsing import _properties, parse_xml
from engine.definitions import service as definitions
from tests.web.browser import Staff


def test_the_panel_edits_who_each_instance_of_a_multi_instance_step_is_for(browser, live_server):
    version = definitions.latest(db.session(), "twinning").version
    db.session.remove()
    admin = Staff(browser, live_server, "admin").login()
    page = admin.page
    admin.goto(f"/admin/processes/twinning/{version}/modeler")
    page.locator('#canvas[data-modeler-ready="1"]').wait_for()
    select = "id => window.afModeler.get('selection').select(window.afModeler.get('elementRegistry').get(id))"
    page.evaluate(select, "sign_agreement")
    page.get_by_test_id("panel-element").filter(has_text="sign_agreement").wait_for()
    assert page.get_by_label("每个实例的角色", exact=True).input_value() == "party['role']"
    assert (
        page.get_by_label("可用角色", exact=True).input_value()
        == "city_officer,gansu_officer,agency_lead,aided_agency"
    )
    page.get_by_label("实例标签", exact=True).fill("party['party']")
    page.get_by_label("实例标签", exact=True).press("Tab")
    page.get_by_role("button", name="校验").click()
    page.get_by_test_id("valid").wait_for()
    xml = page.evaluate("window.afModeler.saveXML({ format: false }).then(r => r.xml)")
    task = next(
        el for el in parse_xml(xml.encode("utf-8")).getroot().iter() if el.get("id") == "sign_agreement"
    )
    assert _properties(task)["instance_label"] == "party['party']"
    admin.shot("21-modeler-multi-instance")
