"""What the engine reads from a user task's definition (role, form, properties) and the checks of
those properties: deadlines, reminders, escalation, declared outputs and send-back targets."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from engine import expressions
from engine.bpmn import camunda, multiinstance
from engine.bpmn.xmlsafe import BPMN_NS, CAMUNDA_NS, SPIFF_NS, ZEEBE_NS, Problem
from engine.deadlines import calendar

_ROLE_IN_TEXT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class TaskMeta:
    """What the engine reads from a user task's definition."""

    bpmn_id: str
    name: str
    lane: str | None
    role: str | None
    form_key: str | None
    properties: dict[str, str] = field(default_factory=dict)
    assignee: str | None = None  # "initiator": assigned to the user who started the case (camunda:assignee)


def _properties(el: etree._Element) -> dict[str, str]:
    props: dict[str, str] = {}
    for ns in (CAMUNDA_NS, SPIFF_NS, ZEEBE_NS):
        for prop in el.iterfind(f"{{{BPMN_NS}}}extensionElements/{{{ns}}}properties/{{{ns}}}property"):
            name, value = prop.get("name"), prop.get("value")
            if name and value is not None:
                props[name] = value
    return props


def _role_from(text: str | None, known_roles: set[str]) -> str | None:
    if not text:
        return None
    for token in _ROLE_IN_TEXT.findall(text):
        if token in known_roles:
            return token
    return None


def read_task(
    el: etree._Element,
    spec: Any,
    known_roles: set[str],
    *,
    form_known: Callable[[str], bool] | None = None,
    initiator_var: str | None = None,
) -> tuple[TaskMeta, list[Problem]]:
    """A user task's metadata from its properties (``spiffworkflow:`` or ``camunda:properties``), its
    Camunda attributes (:mod:`engine.bpmn.camunda`) and its lane, with a warning for each Camunda
    attribute that could not be used. A property wins over a Camunda attribute, which wins over the lane."""
    props = _properties(el)
    props.update({k: v for k, v in (spec.extensions.get("properties") or {}).items() if isinstance(v, str)})
    reading = camunda.read_user_task(el, known_roles, form_known, initiator_var)
    form_key = (
        props.get("formKey")
        or props.get("form_key")
        or reading.form_key
        or (spec.extensions.get("properties") or {}).get("formJsonSchemaFilename")
    )
    if form_key and form_key.startswith("embedded:"):
        form_key = form_key.rsplit(":", 1)[-1]
    if reading.deadline and "deadline" not in props:
        props["deadline"] = reading.deadline
    role = _role_from(props.get("role"), known_roles) or reading.role or _role_from(spec.lane, known_roles)
    meta = TaskMeta(
        bpmn_id=spec.bpmn_id,
        name=spec.bpmn_name or spec.bpmn_id,
        lane=spec.lane,
        role=role,
        form_key=form_key,
        properties=props,
        assignee=reading.assignee,
    )
    return meta, reading.warnings


def _task_meta(el: etree._Element, spec: Any, known_roles: set[str]) -> TaskMeta:
    return read_task(el, spec, known_roles)[0]


# A constant written as an ISO duration ("PT99999999999H", "P1Y", "PT5X"), not a variable or an expression: if
# the calendar refuses it, reading it as an expression (a variable name) would silently give no due time.
_DURATION_LIKE = re.compile(r"^\s*P(?=T?\d)[0-9A-Z.,]*\s*$", re.IGNORECASE)


