"""Structural lint of BPMN XML: what SpiffWorkflow's parser accepts but the engine cannot run well.

Works on the (already safely parsed) lxml tree so every problem names the element and its line:

* unsupported elements — constructs neither SpiffWorkflow nor our runtime executes (complex
  gateways, transactions, ad-hoc subprocesses, compensation/conditional events; messages and
  signals are checked in :mod:`engine.bpmn.messaging`);
* unreachable nodes — no path from a start event of their process or subprocess;
* dead ends — a flow node other than an end event with no outgoing sequence flow, or from which no
  end event can be reached;
* timers whose constant text is not an ISO 8601 date, duration or cycle.

:func:`warnings` lists what is deployable but worth a look: repeating timers with no count.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from lxml import etree
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from engine import expressions
from engine.bpmn import messaging, timers

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"


def _q(tag: str) -> str:
    return f"{{{BPMN_NS}}}{tag}"


# Containers whose children are flow elements with their own start and end.
_CONTAINERS = frozenset({"process", "subProcess", "transaction", "adHocSubProcess"})
FLOW_NODES = frozenset(
    {
        "startEvent",
        "endEvent",
        "intermediateCatchEvent",
        "intermediateThrowEvent",
        "boundaryEvent",
        "task",
        "userTask",
        "manualTask",
        "scriptTask",
        "serviceTask",
        "sendTask",
        "receiveTask",
        "businessRuleTask",
        "callActivity",
        "subProcess",
        "transaction",
        "adHocSubProcess",
        "exclusiveGateway",
        "inclusiveGateway",
        "parallelGateway",
        "complexGateway",
        "eventBasedGateway",
    }
)
UNSUPPORTED_ELEMENTS: dict[str, str] = {
    "complexGateway": "复杂网关 / complex gateway",
    "transaction": "事务子流程 / transaction subprocess",
    "adHocSubProcess": "临时子流程 / ad-hoc subprocess",
}
UNSUPPORTED_EVENTS: dict[str, str] = {
    "compensateEventDefinition": "补偿事件 / compensation event",
    "conditionalEventDefinition": "条件事件 / conditional event",
    "cancelEventDefinition": "取消事件 / cancel event",
}
# A constant that looks like an ISO 8601 text but is not one ("PT5X") is read as a variable name.
_ISO_LIKE = re.compile(r"^(R\d*/)?P[0-9A-Z.]*$|^\d{4}-\d{2}-\d{2}")


def local(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _problem(message: str, el: etree._Element) -> tuple[str, str | None, int | None]:
    return message, el.get("id"), el.sourceline


Found = tuple[str, str | None, int | None]


def executed_processes(root: etree._Element, main_id: str) -> list[etree._Element]:
    """The main process and every process it calls (transitively), as elements."""
    processes = {p.get("id"): p for p in root.findall(_q("process"))}
    order: list[etree._Element] = []
    todo = [main_id]
    seen: set[str] = set()
    while todo:
        pid = todo.pop(0)
        if pid in seen or pid not in processes:
            continue
        seen.add(pid)
        order.append(processes[pid])
        todo.extend(c.get("calledElement") or "" for c in processes[pid].iter(_q("callActivity")))
    return order


def unsupported(process: etree._Element) -> list[Found]:
    found = []
    for el in process.iter():
        name = local(el)
        if name in UNSUPPORTED_ELEMENTS:
            found.append(_problem(f"不支持的元素 / unsupported element: {UNSUPPORTED_ELEMENTS[name]}", el))
        elif name in UNSUPPORTED_EVENTS:
            owner = el.getparent()
            target = owner if owner is not None and owner.get("id") else el
            found.append(_problem(f"不支持的事件 / unsupported event: {UNSUPPORTED_EVENTS[name]}", target))
    return found


def _containers(process: etree._Element) -> Iterable[etree._Element]:
    yield process
    yield from process.iter(*(_q(t) for t in _CONTAINERS if t != "process"))


def _closure(starts: Iterable[str], edges: dict[str, list[str]]) -> set[str]:
    """Every node reached from ``starts`` (included) along ``edges``."""
    seen: set[str] = set()
    todo = list(starts)
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo.extend(edges[n])
    return seen


def graph(container: etree._Element) -> list[Found]:
    """Unreachable nodes and dead ends among the direct flow nodes of one process or subprocess."""
    nodes = {el.get("id"): el for el in container if local(el) in FLOW_NODES and el.get("id")}
    edges: dict[str, list[str]] = {n: [] for n in nodes}
    incoming: dict[str, int] = {n: 0 for n in nodes}
    for flow in container.iterfind(_q("sequenceFlow")):
        src, dst = flow.get("sourceRef"), flow.get("targetRef")
        if src in nodes and dst in nodes:
            edges[src].append(dst)
            incoming[dst] += 1
    outgoing_flows = {n: list(v) for n, v in edges.items()}
    attached: dict[str, list[str]] = {}
    for nid, el in nodes.items():
        if local(el) == "boundaryEvent" and el.get("attachedToRef") in nodes:
            attached.setdefault(str(el.get("attachedToRef")), []).append(nid)
    for activity, boundaries in attached.items():
        edges[activity].extend(boundaries)

    def is_event_subprocess(el: etree._Element) -> bool:
        return local(el) in _CONTAINERS and el.get("triggeredByEvent", "").lower() == "true"

    def is_link(el: etree._Element, kind: str) -> bool:
        return local(el) == kind and el.find(_q("linkEventDefinition")) is not None

    roots = [
        n
        for n, el in nodes.items()
        if local(el) == "startEvent" or is_event_subprocess(el) or is_link(el, "intermediateCatchEvent")
    ]
    found: list[Found] = []
    if not any(local(nodes[n]) == "startEvent" for n in roots) and nodes:
        found.append(_problem("没有开始事件 / no start event", container))
        return found
    reachable = _closure(roots, edges)
    # Link throw events jump to their catch events; end events and event subprocesses finish a path.
    finishes = {
        n
        for n, el in nodes.items()
        if local(el) == "endEvent" or is_event_subprocess(el) or is_link(el, "intermediateThrowEvent")
    }
    reverse: dict[str, list[str]] = {n: [] for n in nodes}
    for src, dsts in edges.items():
        for dst in dsts:
            reverse[dst].append(src)
    reaches_end = _closure(finishes, reverse)
    for nid, el in nodes.items():
        if nid not in reachable:
            found.append(_problem("无法到达的节点 / unreachable node: no path from a start event", el))
        elif nid in finishes:
            continue
        elif not outgoing_flows[nid]:
            found.append(
                _problem("死胡同 / dead end: a flow node other than an end event has no outgoing flow", el)
            )
        elif nid not in reaches_end:
            found.append(_problem("死循环 / no path from this node reaches an end event", el))
    return found


def timer_problems(process: etree._Element) -> list[Found]:
    """Timers whose constant text is not a readable ISO 8601 date, duration or cycle."""
    found = []
    for definition in process.iter(_q("timerEventDefinition")):
        owner = definition.getparent()
        target = owner if owner is not None else definition
        for child in definition:
            kind = local(child)
            text = (child.text or "").strip()
            if kind not in ("timeDate", "timeDuration", "timeCycle"):
                continue
            if not text:
                found.append(_problem(f"计时器为空 / empty timer {kind}", target))
                continue
            try:
                value = expressions.evaluate(text, {})
            except expressions.ExpressionLimit as err:  # a constant too large to compute: refused
                found.append(_problem(f"计时器表达式超出计算限制 / timer {kind}: {err}", target))
                continue
            except expressions.ExpressionError:
                if _ISO_LIKE.match(text):  # a mistyped ISO text, not a variable
                    found.append(_problem(f"无法识别的计时器 / unreadable timer {kind} {text!r}", target))
                continue  # computed from case data: checked when it runs
            if not isinstance(value, str):
                continue
            # bounds on cycles and durations first (SpiffWorkflow loops over their months); dates below
            bound = timers.problem(kind, value) if kind == "timeCycle" or value.strip()[:1] in "Pp" else None
            if bound is not None:
                found.append(_problem(f"无法使用的计时器 / timer {kind} refused: {bound}", target))
                continue
            try:
                if kind == "timeDate":
                    TimerEventDefinition.get_datetime(value)
                elif kind == "timeDuration":
                    TimerEventDefinition.parse_time_or_duration(value)
                else:
                    TimerEventDefinition.parse_iso_recurring_interval(value)
            except Exception as err:  # Spiff's ISO parsers raise plain errors
                found.append(
                    _problem(
                        f"无法识别的计时器 / unreadable timer {kind} {value!r}: {type(err).__name__}", target
                    )
                )
    return found


def _constant_timer_text(child: etree._Element) -> str | None:
    """A timer's text when it is a constant (a quoted or bare ISO text), ``None`` when it is computed."""
    text = (child.text or "").strip()
    if not text:
        return None
    try:
        value = expressions.evaluate(text, {})
    except expressions.ExpressionError:
        return None
    return value.strip() if isinstance(value, str) else None


