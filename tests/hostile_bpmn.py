"""Hostile and mistaken BPMN for the tests of issue 18 items 11 and 12, built small and readable.

Each builder returns the XML as bytes; element ids are fixed so tests can look for them by name and
line. User tasks are in a ``street_officer`` lane; the first user task is ``fill`` (no form).
"""

from __future__ import annotations

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" '
    'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs" '
    'targetNamespace="http://assistflow.example/test">\n'
)


def process(key: str, body: str, user_tasks: tuple[str, ...] = ("fill",), top: str = "") -> bytes:
    refs = "".join(f"<bpmn:flowNodeRef>{t}</bpmn:flowNodeRef>" for t in user_tasks)
    return (
        HEAD
        + top
        + f'<bpmn:process id="{key}" name="{key}" isExecutable="true">\n'
        + f'<bpmn:laneSet id="ls"><bpmn:lane id="lane" name="street_officer">{refs}</bpmn:lane></bpmn:laneSet>\n'
        + body
        + "\n</bpmn:process>\n</bpmn:definitions>\n"
    ).encode("utf-8")


def _flows(*pairs: tuple[str, str, str]) -> str:
    out = []
    for i, (src, dst, condition) in enumerate(pairs):
        cond = f"<bpmn:conditionExpression>{condition}</bpmn:conditionExpression>" if condition else ""
        out.append(
            f'<bpmn:sequenceFlow id="f{i}" sourceRef="{src}" targetRef="{dst}">{cond}</bpmn:sequenceFlow>'
        )
    return "\n".join(out)


def script_cycle(key: str = "hostile_script_cycle") -> bytes:
    """fill → count (script) ⇄ gw → done: a loop of automatic steps with no wait state."""
    return process(
        key,
        '<bpmn:startEvent id="s"/>\n<bpmn:userTask id="fill" name="填写"/>\n'
        '<bpmn:scriptTask id="count" name="计数"><bpmn:script>i = i + 1</bpmn:script></bpmn:scriptTask>\n'
        '<bpmn:exclusiveGateway id="gw" default="f4"/>\n<bpmn:endEvent id="e"/>\n'
        + _flows(
            ("s", "fill", ""),
            ("fill", "count", ""),
            ("count", "gw", ""),
            ("gw", "count", "i &lt; n"),
            ("gw", "e", ""),
        ),
    )


def fork_cycle(key: str = "hostile_fork_cycle") -> bytes:
    """A loop of script tasks through a parallel fork and join (SpiffWorkflow recursed for minutes)."""
    return process(
        key,
        start_with("i", "n") + '<bpmn:userTask id="fill" name="填写"/>\n'
        '<bpmn:scriptTask id="s1"><bpmn:script>i = i + 1</bpmn:script></bpmn:scriptTask>\n'
        '<bpmn:parallelGateway id="fork"/>\n'
        '<bpmn:scriptTask id="a"><bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>\n'
        '<bpmn:scriptTask id="b"><bpmn:script>y = 1</bpmn:script></bpmn:scriptTask>\n'
        '<bpmn:parallelGateway id="join"/>\n<bpmn:exclusiveGateway id="gw" default="f8"/>\n<bpmn:endEvent id="e"/>\n'
        + _flows(
            ("s", "fill", ""),
            ("fill", "s1", ""),
            ("s1", "fork", ""),
            ("fork", "a", ""),
            ("fork", "b", ""),
            ("a", "join", ""),
            ("b", "join", ""),
            ("join", "gw", ""),
            ("gw", "e", ""),
            ("gw", "s1", "i &lt; n"),
        ),
    )


def start_with(*names: str) -> str:
    """A start event declaring integer fields ``names`` as its form, so that a case can be started with
    them (start data goes through a declared form: engine.instances.startdata)."""
    fields = "".join(f'<camunda:formField id="{n}" label="{n}" type="long"/>' for n in names)
    return (
        f'<bpmn:startEvent id="s"><bpmn:extensionElements><camunda:formData>{fields}</camunda:formData>'
        "</bpmn:extensionElements></bpmn:startEvent>\n"
    )


START_WITH_X = start_with("x")  # the gateway's variable


