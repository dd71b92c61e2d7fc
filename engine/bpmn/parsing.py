"""Turn uploaded BPMN XML into an executable, validated definition — or a list of problems.

The XML is read safely (:mod:`engine.bpmn.xmlsafe`), then parsed by SpiffWorkflow's Spiff parser (which
reads ``spiffworkflow:properties``); Camunda Modeler's ``camunda:formKey`` / ``camunda:candidateGroups``
/ ``camunda:properties`` are read from the XML directly (:mod:`engine.bpmn.taskmeta`), so files from
either modeler work. Every expression, script, timer, lane and form reference is checked before
anything is stored.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins import (
    ExclusiveGatewayMixin,
    InclusiveGatewayMixin,
    ScriptTaskMixin,
    ServiceTaskMixin,
    UserTaskMixin,
)
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask, MultiInstanceTask
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from engine import expressions
from engine.bpmn import lint
from engine.bpmn.taskmeta import (  # noqa: F401 (re-exported: the public names of this module)
    TaskMeta,
    _deadline_problem,
    _properties,
    _property_problems,
    _role_from,
    _task_meta,
    declared_outputs,
    send_back_problems,
    send_back_targets,
)
from engine.bpmn.xmlsafe import (  # noqa: F401 (re-exported)
    BPMN_NS,
    CAMUNDA_NS,
    ERROR,
    MAX_BPMN_BYTES,
    SPIFF_NS,
    WARNING,
    ZEEBE_NS,
    BpmnInvalid,
    BpmnTooLarge,
    Problem,
    parse_xml,
    sha256_of,
    to_utf8,
)


@dataclass
class CompiledDefinition:
    key: str
    name: str
    sha256: str
    spec: BpmnProcessSpec
    subprocess_specs: dict[str, BpmnProcessSpec]
    tasks: dict[str, TaskMeta]
    process_ids: list[str]

    def task_meta(self, bpmn_id: str) -> TaskMeta | None:
        return self.tasks.get(bpmn_id)


def _duplicate_ids(root: etree._Element) -> list[Problem]:
    seen: dict[str, int] = {}
    problems = []
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        el_id = el.get("id")
        if el_id is None or el.tag.startswith(f"{{{CAMUNDA_NS}}}"):
            continue  # a camunda:formField's id names a data field, not an element
        if el_id in seen:
            problems.append(Problem(f"重复的 id / duplicate id '{el_id}'", el_id, el.sourceline))
        seen[el_id] = el.sourceline or 0
    return problems


def _expression_problems(spec: Any) -> list[tuple[str, str]]:
    """(kind, text) of every expression or script a task spec will evaluate."""
    found: list[tuple[str, str]] = []
    if isinstance(spec, ExclusiveGatewayMixin | InclusiveGatewayMixin):
        for condition, _target in getattr(spec, "cond_task_specs", []):
            text = condition.args[0] if hasattr(condition, "args") else condition
            if text is not None:
                found.append(("condition", str(text)))
    for param in (getattr(spec, "operation_params", None) or {}).values():
        if isinstance(param, dict) and param.get("value"):
            found.append(("service parameter", str(param["value"])))
    event_definition = getattr(spec, "event_definition", None)
    if isinstance(event_definition, TimerEventDefinition):
        found.append(("timer", event_definition.expression))
    if isinstance(spec, MultiInstanceTask):
        for attr in ("cardinality", "condition"):
            value = getattr(spec, attr, None)
            if value:
                found.append((f"multi-instance {attr}", value))
    elif isinstance(spec, LoopTask):
        if getattr(spec, "condition", None):
            found.append(("loop condition", spec.condition))
        if getattr(spec, "maximum", None) and not str(spec.maximum).isdigit():
            found.append(("loop maximum", str(spec.maximum)))
    return found


def _scripts(spec: Any) -> list[tuple[str, str]]:
    found = []
    if isinstance(spec, ScriptTaskMixin) and spec.script:
        found.append(("script", spec.script))
    for attr in ("prescript", "postscript"):
        value = getattr(spec, attr, None)
        if value:
            found.append((attr, value))
    return found


_ADDRESS = re.compile(r"<Element \{[^}]*\}(\w+) at 0x[0-9a-fA-F]+>|\s+at 0x[0-9a-fA-F]+")


def _clean(err: Exception) -> str:
    """The parser's message without object addresses (``<Element {ns}sourceRef at 0x7f…>``)."""
    return _ADDRESS.sub(lambda m: f"<{m.group(1)}>" if m.group(1) else "", str(err)).strip()


