"""What changed between two versions of a BPMN definition: added, removed and changed elements.

Compared are what the engine executes — flow nodes, sequence flows (source, target, condition), lanes
(their members and the role a lane maps to) and the engine's properties (form key, deadline, reminder,
escalation target) — never the diagram (DI) coordinates. Both documents are parsed with the same
hardened parser as deployment (:func:`engine.bpmn.parsing.parse_xml`), which raises ``BpmnInvalid``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from engine.bpmn.lint import FLOW_NODES
from engine.bpmn.parsing import BPMN_NS, CAMUNDA_NS, _properties, _role_from, parse_xml
from engine.users.models import Role

KNOWN_ROLES = {r.value for r in Role}
_B = f"{{{BPMN_NS}}}"

# Elements compared: the flow nodes (by BPMN local name, as the linter knows them); anything else
# (documentation, DI, extension internals) is read only as part of the element it belongs to.
# The engine's per-task properties, shown under these names (other properties as ``property:<name>``).
ENGINE_PROPERTIES = {
    "formKey": "form_key",
    "form_key": "form_key",
    "deadline": "deadline",
    "deadline_field": "deadline_field",
    "reminder": "reminder",
    "escalation": "escalation",
    "escalate_to": "escalate_to",
    "role": "role_property",
}
_TIMERS = ("timeDuration", "timeDate", "timeCycle")


@dataclass(frozen=True)
class AttributeChange:
    attribute: str
    old: str | None
    new: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"attribute": self.attribute, "old": self.old, "new": self.new}


@dataclass(frozen=True)
class ElementChange:
    id: str
    type: str
    name: str | None
    changes: list[AttributeChange] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "name": self.name,
            "changes": [c.as_dict() for c in self.changes],
        }


@dataclass
class DefinitionDiff:
    added: list[ElementChange] = field(default_factory=list)
    removed: list[ElementChange] = field(default_factory=list)
    changed: list[ElementChange] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": [e.as_dict() for e in self.added],
            "removed": [e.as_dict() for e in self.removed],
            "changed": [e.as_dict() for e in self.changed],
        }


@dataclass(frozen=True)
class _Element:
    id: str
    type: str
    name: str | None
    attributes: dict[str, str | None]


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname


def _text(el: etree._Element | None) -> str | None:
    if el is None:
        return None
    text = "".join(el.itertext()).strip()
    return text or None


def _lane_of(root: etree._Element) -> dict[str, etree._Element]:
    """Flow node id -> the innermost lane listing it."""
    lanes: dict[str, etree._Element] = {}
    for lane in root.iter(f"{_B}lane"):
        for ref in lane.iterfind(f"{_B}flowNodeRef"):
            if ref.text:
                lanes[ref.text.strip()] = lane  # iter() is document order: nested lanes come later
    return lanes


def _flow_node(el: etree._Element, lane: etree._Element | None) -> dict[str, str | None]:
    attrs: dict[str, str | None] = {}
    if lane is not None:
        attrs["lane"] = lane.get("name") or lane.get("id")
        attrs["role"] = _role_from(lane.get("name"), KNOWN_ROLES) or _role_from(lane.get("id"), KNOWN_ROLES)
    for name, prop in _properties(el).items():
        attrs[ENGINE_PROPERTIES.get(name, f"property:{name}")] = prop
    for camunda in ("formKey", "candidateGroups", "assignee"):
        value = el.get(f"{{{CAMUNDA_NS}}}{camunda}")
        if value is not None:
            attrs[f"camunda:{camunda}"] = value
    for plain in ("default", "calledElement", "implementation", "attachedToRef", "cancelActivity"):
        if el.get(plain) is not None:
            attrs[plain] = el.get(plain)
    script = _text(el.find(f"{_B}script"))
    if script is not None:
        attrs["script"] = script
    for definition in el:
        if isinstance(definition.tag, str) and _local(definition).endswith("EventDefinition"):
            kind = _local(definition)
            attrs["event"] = kind if "event" not in attrs else f"{attrs['event']},{kind}"
            for timer in _TIMERS:
                timer_text = _text(definition.find(f"{_B}{timer}"))
                if timer_text is not None:
                    attrs[timer] = timer_text
            for ref in ("messageRef", "signalRef", "errorRef", "escalationRef"):
                if definition.get(ref) is not None:
                    attrs[ref] = definition.get(ref)
    loop = el.find(f"{_B}multiInstanceLoopCharacteristics")
    if loop is not None:
        attrs["multi_instance"] = "sequential" if loop.get("isSequential") == "true" else "parallel"
    return attrs


def _elements(xml: bytes | str) -> dict[str, _Element]:
    root = parse_xml(xml).getroot()
    lanes = _lane_of(root)
    found: dict[str, _Element] = {}
    for process in root.iter(f"{_B}process"):
        pid = process.get("id") or ""
        found[pid] = _Element(
            pid,
            "process",
            process.get("name"),
            {"isExecutable": process.get("isExecutable")},
        )
        for el in process.iter():
            if not isinstance(el.tag, str) or not el.tag.startswith(_B) or el.get("id") is None:
                continue
            kind, el_id = _local(el), str(el.get("id"))
            if kind in FLOW_NODES:
                attrs = _flow_node(el, lanes.get(el_id))
            elif kind == "sequenceFlow":
                attrs = {
                    "source": el.get("sourceRef"),
                    "target": el.get("targetRef"),
                    "condition": _text(el.find(f"{_B}conditionExpression")),
                    **{f"property:{name}": value for name, value in _properties(el).items()},
                }
            elif kind == "lane":
                members = sorted(
                    (ref.text or "").strip() for ref in el.iterfind(f"{_B}flowNodeRef") if ref.text
                )
                attrs = {
                    "role": _role_from(el.get("name"), KNOWN_ROLES) or _role_from(el.get("id"), KNOWN_ROLES),
                    "members": ", ".join(members),
                }
            else:
                continue
            found[el_id] = _Element(el_id, kind, el.get("name"), attrs)
    return found


def diff_xml(old_xml: bytes | str, new_xml: bytes | str) -> DefinitionDiff:
    """Elements added, removed and changed from ``old_xml`` to ``new_xml`` (raises ``BpmnInvalid``)."""
    old, new = _elements(old_xml), _elements(new_xml)
    result = DefinitionDiff()
    for el_id, el in new.items():
        if el_id not in old:
            result.added.append(ElementChange(el.id, el.type, el.name))
    for el_id, el in old.items():
        if el_id not in new:
            result.removed.append(ElementChange(el.id, el.type, el.name))
    for el_id, el in new.items():
        before = old.get(el_id)
        if before is None:
            continue
        changes = []
        if before.type != el.type:
            changes.append(AttributeChange("type", before.type, el.type))
        if before.name != el.name:
            changes.append(AttributeChange("name", before.name, el.name))
        for attribute in sorted(before.attributes.keys() | el.attributes.keys()):
            was, now = before.attributes.get(attribute), el.attributes.get(attribute)
            if was != now:
                changes.append(AttributeChange(attribute, was, now))
        if changes:
            result.changed.append(ElementChange(el.id, el.type, el.name, changes))
    return result