def gateway_without_default(
    key: str = "hostile_gateway", kind: str = "exclusiveGateway", first: bool = False
) -> bytes:
    """fill → gw (no default; x == 1 → after, x == 2 → end) → after → end. ``first``: the gateway comes
    before ``fill`` (it fails at start)."""
    if first:
        return process(
            key,
            START_WITH_X + f'<bpmn:{kind} id="gw"/>\n<bpmn:userTask id="fill" name="填写"/>\n'
            '<bpmn:endEvent id="e"/>\n<bpmn:endEvent id="e2"/>\n'
            + _flows(("s", "gw", ""), ("gw", "fill", "x == 1"), ("gw", "e2", "x == 2"), ("fill", "e", "")),
        )
    return process(
        key,
        START_WITH_X + f'<bpmn:userTask id="fill" name="填写"/>\n<bpmn:{kind} id="gw"/>\n'
        '<bpmn:userTask id="after" name="之后"/>\n<bpmn:endEvent id="e"/>\n<bpmn:endEvent id="e2"/>\n'
        + _flows(
            ("s", "fill", ""),
            ("fill", "gw", ""),
            ("gw", "after", "x == 1"),
            ("gw", "e2", "x == 2"),
            ("after", "e", ""),
        ),
        user_tasks=("fill", "after"),
    )


def script_after_fill(script: str, key: str = "hostile_script") -> bytes:
    """fill → calc (script) → after → end."""
    return process(
        key,
        '<bpmn:startEvent id="s"/>\n<bpmn:userTask id="fill" name="填写"/>\n'
        f'<bpmn:scriptTask id="calc" name="计算"><bpmn:script>{script}</bpmn:script></bpmn:scriptTask>\n'
        '<bpmn:userTask id="after" name="之后"/>\n<bpmn:endEvent id="e"/>\n'
        + _flows(("s", "fill", ""), ("fill", "calc", ""), ("calc", "after", ""), ("after", "e", "")),
        user_tasks=("fill", "after"),
    )


def timer_after_fill(kind: str, text: str, key: str = "hostile_timer") -> bytes:
    """fill → wait (intermediate timer ``kind`` = ``text``) → after → end."""
    return process(
        key,
        '<bpmn:startEvent id="s"/>\n<bpmn:userTask id="fill" name="填写"/>\n'
        f'<bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition id="td"><bpmn:{kind}>{text}'
        f"</bpmn:{kind}></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>\n"
        '<bpmn:userTask id="after" name="之后"/>\n<bpmn:endEvent id="e"/>\n'
        + _flows(("s", "fill", ""), ("fill", "wait", ""), ("wait", "after", ""), ("after", "e", "")),
        user_tasks=("fill", "after"),
    )


def timer_start(cycle: str, org_units: str, key: str = "hostile_timer_start") -> bytes:
    """A timer-started procedure (``cycle``) for the units ``org_units``."""
    return process(
        key,
        '<bpmn:startEvent id="every"><bpmn:extensionElements><spiffworkflow:properties>'
        f'<spiffworkflow:property name="org_units" value="{org_units}"/></spiffworkflow:properties>'
        f'</bpmn:extensionElements><bpmn:timerEventDefinition id="td"><bpmn:timeCycle>{cycle}</bpmn:timeCycle>'
        "</bpmn:timerEventDefinition></bpmn:startEvent>\n"
        '<bpmn:userTask id="fill" name="填写"/>\n<bpmn:endEvent id="e"/>\n'
        + _flows(("every", "fill", ""), ("fill", "e", "")),
    )


def timer_then_script(script: str, key: str = "hostile_timer_script") -> bytes:
    """fill → wait (PT1H) → calc (script) → after → end: the scheduler runs the script."""
    return process(
        key,
        '<bpmn:startEvent id="s"/>\n<bpmn:userTask id="fill" name="填写"/>\n'
        '<bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition id="td"><bpmn:timeDuration>PT1H'
        "</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>\n"
        f'<bpmn:scriptTask id="calc" name="计算"><bpmn:script>{script}</bpmn:script></bpmn:scriptTask>\n'
        '<bpmn:userTask id="after" name="之后"/>\n<bpmn:endEvent id="e"/>\n'
        + _flows(
            ("s", "fill", ""),
            ("fill", "wait", ""),
            ("wait", "calc", ""),
            ("calc", "after", ""),
            ("after", "e", ""),
        ),
        user_tasks=("fill", "after"),
    )


