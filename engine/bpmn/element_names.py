"""The English names a diagram gives its elements.

A procedure's BPMN names its elements in Chinese, the notices' own terms. Each named element (an
event, a gateway, a flow, an automatic step) may carry its English name as a ``nameEn`` property, as
user tasks do (engine/tasks/names.py): English pages show it in the diagram, the case's timeline (a
timer that fired) and what the case waits for.
"""

from __future__ import annotations

from engine.bpmn.xmlsafe import BPMN_NS, CAMUNDA_NS, SPIFF_NS, ZEEBE_NS, parse_xml

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

_PROPERTIES = tuple(
    f"{{{BPMN_NS}}}extensionElements/{{{ns}}}properties/{{{ns}}}property"
    for ns in (SPIFF_NS, CAMUNDA_NS, ZEEBE_NS)
)


def english_names(xml: bytes | str) -> dict[str, str]:
    """Element id -> its ``nameEn`` property, for every element of the file that has one."""
    found: dict[str, str] = {}
    for element in parse_xml(xml).getroot().iter(f"{{{BPMN_NS}}}*"):
        element_id = element.get("id")
        if not element_id:
            continue
        for path in _PROPERTIES:
            for prop in element.iterfind(path):
                value = (prop.get("value") or "").strip()
                if prop.get("name") == "nameEn" and value:
                    found.setdefault(element_id, value)
    return found


def unnamed_in_english(xml: bytes | str) -> list[tuple[str, str, str]]:
    """(kind, id, name) of every named flow element without an English name (user and manual tasks
    take their form's English title instead and are not listed)."""
    english = english_names(xml)
    missing = []
    for element in parse_xml(xml).getroot().iter(f"{{{BPMN_NS}}}*"):
        kind = element.tag.rpartition("}")[2]
        element_id, name = element.get("id"), element.get("name")
        if not name or not element_id or kind in NOT_FLOW_ELEMENTS or kind in ("userTask", "manualTask"):
            continue
        if element_id not in english:
            missing.append((kind, element_id, name))
    return missing
