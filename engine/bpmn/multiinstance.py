"""Multi-instance activities: one task per element of a collection (one review per panel member, one
signature per party) or ``loopCardinality`` times, in parallel or in sequence, with a completion
condition.

* Each instance is a task of its own (its own SpiffWorkflow task id, the activity's BPMN id). Its data
  holds the collection's element under the ``inputDataItem`` name; a user task's properties may read it:
  ``role_field`` (an expression giving the role whose inbox receives this instance, one of the roles the
  ``roles`` property declares: a value from the data never routes a task to an undeclared role), ``assignee_field``
  (an expression giving a user name: the instance goes straight into that user's queue) and
  ``instance_label`` (an expression shown after the task's name, e.g. the party's name).
* The completion condition is evaluated with the activity's data (the collected outputs) and Camunda's
  counters ``nrOfInstances``, ``nrOfCompletedInstances`` and ``nrOfActiveInstances``; when it holds, the
  remaining instances are cancelled.
* A sequential activity without an output collection merges each instance's data into the case; the
  element of the instance just finished is dropped before the next one starts (SpiffWorkflow would refuse
  the next instance: "input item already exists").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.util.task import TaskState

from engine import expressions

COUNTERS = ("nrOfInstances", "nrOfCompletedInstances", "nrOfActiveInstances")
INSTANCE_PROPERTIES = ("role_field", "assignee_field", "instance_label")


def declared_roles(properties: dict[str, str]) -> list[str]:
    """The ``roles`` property: the roles ``role_field`` may name (comma-separated)."""
    return [r.strip() for r in (properties.get("roles") or "").split(",") if r.strip()]


class _ItemsDropped:
    """Mixed into the parsed multi-instance specs (see :func:`adapt`)."""

    def create_child(self, my_task: Any, item: Any, key_or_index: Any = None) -> None:
        spec: Any = self
        if spec.data_output is None or spec.output_item is None:  # merged whole: the items came along
            for ref in (spec.input_item, spec.output_item):
                if ref is not None:
                    my_task.data.pop(ref.bpmn_id, None)
        super().create_child(my_task, item, key_or_index)  # type: ignore[misc]


_ADAPTED: dict[type, type] = {}


def adapt(process_specs: list[Any]) -> None:
    """Give every multi-instance spec of the parsed processes the behaviour described above, and connect
    its instances' completion to it at once: SpiffWorkflow connects them only when it creates an instance,
    so on a spec parsed again (a restart, another worker) a finished instance would never be merged and
    the activity would wait for ever."""
    for process_spec in process_specs:
        for spec in list(process_spec.task_specs.values()):
            cls = type(spec)
            if not isinstance(spec, MultiInstanceTask) or issubclass(cls, _ItemsDropped):
                continue
            if cls not in _ADAPTED:
                _ADAPTED[cls] = type(cls.__name__, (_ItemsDropped, cls), {})
            spec.__class__ = _ADAPTED[cls]
            child = process_spec.task_specs.get(spec.task_spec)
            if child is not None and not child.completed_event.is_connected(spec.merge_child):
                child.completed_event.connect(spec.merge_child)


def completion_names(task: Any, expression: str) -> dict[str, Any] | None:
    """The names a multi-instance completion condition is evaluated with, or ``None`` when
    ``expression`` is not the completion condition of ``task``'s activity."""
    parent = task.parent
    spec = getattr(parent, "task_spec", None)
    if not isinstance(spec, MultiInstanceTask) or spec.condition != expression:
        return None
    instances = [c for c in parent.children if c.task_spec.name == spec.task_spec]
    done = sum(1 for c in instances if c.has_state(TaskState.COMPLETED))
    total = parent.internal_data.get("cardinality") or len(instances) + len(
        parent.internal_data.get("remaining") or []
    )
    return {
        **task.data,
        **parent.data,
        "nrOfInstances": total,
        "nrOfCompletedInstances": done,
        "nrOfActiveInstances": sum(1 for c in instances if not c.has_state(TaskState.FINISHED_MASK)),
    }


@dataclass(frozen=True)
class Instance:
    """Who one instance of a multi-instance user task is for, read from its data."""

    role: str | None = None
    assignee: str | None = None
    label: str | None = None


def _value(text: str | None, data: dict[str, Any]) -> str | None:
    if not text:
        return None
    try:
        value = expressions.evaluate(text, data)
    except expressions.ExpressionError:
        return None
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)[:80] or None


def instance_of(properties: dict[str, str], data: dict[str, Any]) -> Instance:
    """The role, assignee and label of one task from its ``role_field``, ``assignee_field`` and
    ``instance_label`` properties (each an expression on the task's data; nothing when unset, unreadable
    or, for the role, not among the declared ``roles``)."""
    role = _value(properties.get("role_field"), data)
    return Instance(
        role=role if role in declared_roles(properties) else None,
        assignee=_value(properties.get("assignee_field"), data),
        label=_value(properties.get("instance_label"), data),
    )


def property_problems(properties: dict[str, str], known_roles: set[str]) -> list[str]:
    """What is wrong with a task's multi-instance properties (messages for the linter)."""
    problems = []
    for name in INSTANCE_PROPERTIES:
        text = properties.get(name)
        if text is None:
            continue
        try:
            expressions.check(text)
        except expressions.ExpressionError as err:
            problems.append(f"属性 {name} 不是安全的表达式 / property {name} is not a safe expression: {err}")
    roles = declared_roles(properties)
    for role in roles:
        if role not in known_roles:
            problems.append(f"roles 中的角色未知 / roles: {role!r} is not a known role")
    if properties.get("role_field") and not roles:
        problems.append(
            "role_field 需要 roles 属性列出可用的角色 / role_field needs a 'roles' property listing the "
            "roles it may name"
        )
    return problems


def reference_warnings(root: Any, key: str) -> list[Any]:
    """A warning for each collection a multi-instance activity names (``loopDataInputRef`` /
    ``loopDataOutputRef``) that no element of the file declares: the engine reads it as a case variable,
    but BPMN makes it a reference, and bpmn-js (our modeler) drops an unresolved reference when it saves.
    Declaring it (a ``<bpmn:property id="name"/>`` of the process, or a ``dataInput`` of its
    ``ioSpecification``) keeps it."""
    from engine.bpmn import lint
    from engine.bpmn.xmlsafe import BPMN_NS, WARNING, Problem

    ids = {el.get("id") for el in root.iter() if isinstance(el.tag, str) and el.get("id")}
    found = []
    for process in lint.executed_processes(root, key):
        for loop in process.iter(f"{{{BPMN_NS}}}multiInstanceLoopCharacteristics"):
            activity = loop.getparent()
            for tag in ("loopDataInputRef", "loopDataOutputRef"):
                ref = loop.find(f"{{{BPMN_NS}}}{tag}")
                name = (ref.text or "").strip() if ref is not None else ""
                if not name or name in ids:
                    continue
                found.append(
                    Problem(
                        f"多实例的集合“{name}”没有声明（{tag}）：建模器保存时会丢弃它，请在流程中声明 "
                        f'<bpmn:property id="{name}"/> / the multi-instance collection {name!r} ({tag}) is '
                        f'not declared: the modeler drops it when saving; declare <bpmn:property id="{name}"/> '
                        "in the process",
                        activity.get("id") if activity is not None else None,
                        loop.sourceline,
                        WARNING,
                    )
                )
    return found
