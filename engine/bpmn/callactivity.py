"""Call activities: a step that runs another procedure (a "democratic review" sub-procedure shared by
several procedures) inside the case.

* ``calledElement`` names a process of the same file or the key of a deployed procedure. A deployed one
  is read at the calling version's deploy — the version current then (an id ordering: see
  ``engine.definitions.service``) — so a running case keeps the sub-procedure it started with; deploying
  a new version of the sub-procedure reaches callers when they are deployed again.
* Data mapping is the called process's ``ioSpecification`` (BPMN's own): its ``dataInput``s are the only
  case values passed in (a missing one stops the step with an incident), its ``dataOutput``s the only
  values handed back. A called process that declares none receives and returns the whole case data:
  deployable, with a warning. (``camunda:in`` / ``camunda:out`` are not read: warned as ignored.)
* The sub-procedure's user tasks are tasks of the calling case (its inbox rows, its case page, its
  history), under the sub-procedure's roles and forms.
"""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from engine.bpmn.xmlsafe import BPMN_NS, WARNING, BpmnInvalid, Problem, parse_xml

MAX_DEPTH = 5  # sub-procedures calling sub-procedures
Fetch = Callable[[str], bytes | str | None]


def _q(tag: str) -> str:
    return f"{{{BPMN_NS}}}{tag}"


def _processes(root: etree._Element) -> dict[str, etree._Element]:
    return {str(p.get("id")): p for p in root.findall(_q("process")) if p.get("id")}


def _reachable(processes: dict[str, etree._Element], start: str) -> list[etree._Element]:
    order, todo, seen = [], [start], set()
    while todo:
        pid = todo.pop(0)
        if pid in seen or pid not in processes:
            continue
        seen.add(pid)
        order.append(processes[pid])
        todo.extend(c.get("calledElement") or "" for c in processes[pid].iter(_q("callActivity")))
    return order


def resolve(
    root: etree._Element, key: str, fetch: Fetch | None
) -> tuple[dict[str, etree._Element], list[Problem]]:
    """The files of the deployed procedures the processes of ``key`` call (process id -> that file's
    root), transitively, and a problem for each called process found nowhere."""
    roots: dict[str, etree._Element] = {}
    problems: list[Problem] = []
    todo: list[tuple[etree._Element, str, int]] = [(root, key, 0)]
    while todo:
        file_root, start, depth = todo.pop(0)
        known = _processes(file_root)
        for process in _reachable(known, start):
            for call in process.iter(_q("callActivity")):
                target = (call.get("calledElement") or "").strip()
                if not target or target in known or target in roots or target in _processes(root):
                    continue
                text = fetch(target) if fetch is not None and depth < MAX_DEPTH else None
                called = None
                if text is not None:
                    try:
                        called = parse_xml(text.encode("utf-8") if isinstance(text, str) else text).getroot()
                    except BpmnInvalid:
                        called = None
                if called is None or target not in _processes(called):
                    if file_root is root:  # a deployed procedure's own calls were checked at its deploy
                        problems.append(
                            Problem(
                                f"调用的流程“{target}”既不在本文件中，也没有部署 / the called process "
                                f"{target!r} is neither in this file nor a deployed procedure",
                                call.get("id"),
                                call.sourceline,
                            )
                        )
                    continue
                roots[target] = called
                todo.append((called, target, depth + 1))
    return roots, problems


def mapping_warnings(root: etree._Element, key: str, roots: dict[str, etree._Element]) -> list[Problem]:
    """A warning for each call activity whose called process declares no data mapping."""
    own = _processes(root)
    found = []
    for process in _reachable(own, key):
        for call in process.iter(_q("callActivity")):
            target = (call.get("calledElement") or "").strip()
            called = own.get(target)
            if called is None and target in roots:
                called = _processes(roots[target]).get(target)
            if called is None:
                continue
            io = called.find(_q("ioSpecification"))
            declared = io is not None and (
                io.find(_q("dataInput")) is not None or io.find(_q("dataOutput")) is not None
            )
            if not declared:
                found.append(
                    Problem(
                        f"被调用的流程“{target}”没有声明数据映射（ioSpecification 的 dataInput / dataOutput）："
                        f"整个案件数据都会传入并带回 / the called process {target!r} declares no data "
                        "mapping (ioSpecification dataInput / dataOutput): the whole case data goes in "
                        "and comes back",
                        call.get("id"),
                        call.sourceline,
                        WARNING,
                    )
                )
    return found