def timer_start_then_script(script: str, org_units: str, key: str = "hostile_scheduled_script") -> bytes:
    """A daily timer-started procedure whose first step is a script."""
    return process(
        key,
        '<bpmn:startEvent id="every"><bpmn:extensionElements><spiffworkflow:properties>'
        f'<spiffworkflow:property name="org_units" value="{org_units}"/></spiffworkflow:properties>'
        '</bpmn:extensionElements><bpmn:timerEventDefinition id="td"><bpmn:timeCycle>R/P1D</bpmn:timeCycle>'
        "</bpmn:timerEventDefinition></bpmn:startEvent>\n"
        f'<bpmn:scriptTask id="calc" name="计算"><bpmn:script>{script}</bpmn:script></bpmn:scriptTask>\n'
        '<bpmn:userTask id="fill" name="填写"/>\n<bpmn:endEvent id="e"/>\n'
        + _flows(("every", "calc", ""), ("calc", "fill", ""), ("fill", "e", "")),
    )


# --- valid BPMN in other encodings -------------------------------------------------------------------


def encoded_bpmn(key: str, name: str, encoding: str, *, declare: bool = True) -> bytes:
    """A one-step BPMN whose names need ``encoding``; declared in the XML prolog unless told not to."""
    prolog = f'<?xml version="1.0" encoding="{encoding}"?>\n' if declare else ""
    text = (
        prolog
        + '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d_'
        + key
        + '" targetNamespace="http://assistflow.example/test">\n'
        f'  <bpmn:process id="{key}" name="{name}" isExecutable="true">\n'
        '    <bpmn:laneSet id="ls"><bpmn:lane id="l" name="street_officer">'
        "<bpmn:flowNodeRef>t</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>\n"
        '    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>\n'
        f'    <bpmn:userTask id="t" name="{name}"><bpmn:incoming>f1</bpmn:incoming>'
        "<bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>\n"
        '    <bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>\n'
        '    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="t"/>\n'
        '    <bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="e"/>\n'
        "  </bpmn:process>\n</bpmn:definitions>\n"
    )
    return text.encode(encoding)


ENCODED = [
    ("enc_latin1", "Prüfung der Anträge", "ISO-8859-1"),
    ("enc_gbk", "受理审核（国标编码）", "GBK"),
    ("enc_utf16", "受理审核（UTF-16）", "UTF-16"),
]


def multi_instance_after_fill(label: str, deadline: str, key: str = "hostile_multi_instance") -> bytes:
    """fill → calc (script: ``members``) → vote (one task per member, its label and deadline the
    expressions given) → end."""
    return process(
        key,
        '<bpmn:startEvent id="s"/>\n<bpmn:userTask id="fill" name="填写"/>\n'
        '<bpmn:scriptTask id="calc" name="计算"><bpmn:script>members = ["zhang", "li", "wang"]</bpmn:script>'
        "</bpmn:scriptTask>\n"
        '<bpmn:userTask id="vote" name="表决"><bpmn:extensionElements><spiffworkflow:properties>'
        f'<spiffworkflow:property name="instance_label" value="{label}"/>'
        f'<spiffworkflow:property name="deadline" value="{deadline}"/>'
        "</spiffworkflow:properties></bpmn:extensionElements>"
        '<bpmn:multiInstanceLoopCharacteristics isSequential="false">'
        "<bpmn:loopDataInputRef>members</bpmn:loopDataInputRef>"
        '<bpmn:inputDataItem id="member" name="member"/></bpmn:multiInstanceLoopCharacteristics>'
        "</bpmn:userTask>\n"
        '<bpmn:endEvent id="e"/>\n'
        + _flows(("s", "fill", ""), ("fill", "calc", ""), ("calc", "vote", ""), ("vote", "e", "")),
        user_tasks=("fill", "vote"),
    )


def _after(deadline: str) -> str:
    """The user task ``after`` whose ``deadline`` is the expression given."""
    return (
        '<bpmn:userTask id="after" name="之后"><bpmn:extensionElements><spiffworkflow:properties>'
        f'<spiffworkflow:property name="deadline" value="{deadline}"/></spiffworkflow:properties>'
        "</bpmn:extensionElements></bpmn:userTask>\n"
    )