def timer_warnings(process: etree._Element) -> list[Found]:
    """Repeating timers with no count (``R/…``): a timer start event creates a case every period for
    ever, a waiting step's timer fires every period for as long as it waits (issue 18 item 12)."""
    found = []
    for cycle in process.iter(_q("timeCycle")):
        value = _constant_timer_text(cycle)
        if value is None:
            continue
        parts = value.upper().replace("--", "/").split("/")
        if parts[0] != "R" or len(parts) < 2:
            continue  # a count (R12/…) or not a cycle at all (refused by timer_problems)
        definition = cycle.getparent()
        owner = definition.getparent() if definition is not None else None
        target = owner if owner is not None else cycle
        period = next((p for p in parts[1:] if p.startswith("P")), "?")
        if local(target) == "startEvent":
            message = (
                f"循环计时器没有次数上限：每 {period} 创建一个新案件，永不停止 / unbounded cycle {value[:80]!r}: "
                f"a new case every {period}, without end; give a count (e.g. R12/…) if it should stop"
            )
        else:
            message = (
                f"循环计时器没有次数上限：等待期间每 {period} 触发一次 / unbounded cycle {value[:80]!r}: fires "
                f"every {period} for as long as the step waits; give a count (e.g. R3/…) if it should stop"
            )
        found.append(_problem(message, target))
    return found


