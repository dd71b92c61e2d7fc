"""The English names a diagram gives its elements.

A procedure's BPMN names its elements in Chinese, the notices' own terms. Each named element (an
event, a gateway, a flow, an automatic step) may carry its English name as a ``nameEn`` property, as
user tasks do (engine/tasks/names.py): English pages show it in the diagram, the case's timeline (a
timer that fired) and what the case waits for.
"""

from __future__ import annotations

from lxml import etree

from engine.bpmn.taskmeta import _properties
from engine.bpmn.xmlsafe import BPMN_NS, parse_xml

# Named elements that are not drawn as a flow element, or are named otherwise: a pool and a lane are
# named "中文 English"; a message's or signal's name is the key a sender and a receiver share.
NOT_FLOW_ELEMENTS = frozenset(
    {
        "definitions",
        "collaboration",
        "participant",
        "process",
        "lane",
        "message",
        "signal",
        "error",
        "escalation",
        "property",
        "dataInput",
        "dataOutput",
        "inputDataItem",
        "outputDataItem",
        "dataObject",
        "dataObjectReference",
        "dataStoreReference",
        "textAnnotation",
        "category",
        "categoryValue",
    }
)


def _english_of(root: etree._Element) -> dict[str, str]:
    found: dict[str, str] = {}
    for element in root.iter(f"{{{BPMN_NS}}}*"):
        element_id = element.get("id")
        value = (_properties(element).get("nameEn") or "").strip() if element_id else ""
        if element_id and value:
            found[element_id] = value
    return found


def english_names(xml: bytes | str) -> dict[str, str]:
    """Element id -> its ``nameEn`` property (the engine's reading of ``spiffworkflow:``, ``camunda:`` or
    ``zeebe:properties``), for every element of the file that has one."""
    return _english_of(parse_xml(xml).getroot())


def unnamed_in_english(xml: bytes | str) -> list[tuple[str, str, str]]:
    """(kind, id, name) of every named flow element without an English name (user and manual tasks
    take their form's English title instead and are not listed)."""
    root = parse_xml(xml).getroot()
    english = _english_of(root)
    missing = []
    for element in root.iter(f"{{{BPMN_NS}}}*"):
        kind = element.tag.rpartition("}")[2]
        element_id, name = element.get("id"), element.get("name")
        if not name or not element_id or kind in NOT_FLOW_ELEMENTS or kind in ("userTask", "manualTask"):
            continue
        if element_id not in english:
            missing.append((kind, element_id, name))
    return missing