def _deadline_problem(text: str) -> str | None:
    """Why a ``deadline`` property cannot give a due time, or ``None`` (a duration or a safe expression)."""
    try:
        calendar.parse_duration(text)
        return None
    except calendar.DeadlineError as err:
        if _DURATION_LIKE.match(text):
            zh, _sep, en = str(err).partition(" / ")
            return f"期限 {text[:80]!r} 无法使用：{zh} / deadline {text[:80]!r} refused: {en or zh}"
    try:
        expressions.check(text)
        return None
    except expressions.ExpressionError:
        return (
            f"无法识别的期限 / deadline {text[:80]!r} is neither a duration ('10 working days', "
            "'30 days', 'PT48H') nor a safe expression"
        )


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _property_problems(
    props: dict[str, str], bpmn_id: str, line: int | None, known_roles: set[str]
) -> list[Problem]:
    """``deadline_field`` must name a data field; ``reminder`` / ``escalation`` must be durations;
    ``escalate_to`` must be a known role."""
    problems = [Problem(m, bpmn_id, line) for m in multiinstance.property_problems(props, known_roles)]
    escalate_to = props.get("escalate_to")
    if escalate_to is not None and escalate_to.strip() not in known_roles:
        problems.append(
            Problem(
                f"升级目标不是已知角色 / escalate_to {escalate_to!r} is not a known role "
                f"({', '.join(sorted(known_roles))})",
                bpmn_id,
                line,
            )
        )
    for name in sorted(declared_outputs(props) or ()):
        if not _IDENTIFIER.fullmatch(name):
            problems.append(Problem(f"输出字段名无效 / outputs: {name!r} is not a field name", bpmn_id, line))
    field_name = props.get("deadline_field")
    if field_name is not None and not _IDENTIFIER.fullmatch(field_name.strip()):
        problems.append(
            Problem(f"期限字段名无效 / deadline_field {field_name!r} is not a data field name", bpmn_id, line)
        )
    for name in ("reminder", "escalation"):
        text = props.get(name)
        if text is None:
            continue
        try:
            calendar.parse_duration(text)
        except calendar.DeadlineError:
            problems.append(
                Problem(
                    f"无法识别的{'提醒' if name == 'reminder' else '升级'}期限 / {name} {text!r} is not a "
                    "duration ('1 working day', '3 working days', 'PT48H')",
                    bpmn_id,
                    line,
                )
            )
    return problems


def send_back_targets(props: dict[str, str]) -> list[str]:
    """The ``send_back_to`` property: comma-separated ids of earlier user tasks this one may return the
    case to for correction (退回补正)."""
    return [t.strip() for t in (props.get("send_back_to") or "").split(",") if t.strip()]


def declared_outputs(props: dict[str, str]) -> set[str] | None:
    """The ``outputs`` property: the fields of a step's submission that go into the case's data (what
    later gateways and steps read); ``None`` when the step declares none (then all of them do). The whole
    submission is kept in the step's own record either way."""
    text = props.get("outputs")
    if text is None:
        return None
    return {name.strip() for name in text.split(",") if name.strip()}


def send_back_problems(process_spec: Any, tasks: dict[str, TaskMeta], by_id: dict[str, Any]) -> list[Problem]:
    """Each ``send_back_to`` target must be a user task of the same process from which this task can be
    reached along the flows (upstream)."""
    problems = []
    specs = process_spec.task_specs
    for task_spec in specs.values():
        bpmn_id = getattr(task_spec, "bpmn_id", None)
        meta = tasks.get(bpmn_id) if bpmn_id else None
        if meta is None:
            continue
        line = by_id[bpmn_id].sourceline if bpmn_id in by_id else None
        for target in send_back_targets(meta.properties):
            if target not in tasks or target not in specs:
                problems.append(
                    Problem(
                        f"退回目标不是本流程的用户任务 / send_back_to {target!r} is not a user task of this process",
                        bpmn_id,
                        line,
                    )
                )
                continue
            found, todo = set(), [target]
            while todo:
                for out in specs[todo.pop()].outputs:
                    if out.name not in found:
                        found.add(out.name)
                        todo.append(out.name)
            if task_spec.name not in found or target == bpmn_id:
                problems.append(
                    Problem(
                        f"退回目标不在本环节之前 / send_back_to {target!r} does not lead to this task",
                        bpmn_id,
                        line,
                    )
                )
    return problems