def _main_process_id(root: etree._Element) -> str:
    processes = root.findall(f"{{{BPMN_NS}}}process")
    executable = [p.get("id") for p in processes if p.get("isExecutable", "").lower() == "true"]
    called = {el.get("calledElement") for el in root.iter(f"{{{BPMN_NS}}}callActivity")}
    candidates = [p for p in executable if p not in called] or executable
    if not candidates:
        if len(processes) == 1 and processes[0].get("isExecutable") is None:
            candidates = [processes[0].get("id")]
        else:
            raise BpmnInvalid(
                [
                    Problem(
                        '没有可执行的流程（isExecutable="true"）/ no executable process (isExecutable="true")'
                    )
                ]
            )
    return str(candidates[0])


main_process_id = _main_process_id  # the process a definition runs (its key)


def compile_bpmn(
    data: bytes | str,
    *,
    known_roles: set[str],
    form_exists: Callable[[str], bool] | None = None,
    service_exists: Callable[[str], bool] | None = None,
    source: str = "upload",
) -> CompiledDefinition:
    """Parse and validate BPMN; raise :class:`BpmnInvalid` listing every problem found."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tree = parse_xml(raw)
    root = tree.getroot()
    problems = _duplicate_ids(root)
    if problems:
        raise BpmnInvalid(problems)

    key = _main_process_id(root)
    problems = [Problem(message, el_id, line) for message, el_id, line in lint.structure(root, key)]

    parser = SpiffBpmnParser()
    try:
        parser.add_bpmn_xml(tree, filename=source)
        spec = parser.get_spec(key)
        subprocess_specs = parser.get_subprocess_specs(key)
    except ValidationException as err:
        node_id = getattr(err, "id", None) or None
        line = err.line_number or None
        if line is None and node_id:
            node = next(root.iterfind(f".//*[@id='{node_id}']"), None) if "'" not in node_id else None
            line = node.sourceline if node is not None else None
        problems.append(Problem(f"BPMN 解析失败 / cannot parse BPMN: {_clean(err)}", node_id, line))
        raise BpmnInvalid(problems) from err
    except SpiffWorkflowException as err:
        problems.append(Problem(f"BPMN 解析失败 / cannot parse BPMN: {_clean(err)}"))
        raise BpmnInvalid(problems) from err
    except Exception as err:  # the parser raises plain errors on many malformed inputs
        problems.append(Problem(f"BPMN 解析失败 / cannot parse BPMN: {type(err).__name__}: {_clean(err)}"))
        raise BpmnInvalid(problems) from err

    by_id = {el.get("id"): el for el in root.iter() if isinstance(el.tag, str) and el.get("id")}
    tasks: dict[str, TaskMeta] = {}
    for process_spec in [spec, *subprocess_specs.values()]:
        for task_spec in process_spec.task_specs.values():
            bpmn_id = getattr(task_spec, "bpmn_id", None)
            if bpmn_id is None:
                continue
            el = by_id.get(bpmn_id)
            line = el.sourceline if el is not None else None
            for kind, text in _expression_problems(task_spec) + _scripts(task_spec):
                try:
                    if kind in ("script", "prescript", "postscript"):
                        expressions.check_script(text)
                    else:
                        expressions.check(text)
                except expressions.ExpressionError as err:
                    problems.append(
                        Problem(f"{kind} 不安全或无效 / unsafe or invalid {kind}: {err}", bpmn_id, line)
                    )
            if isinstance(task_spec, ServiceTaskMixin):
                operation = getattr(task_spec, "operation_name", None) or (
                    el.get("implementation") if el is not None else None
                )
                if service_exists is not None and (not operation or not service_exists(operation)):
                    problems.append(
                        Problem(
                            f"未知的服务任务 / unknown service task operation '{operation}'", bpmn_id, line
                        )
                    )
            if isinstance(task_spec, UserTaskMixin) and el is not None:
                meta = _task_meta(el, task_spec, known_roles)
                tasks[bpmn_id] = meta
                if meta.role is None:
                    problems.append(
                        Problem(
                            "用户任务没有映射到已知角色（泳道名称或 role 属性）/ user task has no known role "
                            f"(lane '{task_spec.lane}', no 'role' property)",
                            bpmn_id,
                            line,
                        )
                    )
                problems.extend(_property_problems(meta.properties, bpmn_id, line, known_roles))
                deadline = meta.properties.get("deadline")
                refused = _deadline_problem(deadline) if deadline else None
                if refused:
                    problems.append(Problem(refused, bpmn_id, line))
                if form_exists is not None and meta.form_key and not form_exists(meta.form_key):
                    problems.append(
                        Problem(f"表单不存在 / form '{meta.form_key}' does not exist", bpmn_id, line)
                    )
        problems.extend(send_back_problems(process_spec, tasks, by_id))
    if problems:
        raise BpmnInvalid(problems)

    process_el = by_id.get(key)
    name = (process_el.get("name") if process_el is not None else None) or key
    return CompiledDefinition(
        key=key,
        name=name,
        sha256=sha256_of(raw),
        spec=spec,
        subprocess_specs=subprocess_specs,
        tasks=tasks,
        process_ids=list(parser.get_process_ids()),
    )