def _event(kind: str, name: str) -> tuple[str, str]:
    """The declaration of message or signal ``name`` and an event definition referring to it."""
    if kind == "message":
        return f'<bpmn:message id="M" name="{name}"/>\n', '<bpmn:messageEventDefinition messageRef="M"/>'
    return f'<bpmn:signal id="M" name="{name}"/>\n', '<bpmn:signalEventDefinition signalRef="M"/>'


_KEYED = (  # a message's correlation key: an expression (evaluated on the case's data)
    '<bpmn:extensionElements><spiffworkflow:properties><spiffworkflow:property name="correlation" '
    "value=\"'REF-' + 'ONE'\"/></spiffworkflow:properties></bpmn:extensionElements>"
)


def thrower(
    kind: str, name: str, key: str = "probe_thrower", first: bool = False, timer: bool = False
) -> bytes:
    """fill → tell (throws message ``name`` keyed 'REF-ONE', or signal ``name``) → end; ``first``: tell
    comes before fill (the case throws as it starts); ``timer``: a wait of PT1H comes before tell (the
    scheduler throws)."""
    top, definition = _event(kind, name)
    keyed = _KEYED if kind == "message" else ""
    order = ("s", "tell", "fill", "e") if first else ("s", "fill", "tell", "e")
    wait = ""
    if timer:
        order = ("s", "fill", "wait", "tell", "e")
        wait = (
            '<bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition id="td"><bpmn:timeDuration>PT1H'
            "</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>\n"
        )
    return process(
        key,
        '<bpmn:startEvent id="s"/>\n<bpmn:userTask id="fill" name="填写"/>\n'
        + wait
        + f'<bpmn:intermediateThrowEvent id="tell" name="通知">{keyed}{definition}</bpmn:intermediateThrowEvent>\n'
        + '<bpmn:endEvent id="e"/>\n'
        + _flows(*((a, b, "") for a, b in zip(order, order[1:], strict=False))),
        top=top,
    )


def catcher(kind: str, name: str, script: str, deadline: str, key: str = "probe_catcher") -> bytes:
    """fork → (wait: catches ``name``, a message keyed 'REF-ONE' → calc (``script``) → after (its
    ``deadline`` an expression)) and (note) → join → end: a case waiting for the message, with another
    open task of its own."""
    top, definition = _event(kind, name)
    keyed = _KEYED if kind == "message" else ""
    return process(
        key,
        '<bpmn:startEvent id="s"/>\n<bpmn:parallelGateway id="fork"/>\n'
        f'<bpmn:intermediateCatchEvent id="wait" name="等待">{keyed}{definition}</bpmn:intermediateCatchEvent>\n'
        f'<bpmn:scriptTask id="calc" name="计算"><bpmn:script>{script}</bpmn:script></bpmn:scriptTask>\n'
        + _after(deadline)
        + '<bpmn:userTask id="note" name="备注"/>\n<bpmn:parallelGateway id="join"/>\n<bpmn:endEvent id="e"/>\n'
        + _flows(
            ("s", "fork", ""),
            ("fork", "wait", ""),
            ("wait", "calc", ""),
            ("calc", "after", ""),
            ("after", "join", ""),
            ("fork", "note", ""),
            ("note", "join", ""),
            ("join", "e", ""),
        ),
        user_tasks=("after", "note"),
        top=top,
    )


def message_started(name: str, script: str, deadline: str, key: str = "probe_started") -> bytes:
    """A message start event catching ``name`` → calc (``script``) → after (its ``deadline`` an
    expression) → end: a procedure a message starts."""
    top, definition = _event("message", name)
    return process(
        key,
        f'<bpmn:startEvent id="s">{definition}</bpmn:startEvent>\n'
        f'<bpmn:scriptTask id="calc" name="计算"><bpmn:script>{script}</bpmn:script></bpmn:scriptTask>\n'
        + _after(deadline)
        + '<bpmn:endEvent id="e"/>\n'
        + _flows(("s", "calc", ""), ("calc", "after", ""), ("after", "e", "")),
        user_tasks=("after",),
        top=top,
    )