def warnings(root: etree._Element, main_id: str) -> list[Found]:
    """What does not refuse a deploy but deserves a look, in document order."""
    found: list[Found] = []
    for process in executed_processes(root, main_id):
        found.extend(timer_warnings(process))
        found.extend(messaging.lint_warnings(process))
    return sorted(found, key=lambda f: f[2] or 0)


def structure(root: etree._Element, main_id: str) -> list[Found]:
    """Every structural problem of the processes that would run, in document order."""
    found: list[Found] = []
    for process in executed_processes(root, main_id):
        found.extend(unsupported(process))
        found.extend(timer_problems(process))
        found.extend(messaging.lint(process))
        for container in _containers(process):
            found.extend(graph(container))
    return sorted(found, key=lambda f: f[2] or 0)


# Flow nodes where a case stops and waits for a person or a clock. Subprocesses and call activities
# count as waiting (their own steps are checked in their own container / process).
WAIT_STATES = frozenset(
    {"userTask", "manualTask", "receiveTask", "intermediateCatchEvent", "callActivity", "subProcess"}
)


def automatic_cycles(root: etree._Element, main_id: str) -> list[Found]:
    """Cycles of sequence flows through automatic steps only (scripts, service tasks, gateways, throw
    events): such a loop runs under the case's lock without ever stopping for a person or a timer.
    A repetition belongs in a standard loop (loop characteristics) or must pass a wait state."""
    found: list[Found] = []
    for process in executed_processes(root, main_id):
        for container in _containers(process):
            nodes = {el.get("id"): el for el in container if local(el) in FLOW_NODES and el.get("id")}
            automatic = {n for n, el in nodes.items() if local(el) not in WAIT_STATES}
            edges: dict[str, list[str]] = {n: [] for n in automatic}
            for flow in container.iterfind(_q("sequenceFlow")):
                src, dst = flow.get("sourceRef"), flow.get("targetRef")
                if src in automatic and dst in automatic:
                    edges[str(src)].append(str(dst))
            reported: set[str] = set()
            for start in sorted(automatic, key=lambda n: nodes[n].sourceline or 0):
                if start in reported:
                    continue
                cycle = _cycle_through(start, edges)
                if cycle:
                    reverse: dict[str, list[str]] = {n: [] for n in automatic}
                    for src, dsts in edges.items():
                        for dst in dsts:
                            reverse[dst].append(src)
                    # the whole strongly connected part is one loop: report it once
                    reported.update(_closure([start], edges) & _closure([start], reverse))
                    path = " → ".join([*cycle, cycle[0]])
                    found.append(
                        _problem(
                            "自动步骤构成循环且没有等待环节（用户任务或计时器），会无限运行 / a cycle of "
                            f"automatic steps with no wait state: {path}; use loop characteristics "
                            "(standard loop) or pass a user task or timer",
                            nodes[start],
                        )
                    )
    return found


def _cycle_through(start: str, edges: dict[str, list[str]]) -> list[str] | None:
    """The nodes of a path from ``start`` back to itself, if there is one."""
    parents: dict[str, str] = {}
    todo = [start]
    seen = {start}
    while todo:
        node = todo.pop()
        for nxt in edges[node]:
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(parents[path[-1]])
                return list(reversed(path))
            if nxt not in seen:
                seen.add(nxt)
                parents[nxt] = node
                todo.append(nxt)
    return None
