"""English names of a diagram's elements (engine/bpmn/element_names.py): read from ``nameEn``
properties, and every shipped procedure gives one to each named element."""

from __future__ import annotations

import pytest

from engine.bpmn.element_names import english_names, unnamed_in_english
from engine.bpmn.parsing import BpmnInvalid
from tests.conftest import ROOT

HEAD = (
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" '
    'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">'
    '<bpmn:process id="p" name="演示" isExecutable="true">'
)
TAIL = "</bpmn:process></bpmn:definitions>"


def _props(ns: str, **values: str) -> str:
    props = "".join(f'<{ns}:property name="{k}" value="{v}"/>' for k, v in values.items())
    return f"<bpmn:extensionElements><{ns}:properties>{props}</{ns}:properties></bpmn:extensionElements>"


def test_read_from_spiffworkflow_and_camunda_properties():
    xml = (
        HEAD
        + f'<bpmn:startEvent id="start" name="提出申请">{_props("spiffworkflow", nameEn="Applied")}</bpmn:startEvent>'
        + f'<bpmn:exclusiveGateway id="gw" name="是否受理？">{_props("camunda", nameEn="Accepted?")}'
        + "</bpmn:exclusiveGateway>"
        + f'<bpmn:sequenceFlow id="f1" name="否" sourceRef="gw" targetRef="end">{_props("spiffworkflow", nameEn=" ")}'
        + "</bpmn:sequenceFlow>"
        + f'<bpmn:scriptTask id="calc" name="计算">{_props("spiffworkflow", formKey="x")}</bpmn:scriptTask>'
        + '<bpmn:endEvent id="end" name="结束"/>'
        + TAIL
    )
    assert english_names(xml) == {"start": "Applied", "gw": "Accepted?"}  # a blank one is none
    assert unnamed_in_english(xml) == [
        ("sequenceFlow", "f1", "否"),
        ("scriptTask", "calc", "计算"),
        ("endEvent", "end", "结束"),
    ]


def test_user_tasks_pools_and_messages_are_not_asked_for_one():
    xml = (
        HEAD
        + '<bpmn:laneSet id="ls"><bpmn:lane id="l" name="街镇救助专员 street_officer"/></bpmn:laneSet>'
        + '<bpmn:userTask id="review" name="复核"/><bpmn:manualTask id="call" name="电话回访"/>'
        + TAIL.replace("</bpmn:process>", '</bpmn:process><bpmn:message id="m" name="list_confirmed"/>')
    )
    assert unnamed_in_english(xml) == [] and english_names(xml) == {}


def test_hostile_xml_is_refused_as_a_deploy_refuses_it():
    with pytest.raises(BpmnInvalid):
        english_names('<!DOCTYPE x [<!ENTITY a "b">]><x/>')


@pytest.mark.parametrize("path", sorted((ROOT / "processes").glob("*.bpmn")), ids=lambda p: p.stem)
def test_every_named_element_of_a_shipped_procedure_has_an_english_name(path):
    assert unnamed_in_english(path.read_bytes()) == []
