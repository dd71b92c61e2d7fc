"""Diff of two BPMN versions: added, removed and changed elements, never the diagram's coordinates."""

from __future__ import annotations

import pytest

from engine.bpmn.parsing import BpmnInvalid
from engine.definitions.diff import diff_xml
from tests.conftest import ROOT

CA = (ROOT / "processes" / "comprehensive_assistance.bpmn").read_text(encoding="utf-8")
EDITED = (ROOT / "tests" / "fixtures" / "modeler" / "ca_edited_in_browser.bpmn").read_text(encoding="utf-8")


def _changes(diff, element_id):
    (found,) = [e for e in diff.changed if e.id == element_id]
    return {c.attribute: (c.old, c.new) for c in found.changes}


def test_same_xml_has_no_changes():
    diff = diff_xml(CA, CA)
    assert diff.empty
    assert diff.as_dict() == {"added": [], "removed": [], "changed": []}


def test_diagram_coordinates_and_formatting_are_ignored():
    moved = CA.replace('<dc:Bounds x="', '<dc:Bounds x="1').replace("\n    <bpmn:", "\n  <bpmn:")
    assert moved != CA
    assert diff_xml(CA, moved).empty


def test_the_browser_edit_shows_task_lane_role_and_condition_changes():
    diff = diff_xml(CA, EDITED)
    assert diff.added == [] and diff.removed == []
    assert _changes(diff, "application") == {
        "name": ("帮扶申请登记", "帮扶申请登记（网上）"),
        "deadline": ("3 working days", "5 working days"),
        "reminder": (None, "1 working day"),
        "escalate_to": (None, "street_head"),
    }
    assert _changes(diff, "Lane_district_officer") == {
        "name": ("区民政局救助科 district_officer", "区民政局负责人 district_head"),
        "role": ("district_officer", "district_head"),
    }
    # the lane's member sees its lane and role change
    assert _changes(diff, "district_approval") == {
        "lane": ("区民政局救助科 district_officer", "区民政局负责人 district_head"),
        "role": ("district_officer", "district_head"),
    }
    assert _changes(diff, "f_gw_accept_gw_rejected") == {"condition": ("accepted == False", "not accepted")}
    assert {e.id for e in diff.changed} == {
        "application",
        "Lane_district_officer",
        "district_approval",
        # the district's help-first approval sits in the same lane (notice 002: above the street cap)
        "emergency_district_approval",
        "gw_emergency_approved",
        "f_gw_accept_gw_rejected",
    }
    (app,) = [e for e in diff.as_dict()["changed"] if e["id"] == "application"]
    assert app["type"] == "userTask" and app["name"] == "帮扶申请登记（网上）"
    assert {"attribute": "deadline", "old": "3 working days", "new": "5 working days"} in app["changes"]


def test_added_removed_and_rewired_elements():
    new = CA.replace(
        '<bpmn:userTask id="feedback"',
        '<bpmn:manualTask id="phone_call" name="电话回访"/>\n    <bpmn:userTask id="feedback"',
    ).replace(
        '<bpmn:sequenceFlow id="f_start_settings" sourceRef="start" targetRef="settings"',
        '<bpmn:sequenceFlow id="f_start_settings" sourceRef="start" targetRef="application"',
    )
    removed = new.replace("<bpmn:flowNodeRef>record_rejection</bpmn:flowNodeRef>", "")
    diff = diff_xml(CA, removed)
    assert [(e.id, e.type, e.name) for e in diff.added] == [("phone_call", "manualTask", "电话回访")]
    assert _changes(diff, "f_start_settings") == {"target": ("settings", "application")}
    lane_changes = _changes(diff, "Lane_street_head")
    assert (
        "record_rejection" in lane_changes["members"][0]
        and "record_rejection" not in lane_changes["members"][1]
    )
    assert _changes(diff, "record_rejection") == {
        "lane": ("街镇救助负责人 street_head", None),
        "role": ("street_head", None),
    }
    back = diff_xml(removed, CA)
    assert [(e.id, e.type) for e in back.removed] == [("phone_call", "manualTask")]


def test_a_flows_english_name_is_a_change():
    new = CA.replace('value="Not accepted"', 'value="Refused"')
    assert new != CA
    assert _changes(diff_xml(CA, new), "f_gw_accept_gw_rejected") == {
        "property:nameEn": ("Not accepted", "Refused")
    }


def test_form_key_and_script_changes():
    new = CA.replace('value="ca_acceptance"', 'value="ca_assessment"').replace(
        "review_quorum = param('review_quorum')", "review_quorum = 7"
    )
    diff = diff_xml(CA, new)
    assert _changes(diff, "acceptance") == {"form_key": ("ca_acceptance", "ca_assessment")}
    assert set(_changes(diff, "settings")) == {"script"}


@pytest.mark.parametrize(
    "bad, reason",
    [
        ("", "empty"),
        ("<bpmn:definitions", "not well-formed"),
        ('<!DOCTYPE x [<!ENTITY a "b">]><x/>', "DOCTYPE"),
        ("<definitions/>", "root element"),
    ],
)
def test_hostile_or_broken_xml_is_refused_like_a_deploy(bad, reason):
    with pytest.raises(BpmnInvalid) as err:
        diff_xml(CA, bad)
    assert reason in str(err.value)
