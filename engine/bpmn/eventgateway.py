"""Event-based gateways: each outgoing flow must lead to what can be waited for — an intermediate catch
event (timer; message, signal or conditional where those events are supported) or a receive task. A
gateway that leads anywhere else cannot choose "whichever comes first": refused, naming the gateway and
the element it leads to (SpiffWorkflow's parser would only say it cannot read the gateway)."""

from __future__ import annotations

from lxml import etree

from engine.bpmn import lint
from engine.bpmn.xmlsafe import BPMN_NS, Problem

_WAITABLE = frozenset({"intermediateCatchEvent", "receiveTask"})


def problems(root: etree._Element, key: str) -> list[Problem]:
    found = []
    for process in lint.executed_processes(root, key):
        nodes = {el.get("id"): el for el in process.iter() if isinstance(el.tag, str) and el.get("id")}
        for gateway in process.iter(f"{{{BPMN_NS}}}eventBasedGateway"):
            for flow in process.iter(f"{{{BPMN_NS}}}sequenceFlow"):
                if flow.get("sourceRef") != gateway.get("id"):
                    continue
                target = nodes.get(flow.get("targetRef"))
                if target is None or lint.local(target) in _WAITABLE:
                    continue
                found.append(
                    Problem(
                        f"事件网关只能通向中间捕获事件或接收任务，不能通向“{target.get('name') or target.get('id')}”"
                        f"（{lint.local(target)}）/ an event-based gateway may only lead to intermediate catch "
                        f"events or receive tasks, not to {lint.local(target)} {target.get('id')!r}",
                        gateway.get("id"),
                        gateway.sourceline,
                    )
                )
    return found