def catcher_after_fill(name: str, script: str, deadline: str, key: str = "probe_late_catcher") -> bytes:
    """fill → wait (catches message ``name`` keyed 'REF-ONE') → calc (``script``) → after (its
    ``deadline`` an expression) → end: a case that starts waiting when its first task is completed."""
    top, definition = _event("message", name)
    wait = f'<bpmn:intermediateCatchEvent id="wait" name="等待">{_KEYED}{definition}</bpmn:intermediateCatchEvent>\n'
    return _fill_then_calc(key, wait, ("wait",), script, deadline, top)


# --- chains of deliveries that used to be evaluated under SQLite's write lock (issue 18 item 10) -------
# Each names its messages itself (two messages in one process need two declarations).


def _messages(*names: str) -> str:
    return "".join(f'<bpmn:message id="M_{n}" name="{n}"/>\n' for n in names)


def _keyed(name: str, correlation: str = "'REF-' + 'ONE'") -> str:
    """A message event's correlation (an expression) and its definition."""
    return (
        '<bpmn:extensionElements><spiffworkflow:properties><spiffworkflow:property name="correlation" '
        f'value="{correlation}"/></spiffworkflow:properties></bpmn:extensionElements>'
        f'<bpmn:messageEventDefinition messageRef="M_{name}"/>'
    )


def _chain(*nodes: str) -> str:
    return _flows(*((a, b, "") for a, b in zip(nodes, nodes[1:], strict=False)))


def _calc(script: str, bpmn_id: str = "calc") -> str:
    return (
        f'<bpmn:scriptTask id="{bpmn_id}" name="计算"><bpmn:script>{script}</bpmn:script></bpmn:scriptTask>\n'
    )


def _fill_then_calc(
    key: str, middle: str, ids: tuple[str, ...], script: str, deadline: str, top: str
) -> bytes:
    """fill → the events ``middle`` (their ids ``ids``, in order) → calc (``script``) → after (its
    ``deadline`` an expression) → end."""
    return process(
        key,
        '<bpmn:startEvent id="s"/>\n<bpmn:userTask id="fill" name="填写"/>\n'
        + middle
        + _calc(script)
        + _after(deadline)
        + '<bpmn:endEvent id="e"/>\n'
        + _chain("s", "fill", *ids, "calc", "after", "e"),
        user_tasks=("fill", "after"),
        top=top,
    )


def asker(ask: str, reply: str, script: str, deadline: str, key: str = "probe_asker") -> bytes:
    """fill → ask (throws ``ask``) → hear (catches ``reply``) → calc (``script``) → after (``deadline``)
    → end: a case that, completing fill, waits for the answer of the case it asked."""
    middle = (
        f'<bpmn:intermediateThrowEvent id="ask" name="询问">{_keyed(ask)}</bpmn:intermediateThrowEvent>\n'
        f'<bpmn:intermediateCatchEvent id="hear" name="等待答复">{_keyed(reply)}</bpmn:intermediateCatchEvent>\n'
    )
    return _fill_then_calc(key, middle, ("ask", "hear"), script, deadline, _messages(ask, reply))


def answerer(ask: str, reply: str, script: str, key: str = "probe_answerer") -> bytes:
    """wait (catches ``ask``) → calc (``script``) → answer (throws ``reply``) → note → end: a case that
    answers whoever asks."""
    return process(
        key,
        '<bpmn:startEvent id="s"/>\n'
        f'<bpmn:intermediateCatchEvent id="wait" name="等待">{_keyed(ask)}</bpmn:intermediateCatchEvent>\n'
        + _calc(script)
        + f'<bpmn:intermediateThrowEvent id="answer" name="答复">{_keyed(reply)}</bpmn:intermediateThrowEvent>\n'
        + '<bpmn:userTask id="note" name="备注"/>\n<bpmn:endEvent id="e"/>\n'
        + _chain("s", "wait", "calc", "answer", "note", "e"),
        user_tasks=("note",),
        top=_messages(ask, reply),
    )


def started_then_throws(start: str, tell: str, script: str, key: str = "probe_relay") -> bytes:
    """A message start (``start``) → calc (``script``) → tell (throws ``tell``) → note → end: a case a
    message starts, which throws as it starts."""
    return process(
        key,
        f'<bpmn:startEvent id="s"><bpmn:messageEventDefinition messageRef="M_{start}"/></bpmn:startEvent>\n'
        + _calc(script)
        + f'<bpmn:intermediateThrowEvent id="tell" name="通知">{_keyed(tell)}</bpmn:intermediateThrowEvent>\n'
        + '<bpmn:userTask id="note" name="备注"/>\n<bpmn:endEvent id="e"/>\n'
        + _chain("s", "calc", "tell", "note", "e"),
        user_tasks=("note",),
        top=_messages(start, tell),
    )


