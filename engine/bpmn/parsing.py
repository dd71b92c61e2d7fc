"""Turn uploaded BPMN XML into an executable, validated definition — or a list of problems.

The XML is read safely (:mod:`engine.bpmn.xmlsafe`), then parsed by SpiffWorkflow's Spiff parser (which
reads ``spiffworkflow:properties``); Camunda Modeler's ``camunda:formKey`` / ``camunda:candidateGroups``
/ ``camunda:properties`` are read from the XML directly (:mod:`engine.bpmn.taskmeta`), so files from
either modeler work. Every expression, script, timer, lane and form reference is checked before
anything is stored.
"""

from __future__ import annotations

from collections.abc import Callable
from copy import deepcopy
from dataclasses import dataclass, field, replace
from typing import Any

from lxml import etree
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

from engine import errors, expressions
from engine.bpmn import (
    callactivity,
    camunda,
    dmn_task,
    eventgateway,
    lint,
    messaging,
    multiinstance,
    parse_errors,
)
from engine.bpmn.taskmeta import (  # noqa: F401 (re-exported: the public names of this module)
    TaskMeta,
    _deadline_problem,
    _properties,
    _property_problems,
    _role_from,
    _task_meta,
    declared_outputs,
    read_task,
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
    warnings: list[Problem] = field(default_factory=list)  # what lint warns about (never an error)
    initiator_var: str | None = None  # camunda:initiator: the case variable holding the starter's name
    decision_refs: frozenset[str] = frozenset()  # decisions its business-rule tasks name (engine.decisions)

    def task_meta(self, bpmn_id: str) -> TaskMeta | None:
        return self.tasks.get(bpmn_id)


# Namespaces whose elements are BPMN's own (semantic model and diagram interchange): ids must be unique
# among them. Vendors' extension elements (camunda:formField, adonis:target, ...) carry ids of their own.
_BPMN_ID_NAMESPACES = frozenset(
    {
        BPMN_NS,
        "http://www.omg.org/spec/BPMN/20100524/DI",
        "http://www.omg.org/spec/DD/20100524/DC",
        "http://www.omg.org/spec/DD/20100524/DI",
    }
)


def _duplicate_ids(root: etree._Element) -> list[Problem]:
    seen: dict[str, int] = {}
    problems = []
    for el in root.iter():
        if not isinstance(el.tag, str) or etree.QName(el).namespace not in _BPMN_ID_NAMESPACES:
            continue  # a vendor extension's id (camunda:formField names a data field) is not a BPMN id
        el_id = el.get("id")
        if el_id is None:
            continue
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


def choose_process(root: etree._Element) -> tuple[str | None, Problem | None]:
    """The process a definition runs (its key) and, when no process is marked executable, the problem
    saying so (the file can still be linted as that process and imported as a draft)."""
    processes = root.findall(f"{{{BPMN_NS}}}process")
    executable = [p.get("id") for p in processes if p.get("isExecutable", "").lower() == "true"]
    called = {el.get("calledElement") for el in root.iter(f"{{{BPMN_NS}}}callActivity")}
    candidates = [p for p in executable if p not in called] or executable
    if candidates:
        return str(candidates[0]), None
    if len(processes) == 1 and processes[0].get("isExecutable") is None:
        return str(processes[0].get("id")), None
    if not processes:
        return None, Problem("文件中没有流程 / no process in the file (no executable process)")
    drafts = [p for p in processes if p.get("id") not in called and p.get("id")] or processes
    main = max(drafts, key=lambda p: sum(1 for _ in p.iter()))  # the pool with the most in it
    return str(main.get("id")), Problem(
        '流程未标记为可执行（isExecutable="true"）：可作为草稿导入，在建模器中设为可执行 / no executable '
        'process (isExecutable="true"): import it as a draft and make it executable in the modeler',
        main.get("id"),
        main.sourceline,
    )


def _main_process_id(root: etree._Element) -> str:
    key, problem = choose_process(root)
    if problem is not None:
        raise BpmnInvalid([problem])
    return str(key)


main_process_id = _main_process_id  # the process a definition runs (its key)


def _parse(
    root: etree._Element, key: str, source: str, called: dict[str, etree._Element] | None = None
) -> tuple[Any, Any, list[str]]:
    """The Spiff parser's specs of process ``key`` (every process read as executable: whether it is
    marked so is reported by :func:`choose_process`, not as the parser's first error), with the
    deployed procedures its call activities run (``called``: process id -> that file's root)."""
    parser = dmn_task.Parser()
    for n, file_root in enumerate([root, *(called or {}).values()]):
        copy = etree.ElementTree(deepcopy(file_root))
        for process in copy.getroot().iterfind(f"{{{BPMN_NS}}}process"):
            process.set("isExecutable", "true")
        parser.add_bpmn_xml(copy, filename=source if n == 0 else f"{source}#called{n}")
    spec, subprocess_specs = parser.get_spec(key), parser.get_subprocess_specs(key)
    multiinstance.adapt([spec, *subprocess_specs.values()])
    messaging.take_correlations([spec, *subprocess_specs.values()])  # the engine correlates messages
    return spec, subprocess_specs, list(parser.get_process_ids())


def locate(problems: list[Problem], by_id: dict[Any, etree._Element]) -> list[Problem]:
    """Each problem with its element's name and line (when it names an element of the file)."""
    located = []
    for p in problems:
        el = by_id.get(p.element_id) if p.element_id else None
        if el is not None:
            name = " ".join((el.get("name") or "").split()) or None
            p = replace(p, name=p.name or name, line=p.line or el.sourceline)
        located.append(p)
    return located


def _expression_checks(kinds: list[tuple[str, str]], bpmn_id: str | None, line: int | None) -> list[Problem]:
    problems = []
    for kind, text in kinds:
        try:
            if kind in ("script", "prescript", "postscript"):
                expressions.check_script(text)
            else:
                expressions.check(text)
        except expressions.ExpressionError as err:
            zh = _KIND_ZH.get(kind.split()[-1], kind)
            problems.append(Problem(f"{zh}不安全或无效 / unsafe or invalid {kind}: {err}", bpmn_id, line))
    return problems


_KIND_ZH = {
    "condition": "条件",
    "script": "脚本",
    "prescript": "前置脚本",
    "postscript": "后置脚本",
    "parameter": "服务参数",
    "timer": "计时器",
    "cardinality": "多实例数量",
    "maximum": "循环上限",
}


def _user_task_checks(
    el: etree._Element,
    task_spec: Any,
    known_roles: set[str],
    form_exists: Callable[[str], bool] | None,
    form_known: Callable[[str], bool] | None = None,
    initiator_var: str | None = None,
) -> tuple[TaskMeta, list[Problem]]:
    bpmn_id, line = task_spec.bpmn_id, el.sourceline
    meta, problems = read_task(
        el, task_spec, known_roles, form_known=form_known or form_exists, initiator_var=initiator_var
    )
    if meta.role is None and meta.assignee != "initiator":  # a starter's step needs no role
        lane = f"泳道“{task_spec.lane}”" if task_spec.lane else "没有泳道"
        lane_en = f"lane {task_spec.lane!r}" if task_spec.lane else "no lane"
        problems.append(
            Problem(
                f"用户任务没有映射到已知角色（{lane}，没有 role 属性或候选组）/ user task has no known role "
                f"({lane_en}, no 'role' property or candidate group)",
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
        problems.append(Problem(f"表单不存在 / form '{meta.form_key}' does not exist", bpmn_id, line))
    return meta, problems


def check_bpmn(
    data: bytes | str,
    *,
    known_roles: set[str],
    form_exists: Callable[[str], bool] | None = None,
    service_exists: Callable[[str], bool] | None = None,
    source: str = "upload",
    form_known: Callable[[str], bool] | None = None,
    decision_exists: Callable[[str], bool] | None = None,
    called_process: callactivity.Fetch | None = None,
) -> tuple[CompiledDefinition | None, list[Problem]]:
    """Every problem of the file in one answer, and the compiled definition when none of them is an
    error. Only a file that is not readable XML (or is too large) stops at its first problem: it raises
    :class:`BpmnInvalid` (:class:`BpmnTooLarge`). ``form_known`` maps Camunda form references to our
    forms (``form_exists`` when not given) without refusing the file when none matches.
    ``called_process`` gives the BPMN of a deployed procedure by key, for call activities that run one
    (:mod:`engine.bpmn.callactivity`)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    root = parse_xml(raw).getroot()
    by_id = {el.get("id"): el for el in root.iter() if isinstance(el.tag, str) and el.get("id")}
    problems = _duplicate_ids(root)
    key, not_executable = choose_process(root)
    if not_executable is not None:
        problems.append(not_executable)
    if key is None:
        return None, locate(problems, by_id)
    problems += [Problem(message, el_id, line) for message, el_id, line in lint.structure(root, key)]
    initiator_var = camunda.initiator_variable(root)
    problems += camunda.ignored(lint.executed_processes(root, key))
    problems += _decision_problems(root, key, decision_exists)
    called, missing = callactivity.resolve(root, key, called_process)
    problems += missing + callactivity.mapping_warnings(root, key, called)
    gateways = eventgateway.problems(root, key)
    problems += gateways + multiinstance.reference_warnings(root, key)
    for called_root in called.values():  # the called procedures' steps (their tasks run in this case)
        for el in called_root.iter():
            if isinstance(el.tag, str) and el.get("id") and el.get("id") not in by_id:
                by_id[el.get("id")] = el
    spec = None
    try:
        if missing or gateways:
            raise _Missing("已作为问题报告 / reported as problems")
        spec, subprocess_specs, process_ids = _parse(root, key, source, called)
    except _Missing:
        pass  # already reported: the parser would only say the same less clearly
    except Exception as err:  # noqa: BLE001 — the parser raises plain errors on many malformed inputs
        problems.append(parse_errors.translate(err, root))

    tasks: dict[str, TaskMeta] = {}
    if spec is None:  # the parser gave up: check what can be read from the XML alone
        processes = lint.executed_processes(root, key)
        for el, kind, text in parse_errors.xml_expressions(processes):
            problems += _expression_checks([(kind, text)], el.get("id"), el.sourceline)
        for el, xml_spec in parse_errors.xml_user_tasks(processes):
            meta, found = _user_task_checks(el, xml_spec, known_roles, form_exists, form_known, initiator_var)
            tasks[xml_spec.bpmn_id] = meta
            problems += found
        return None, locate(in_order(problems), by_id)

    for process_spec in [spec, *subprocess_specs.values()]:
        for task_spec in process_spec.task_specs.values():
            bpmn_id = getattr(task_spec, "bpmn_id", None)
            if bpmn_id is None:
                continue
            el = by_id.get(bpmn_id)
            line = el.sourceline if el is not None else None
            problems += _expression_checks(
                _expression_problems(task_spec) + _scripts(task_spec), bpmn_id, line
            )
            if isinstance(task_spec, ServiceTaskMixin):
                operation = getattr(task_spec, "operation_name", None) or (
                    el.get("implementation") if el is not None else None
                )
                if service_exists is not None and not operation:
                    problems.append(
                        Problem("服务任务没有指定操作 / the service task names no operation", bpmn_id, line)
                    )
                elif service_exists is not None and not service_exists(str(operation)):
                    problems.append(
                        Problem(
                            f"未知的服务任务 / unknown service task operation '{operation}'", bpmn_id, line
                        )
                    )
            if isinstance(task_spec, UserTaskMixin) and el is not None:
                meta, found = _user_task_checks(
                    el, task_spec, known_roles, form_exists, form_known, initiator_var
                )
                tasks[bpmn_id] = meta
                problems += found
        problems.extend(send_back_problems(process_spec, tasks, by_id))
    problems = locate(in_order(problems), by_id)
    if any(p.severity == ERROR for p in problems):
        return None, problems

    process_el = by_id.get(key)
    name = (process_el.get("name") if process_el is not None else None) or key
    compiled = CompiledDefinition(
        key=key,
        name=name,
        sha256=sha256_of(raw),
        spec=spec,
        subprocess_specs=subprocess_specs,
        tasks=tasks,
        process_ids=process_ids,
        warnings=problems,
        initiator_var=initiator_var,
        decision_refs=frozenset(dmn_task.refs_of([spec, *subprocess_specs.values()])),
    )
    return compiled, problems


def _decision_problems(
    root: etree._Element, key: str, decision_exists: Callable[[str], bool] | None
) -> list[Problem]:
    """A business-rule task must name a decision, and (when the caller can tell) a deployed one."""
    problems = []
    for el, ref in dmn_task.decision_refs(root, lint.executed_processes(root, key)):
        if ref is None:
            problems.append(
                Problem(
                    "业务规则任务没有指定决策表（spiffworkflow:calledDecisionId 或 camunda:decisionRef） / "
                    "the business rule task names no decision (calledDecisionId or camunda:decisionRef)",
                    el.get("id"),
                    el.sourceline,
                )
            )
        elif decision_exists is not None and not decision_exists(ref):
            problems.append(
                Problem(
                    f"决策表不存在（请先部署） / unknown decision '{ref[:100]}' (deploy it first)",
                    el.get("id"),
                    el.sourceline,
                )
            )
    return problems


class _Missing(errors.Invalid):  # reported as problems; never escapes the parse
    """What the parser would refuse is already reported, more clearly: a called process found nowhere
    (:func:`callactivity.resolve`), an event-based gateway leading to a step (:mod:`eventgateway`)."""


def in_order(problems: list[Problem]) -> list[Problem]:
    """Errors before warnings; each in document order (a problem without a line first)."""
    return sorted(problems, key=lambda p: (p.severity != ERROR, p.line or 0))


def compile_bpmn(
    data: bytes | str,
    *,
    known_roles: set[str],
    form_exists: Callable[[str], bool] | None = None,
    service_exists: Callable[[str], bool] | None = None,
    source: str = "upload",
    form_known: Callable[[str], bool] | None = None,
    called_process: callactivity.Fetch | None = None,
) -> CompiledDefinition:
    """Parse and validate BPMN; raise :class:`BpmnInvalid` listing every error found (the warnings are
    in :func:`check_bpmn`'s answer and in the compiled definition's ``warnings``)."""
    compiled, problems = check_bpmn(
        data,
        known_roles=known_roles,
        form_exists=form_exists,
        service_exists=service_exists,
        source=source,
        form_known=form_known,
        called_process=called_process,
    )
    if compiled is None:
        raise BpmnInvalid([p for p in problems if p.severity == ERROR])
    return compiled
