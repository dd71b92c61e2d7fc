"""Messages and signals as the engine reads them from a workflow (no database).

* :func:`waiting` — the message and signal catches a workflow waits at (receive tasks, message and
  signal catch / boundary / start events), each with the correlation key it waits on;
* :func:`note` / :func:`take_thrown` — what the workflow threw during a step (send tasks, message and
  signal throw / end events), each with its payload and correlation key, for delivery to other cases;
* :func:`catch` — hand one message or signal to a waiting workflow;
* :func:`lint` / :func:`lint_warnings` — what the XML must say for messages to be delivered at all.

Correlation: a message reaches the cases waiting for its *name* with the same *correlation key*. An
element's key is the value of its ``correlation`` property (``spiffworkflow:property``, edited in the
modeler panel) or of its message's BPMN correlation property (``correlationPropertyRetrievalExpression``),
an expression evaluated on the case's own data — the sender's when it throws, the receiver's when it
starts waiting; without either, the case's business key. Signals have no key: they reach every case
waiting for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn import BpmnEvent, BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import SignalEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import ThrowingEvent
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from engine import expressions

MESSAGE = "message"
SIGNAL = "signal"
BUSINESS_KEY = object()  # the element declares no correlation: the case's business key is its key
_NOTED = "_assistflow_thrown"  # on the workflow object: throws seen during the current step
MAX_KEY = 200

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"


def kind_of(definition: Any) -> str | None:
    if isinstance(definition, MessageEventDefinition):
        return MESSAGE
    if isinstance(definition, SignalEventDefinition):
        return SIGNAL
    return None


_OWN = "assistflow_correlations"  # on a message event definition: its BPMN correlation expressions


def take_correlations(specs: list[Any]) -> None:
    """Move the BPMN correlation properties of every message event out of SpiffWorkflow's reach (it
    would evaluate them on the payload and match them inside one workflow); the engine correlates
    across cases by the subscription table with the same expressions (:func:`correlation_expression`)."""
    for spec in specs:
        for task_spec in spec.task_specs.values():
            definition = getattr(task_spec, "event_definition", None)
            if not isinstance(definition, MessageEventDefinition) or hasattr(definition, _OWN):
                continue
            own = [
                str(p.retrieval_expression)
                for p in definition.correlation_properties
                if p.retrieval_expression
            ]
            setattr(definition, _OWN, own)
            definition.correlation_properties = []
            if hasattr(definition, "process_correlations"):
                definition.process_correlations = []


def correlation_expression(task_spec: Any) -> str | None:
    """The element's ``correlation`` property, else its message's BPMN correlation property."""
    properties = (getattr(task_spec, "extensions", None) or {}).get("properties") or {}
    text = properties.get("correlation")
    if isinstance(text, str) and text.strip():
        return text.strip()
    definition = getattr(task_spec, "event_definition", None)
    own = getattr(definition, _OWN, None)
    if own is None:  # not moved (a spec parsed elsewhere): read SpiffWorkflow's
        own = [p.retrieval_expression for p in getattr(definition, "correlation_properties", None) or ()]
    return next((str(text) for text in own if text), None)


def key_from(task_spec: Any, data: dict[str, Any]) -> Any:
    """The correlation key of an element for a case with ``data``: a string, ``None`` (computed as
    nothing), or :data:`BUSINESS_KEY`. An expression that fails gives ``None``."""
    expression = correlation_expression(task_spec)
    if expression is None:
        return BUSINESS_KEY
    try:
        value = expressions.evaluate(expression, dict(data))
    except expressions.ExpressionError:
        return None
    return normalize(value)


def normalize(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text[:MAX_KEY] or None


@dataclass
class Waiting:
    kind: str
    name: str
    bpmn_id: str
    label: str | None
    key: Any  # str | None | BUSINESS_KEY
    is_start: bool = False


def waiting(wf: BpmnWorkflow) -> list[Waiting]:
    """Every message and signal catch the workflow waits at now (subprocesses included)."""
    found = []
    for task in list(wf.event_manager.tasks.values()):
        spec = task.task_spec
        kind = kind_of(getattr(spec, "event_definition", None))
        if kind is None or not task.has_state(TaskState.WAITING):
            continue
        key = key_from(spec, task.data) if kind == MESSAGE else None
        found.append(
            Waiting(
                kind,
                str(spec.event_definition.name),
                str(spec.bpmn_id),
                spec.bpmn_name,
                key,
                isinstance(spec, StartEvent) and task.workflow is wf,
            )
        )
    return found


def note(wf: BpmnWorkflow, task: Task) -> None:
    """Called for every task an engine step completed: a throw keeps its data (the correlation key is
    computed from the sender's data as it was when it threw)."""
    spec = task.task_spec
    if isinstance(spec, ThrowingEvent) and kind_of(getattr(spec, "event_definition", None)):
        wf.__dict__.setdefault(_NOTED, []).append((spec, dict(task.data)))


@dataclass
class Thrown:
    kind: str
    name: str
    payload: Any
    key: Any  # str | None | BUSINESS_KEY (messages); None (signals)
    bpmn_id: str | None


def take_thrown(wf: BpmnWorkflow) -> list[Thrown]:
    """The messages and signals the workflow threw that no task of its own caught (removed from it, so
    that they are neither stored with the state nor delivered twice)."""
    noted: list[tuple[Any, dict[str, Any]]] = wf.__dict__.pop(_NOTED, [])
    events = wf.get_events()
    found = []
    for event in events:
        kind = kind_of(event.event_definition)
        if kind is None:
            continue  # errors and escalations that left the process: not ours
        match = next((n for n in noted if n[0].event_definition is event.event_definition), None)
        if match is not None:
            noted.remove(match)
        spec, data = match if match is not None else (None, {})
        key = key_from(spec, data) if kind == MESSAGE and spec is not None else None
        if kind == MESSAGE and spec is None:
            key = BUSINESS_KEY
        found.append(
            Thrown(kind, str(event.event_definition.name), event.payload, key, getattr(spec, "bpmn_id", None))
        )
    return found


def catch(wf: BpmnWorkflow, kind: str, name: str, payload: Any, bpmn_id: str | None = None) -> int:
    """Hand a message or signal to the workflow's waiting tasks of that name (only ``bpmn_id`` when
    given); the number of tasks that caught it (0: it does not wait for it)."""
    for task in list(wf.event_manager.tasks.values()):
        definition: Any = getattr(task.task_spec, "event_definition", None)
        if kind_of(definition) != kind or str(definition.name) != name:
            continue
        if bpmn_id is not None and task.task_spec.bpmn_id != bpmn_id:
            continue
        if not task.has_state(TaskState.WAITING):
            continue
        # correlation is decided by the engine (the subscription table): the event carries the
        # workflow's own correlations, so SpiffWorkflow's check agrees
        event = BpmnEvent(definition, payload=payload, correlations=dict(task.workflow.correlations))
        return int(wf.event_manager.catch(event, internal=False))
    return 0


def start_messages(spec: Any) -> list[str]:
    """The names of the messages a process spec's message start events wait for."""
    return [
        str(s.event_definition.name)
        for s in spec.task_specs.values()
        if isinstance(s, StartEvent) and kind_of(getattr(s, "event_definition", None)) == MESSAGE
    ]


# --- lint (XML) ------------------------------------------------------------------------------------

Found = tuple[str, str | None, int | None]


def _q(tag: str) -> str:
    return f"{{{BPMN_NS}}}{tag}"


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _correlation_property(el: etree._Element) -> str | None:
    for prop in el.iterfind(f"{_q('extensionElements')}/{{{SPIFF_NS}}}properties/{{{SPIFF_NS}}}property"):
        if prop.get("name") == "correlation":
            return (prop.get("value") or "").strip() or None
    return None


def _message_elements(process: etree._Element) -> list[tuple[etree._Element, str | None, bool]]:
    """(element, messageRef, catches) of every send/receive task and message event of a process."""
    found = []
    for el in process.iter():
        name = _local(el)
        if name in ("sendTask", "receiveTask"):
            found.append((el, el.get("messageRef"), name == "receiveTask"))
        elif name == "messageEventDefinition":
            owner = el.getparent()
            if owner is not None:
                catches = _local(owner) in ("startEvent", "intermediateCatchEvent", "boundaryEvent")
                found.append((owner, el.get("messageRef"), catches))
    return found


def lint(process: etree._Element) -> list[Found]:
    """Blocking problems: a message or signal that is not defined, a signal end event (SpiffWorkflow
    would run it as a plain end event: the signal would never be sent), an unsafe correlation."""
    root = process.getroottree().getroot()
    messages = {m.get("id"): m for m in root.iter(_q("message"))}
    signals = {s.get("id"): s for s in root.iter(_q("signal"))}
    found: list[Found] = []
    for el, ref, catches in _message_elements(process):
        role = "接收" if catches else "发送"
        role_en = "catches" if catches else "throws"
        message = messages.get(ref) if ref else None
        if message is None or not (message.get("name") or "").strip():
            why = (
                f"messageRef “{ref}” 没有对应的带名称的 bpmn:message / messageRef '{ref}' names no bpmn:message with a name"
                if ref
                else "缺少 messageRef / no messageRef"
            )
            zh, en = why.split(" / ", 1)
            found.append(
                (
                    f"{role}的消息未定义：{zh} / the element {role_en} a message that is not defined: {en}",
                    el.get("id"),
                    el.sourceline,
                )
            )
        text = _correlation_property(el)
        if text is not None:
            try:
                expressions.check(text)
            except expressions.ExpressionError as err:
                found.append(
                    (
                        f"关联表达式不安全或无效 / unsafe or invalid correlation: {err}",
                        el.get("id"),
                        el.sourceline,
                    )
                )
    for definition in process.iter(_q("signalEventDefinition")):
        owner = definition.getparent()
        target = owner if owner is not None else definition
        ref = definition.get("signalRef")
        signal = signals.get(ref) if ref else None
        if signal is None or not (signal.get("name") or "").strip():
            zh = f"signalRef “{ref}” 没有对应的带名称的 bpmn:signal" if ref else "缺少 signalRef"
            en = f"signalRef '{ref}' names no bpmn:signal with a name" if ref else "no signalRef"
            found.append(
                (
                    f"信号未定义：{zh} / the signal is not defined: {en}",
                    target.get("id"),
                    target.sourceline,
                )
            )
        if owner is not None and _local(owner) == "endEvent":
            found.append(
                (
                    "不支持信号结束事件：请在结束事件前用信号抛出中间事件 / signal end events are not "
                    "supported: throw the signal with an intermediate throw event before the end event",
                    owner.get("id"),
                    owner.sourceline,
                )
            )
    for expr in root.iter(_q("correlationPropertyRetrievalExpression")):
        for formal in expr:
            text = (formal.text or "").strip()
            if not text:
                continue
            try:
                expressions.check(text)
            except expressions.ExpressionError as err:
                owner = expr.getparent()
                found.append(
                    (
                        f"关联表达式不安全或无效 / unsafe or invalid correlation: {err}",
                        owner.get("id") if owner is not None else None,
                        expr.sourceline,
                    )
                )
    return found


def lint_warnings(process: etree._Element) -> list[Found]:
    """A message element without a correlation: its messages are matched by business key alone."""
    root = process.getroottree().getroot()
    correlated = {
        e.get("messageRef")
        for e in root.iter(_q("correlationPropertyRetrievalExpression"))
        if e.get("messageRef")
    }
    found: list[Found] = []
    for el, ref, catches in _message_elements(process):
        if catches and _local(el) == "startEvent":
            continue  # a message start event starts a new case: nothing to correlate with
        defined = ref is not None and any(m.get("id") == ref for m in root.iter(_q("message")))
        if defined and _correlation_property(el) is None and ref not in correlated:
            found.append(
                (
                    "消息没有关联属性：按案件的业务编号关联（请在属性面板填写“关联”）/ the message has no "
                    "correlation: it is matched by the case's business key (set 'correlation' in the panel)",
                    el.get("id"),
                    el.sourceline,
                )
            )
    return found