def timer_then_catch(
    name: str, correlation: str, script: str, deadline: str, key: str = "probe_timed"
) -> bytes:
    """fill → wait (PT1H) → hear (catches ``name`` keyed by the expression ``correlation``) → calc
    (``script``) → after (``deadline``) → end: the scheduler's wake-up starts the wait for the message."""
    middle = (
        '<bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition id="td"><bpmn:timeDuration>PT1H'
        "</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>\n"
        f'<bpmn:intermediateCatchEvent id="hear" name="等待">{_keyed(name, correlation)}</bpmn:intermediateCatchEvent>\n'
    )
    return _fill_then_calc(key, middle, ("wait", "hear"), script, deadline, _messages(name))


def check_then_throw(name: str, check: str, key: str = "probe_checked_thrower") -> bytes:
    """fill → check (script ``check``, failing until the data is mended) → tell (throws ``name``) → end."""
    return process(
        key,
        '<bpmn:startEvent id="s"/>\n<bpmn:userTask id="fill" name="填写"/>\n'
        + _calc(check, "check")
        + f'<bpmn:intermediateThrowEvent id="tell" name="通知">{_keyed(name)}</bpmn:intermediateThrowEvent>\n'
        + '<bpmn:endEvent id="e"/>\n'
        + _chain("s", "fill", "check", "tell", "e"),
        top=_messages(name),
    )


def scripts_after_fill(count: int, script: str, deadline: str, key: str = "probe_scripts") -> bytes:
    """fill → calc0 … calc{count-1} (each ``script`` with ``{i}`` its number) → after (``deadline``) →
    end: many evaluations in one step."""
    calcs = [f"calc{i}" for i in range(count)]
    return process(
        key,
        '<bpmn:startEvent id="s"/>\n<bpmn:userTask id="fill" name="填写"/>\n'
        + "".join(_calc(script.format(i=i), c) for i, c in enumerate(calcs))
        + _after(deadline)
        + '<bpmn:endEvent id="e"/>\n'
        + _chain("s", "fill", *calcs, "after", "e"),
        user_tasks=("fill", "after"),
    )


def crossing(tell: str, hear: str, key: str, timed: bool = False) -> bytes:
    """fork → (fill → tell: throws message ``tell``) and (wait: catches message ``hear`` → after) → join →
    end, both keyed 'REF-ONE': two procedures built with the names crossed each wait for the other, and
    their two cases completing ``fill`` at once each reach for the other's row while holding its own.
    ``timed``: ``fill`` is a wait of PT1H instead (the scheduler throws)."""
    top = f'<bpmn:message id="T" name="{tell}"/>\n<bpmn:message id="H" name="{hear}"/>\n'
    first = '<bpmn:userTask id="fill" name="填写"/>\n'
    if timed:
        first = (
            '<bpmn:intermediateCatchEvent id="fill"><bpmn:timerEventDefinition id="td"><bpmn:timeDuration>'
            "PT1H</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>\n"
        )
    return process(
        key,
        '<bpmn:startEvent id="s"/>\n<bpmn:parallelGateway id="fork"/>\n'
        + first
        + f'<bpmn:intermediateThrowEvent id="tell" name="通知">{_KEYED}<bpmn:messageEventDefinition messageRef="T"/>'
        "</bpmn:intermediateThrowEvent>\n"
        f'<bpmn:intermediateCatchEvent id="wait" name="等待">{_KEYED}<bpmn:messageEventDefinition messageRef="H"/>'
        "</bpmn:intermediateCatchEvent>\n"
        '<bpmn:userTask id="after" name="之后"/>\n<bpmn:parallelGateway id="join"/>\n<bpmn:endEvent id="e"/>\n'
        + _flows(
            ("s", "fork", ""),
            ("fork", "fill", ""),
            ("fill", "tell", ""),
            ("tell", "join", ""),
            ("fork", "wait", ""),
            ("wait", "after", ""),
            ("after", "join", ""),
            ("join", "e", ""),
        ),
        user_tasks=("after",) if timed else ("fill", "after"),
        top=top,
    )
