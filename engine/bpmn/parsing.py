"""Turn uploaded BPMN XML into an executable, validated definition — or a list of problems.

The XML is parsed with entity expansion, DTDs and network access disabled and with a size limit.
The BPMN is then parsed by SpiffWorkflow's Spiff parser (which reads ``spiffworkflow:properties``);
Camunda Modeler's ``camunda:formKey`` / ``camunda:candidateGroups`` / ``camunda:properties`` are read
from the XML directly, so files from either modeler work. Every expression, script, timer, lane and
form reference is checked before anything is stored.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
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

from engine import errors, expressions
from engine.bpmn import lint
from engine.deadlines import calendar

MAX_BPMN_BYTES = 2 * 1024 * 1024

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"

_ROLE_IN_TEXT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOCTYPE = re.compile(rb"<!\s*DOCTYPE|<!\s*ENTITY", re.IGNORECASE)


ERROR = "error"  # refuses the deploy
WARNING = "warning"  # deployable, but worth a look (lint shows it; deploy does not block on it)


@dataclass(frozen=True)
class Problem:
    """One finding of lint, pointing at the element when known: an ``error`` refuses the definition,
    a ``warning`` does not."""

    message: str
    element_id: str | None = None
    line: int | None = None
    severity: str = ERROR

    def as_dict(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "element": self.element_id,
            "line": self.line,
            "severity": self.severity,
        }

    def __str__(self) -> str:
        where = []
        if self.element_id:
            where.append(f"element '{self.element_id}'")
        if self.line:
            where.append(f"line {self.line}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


@errors.family(errors.Invalid)
class BpmnInvalid(ValueError):
    """The BPMN cannot be deployed; ``problems`` says why, element by element."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


@errors.family(errors.TooLarge)
class BpmnTooLarge(BpmnInvalid):
    """The file is over :data:`MAX_BPMN_BYTES` (the API answers 413)."""


@dataclass(frozen=True)
class TaskMeta:
    """What the engine reads from a user task's definition."""

    bpmn_id: str
    name: str
    lane: str | None
    role: str | None
    form_key: str | None
    properties: dict[str, str] = field(default_factory=dict)


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


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parse_xml(data: bytes | str) -> etree._ElementTree:
    """Parse untrusted XML safely: no DTD, no entities, no network, bounded size."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > MAX_BPMN_BYTES:
        raise BpmnTooLarge([Problem(f"文件过大 / file larger than {MAX_BPMN_BYTES // 1024} KB")])
    if not raw.strip():
        raise BpmnInvalid([Problem("文件为空 / empty file")])
    if _DOCTYPE.search(raw):
        # Entities are where XXE and billion-laughs live; BPMN never needs a DTD.
        raise BpmnInvalid([Problem("不允许 DOCTYPE 声明 / DOCTYPE declarations are not allowed")])
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
    )
    try:
        tree = etree.ElementTree(etree.fromstring(raw, parser=parser))
    except etree.XMLSyntaxError as err:
        raise BpmnInvalid(
            [Problem(f"XML 格式错误 / not well-formed XML: {err.msg}", line=err.lineno)]
        ) from err
    except ValueError as err:  # e.g. encoding declarations on str input
        raise BpmnInvalid([Problem(f"XML 格式错误 / not well-formed XML: {err}")]) from err
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise BpmnInvalid([Problem("不允许 DOCTYPE 声明 / DOCTYPE declarations are not allowed")])
    root = tree.getroot()
    if root.tag != f"{{{BPMN_NS}}}definitions":
        raise BpmnInvalid(
            [
                Problem(
                    f"根元素必须是 bpmn:definitions / root element must be BPMN definitions, found {root.tag}"
                )
            ]
        )
    return tree


_DECLARED_ENCODING = re.compile(r"""^(\s*<\?xml[^>]*?\bencoding\s*=\s*["'])([^"']*)(["'])""")
_UTF8_NAMES = {"UTF-8", "UTF8", "US-ASCII", "ASCII"}


def to_utf8(data: bytes | str) -> bytes:
    """The same BPMN as UTF-8 bytes (with its declaration saying so): how definitions are stored.

    A valid file in another encoding (ISO-8859-1, GBK, UTF-16 with its declaration or byte-order mark)
    is decoded by the encoding the XML parser detected; a file whose bytes do not match its declared
    encoding, or that names an encoding Python does not know, is refused as :class:`BpmnInvalid`.
    Line numbers stay as they were (only the declaration's encoding name changes).
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tree = parse_xml(raw)  # refuses what the parser cannot read (wrong bytes for the declaration)
    encoding = (tree.docinfo.encoding or "UTF-8").upper()
    if encoding in _UTF8_NAMES:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise BpmnInvalid(
                [Problem(f"文件编码不是 UTF-8 / the file is not valid UTF-8 (byte {err.start})")]
            ) from err
        return raw
    try:
        text = raw.decode(encoding)
    except (LookupError, UnicodeDecodeError) as err:
        raise BpmnInvalid(
            [Problem(f"无法按声明的编码读取文件 / cannot read the file as {encoding}: {type(err).__name__}")]
        ) from err
    text = _DECLARED_ENCODING.sub(r"\g<1>UTF-8\g<3>", text.lstrip("\ufeff"), count=1)
    return text.encode("utf-8")


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


def _task_meta(el: etree._Element, spec: Any, known_roles: set[str]) -> TaskMeta:
    props = _properties(el)
    props.update({k: v for k, v in (spec.extensions.get("properties") or {}).items() if isinstance(v, str)})
    form_key = (
        props.get("formKey")
        or props.get("form_key")
        or el.get(f"{{{CAMUNDA_NS}}}formKey")
        or (spec.extensions.get("properties") or {}).get("formJsonSchemaFilename")
    )
    if form_key and form_key.startswith("embedded:"):
        form_key = form_key.rsplit(":", 1)[-1]
    role = (
        _role_from(props.get("role"), known_roles)
        or _role_from(el.get(f"{{{CAMUNDA_NS}}}candidateGroups"), known_roles)
        or _role_from(spec.lane, known_roles)
    )
    return TaskMeta(
        bpmn_id=spec.bpmn_id,
        name=spec.bpmn_name or spec.bpmn_id,
        lane=spec.lane,
        role=role,
        form_key=form_key,
        properties=props,
    )


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


_ADDRESS = re.compile(r"<Element \{[^}]*\}(\w+) at 0x[0-9a-fA-F]+>|\s+at 0x[0-9a-fA-F]+")


def _clean(err: Exception) -> str:
    """The parser's message without object addresses (``<Element {ns}sourceRef at 0x7f…>``)."""
    return _ADDRESS.sub(lambda m: f"<{m.group(1)}>" if m.group(1) else "", str(err)).strip()


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _property_problems(
    props: dict[str, str], bpmn_id: str, line: int | None, known_roles: set[str]
) -> list[Problem]:
    """``deadline_field`` must name a data field; ``reminder`` / ``escalation`` must be durations;
    ``escalate_to`` must be a known role."""
    problems = []
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
