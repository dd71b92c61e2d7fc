"""What SpiffWorkflow's parser says about a file, in the user's words, and what lint still checks when
the parser gave up.

The parser stops at its first problem and words it in English (with object addresses and Python
reprs). :func:`translate` turns each known message into our own "中文 / English" text naming the
element; an unknown one becomes a generic "this element cannot be read" (the library's text is not
passed on). When the parser failed, :func:`xml_user_tasks` and :func:`xml_expressions` read the user
tasks, conditions and scripts from the XML so that their problems are still reported in the same
answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from engine.bpmn.xmlsafe import BPMN_NS, Problem


def _q(tag: str) -> str:
    return f"{{{BPMN_NS}}}{tag}"


# (pattern on the library's message, Chinese, English); the groups fill {0}, {1} of both texts.
_KNOWN: list[tuple[re.Pattern[str], str, str]] = [
    (
        re.compile(r"Data Store with name (.+?) has no implementation", re.S),
        "数据存储“{0}”没有实现（本系统不支持外部数据存储）",
        "data store {0!r} has no implementation (external data stores are not supported)",
    ),
    (re.compile(r"No start event found"), "没有开始事件", "no start event"),
    (
        re.compile(r"Multiple outgoing flows are not supported for tasks of type"),
        "此类任务不支持多条流出的顺序流（请用网关分支）",
        "several outgoing sequence flows are not supported on this kind of task (branch with a gateway)",
    ),
    (
        re.compile(r"Exactly one start event is required in a SubWorkflow Task; found (\d+)"),
        "子流程必须恰好有一个开始事件（现有 {0} 个）",
        "a subprocess needs exactly one start event (found {0})",
    ),
    (
        re.compile(r"A SubWorkflow Must contain an End event"),
        "子流程缺少结束事件",
        "a subprocess has no end event",
    ),
    (
        re.compile(r"Cannot resolve data(Input|Output)Association"),
        "无法解析数据关联（引用的数据对象不存在）",
        "cannot resolve a data {0} association (the data object it names does not exist)",
    ),
    (
        re.compile(r"A Service Task must have an operator"),
        "服务任务没有指定操作（implementation 或 operator）",
        "the service task names no operation (implementation or operator)",
    ),
    (
        re.compile(r"A multiinstance task must specify a cardinality or a loop input"),
        "多实例任务必须指定实例数量或输入集合",
        "a multi-instance task must give a cardinality or an input collection",
    ),
    (
        re.compile(r"Non-default exclusive outgoing sequence flow without condition"),
        "排他网关的非默认出口没有条件",
        "an exclusive gateway's outgoing flow that is not the default has no condition",
    ),
    (
        re.compile(r"Invalid Script Task.\s+No Script Provided"),
        "脚本任务没有脚本",
        "the script task has no script",
    ),
    (
        re.compile(
            r"(Message|Signal|Error|Escalation|Correlation|Data Store) (?:identifier|name) is missing"
        ),
        "缺少标识（{0}）",
        "a {0} identifier is missing",
    ),
    (
        re.compile(r"Could not find messageRef"),
        "消息事件引用的消息不存在",
        "the message event names a message that does not exist",
    ),
    (
        re.compile(r"No \"calledElement\" attribute for Call Activity|calledElement"),
        "调用活动没有指定被调用的流程（calledElement）",
        "the call activity names no process to call (calledElement)",
    ),
    (
        re.compile(r"Conditional event definition with missing condition"),
        "条件事件缺少条件",
        "a conditional event has no condition",
    ),
    (
        re.compile(r"Ad hoc subprocesses may not contain start or end events"),
        "临时子流程不能包含开始或结束事件",
        "an ad-hoc subprocess may not contain start or end events",
    ),
    (
        re.compile(r"Time Specification Error|Unknown Time Specification"),
        "计时器没有可识别的时间设置",
        "the timer has no readable time setting",
    ),
    (
        re.compile(r"There is no support implemented for this task type"),
        "不支持的任务类型",
        "this task type is not supported",
    ),
    (
        re.compile(r"The process '?(.+?)'? was not found|No such process|Unable to find a process"),
        "被调用的流程“{0}”不在本文件中",
        "the called process {0!r} is not in this file",
    ),
]


def translate(err: Exception, root: etree._Element) -> Problem:
    """One parser exception as our problem: translated text, the element it names (id) and its line."""
    text = str(err)
    node_id = getattr(err, "id", None) or None
    line = getattr(err, "line_number", None) or None
    for pattern, zh, en in _KNOWN:
        match = pattern.search(text)
        if match is None:
            continue
        groups = [" ".join(g.split()) if g else "" for g in match.groups()]
        message = f"{zh.format(*groups)} / {en.format(*groups)}"
        if node_id is None and groups and "Data Store" in pattern.pattern:
            node_id = _id_by_name(root, "dataStore", groups[0])
        break
    else:
        message = "BPMN 解析失败：此元素无法读取 / cannot parse BPMN: this element cannot be read"
    return Problem(message, node_id, line if isinstance(line, int) else None)


def _id_by_name(root: etree._Element, tag: str, name: str) -> str | None:
    for el in root.iter(_q(tag), _q(f"{tag}Reference")):
        if " ".join((el.get("name") or "").split()) == name and el.get("id"):
            return str(el.get("id"))
    return None


@dataclass
class XmlTaskSpec:
    """The parts of a user task's spec lint reads (bpmn_id, name, lane, extensions), from the XML alone:
    used when the parser refused the file, so the task's own problems are still reported."""

    bpmn_id: str
    bpmn_name: str | None
    lane: str | None
    extensions: dict[str, Any] = field(default_factory=dict)


def _lanes(process: etree._Element) -> dict[str, str]:
    lanes: dict[str, str] = {}
    for lane in process.iter(_q("lane")):
        for ref in lane.iterfind(_q("flowNodeRef")):
            if ref.text and lane.get("name"):
                lanes[ref.text.strip()] = str(lane.get("name"))
    return lanes


def xml_user_tasks(processes: list[etree._Element]) -> list[tuple[etree._Element, XmlTaskSpec]]:
    """Every user task of ``processes`` (subprocesses included) with a spec read from the XML."""
    found = []
    for process in processes:
        lanes = _lanes(process)
        for el in process.iter(_q("userTask")):
            bpmn_id = el.get("id")
            if bpmn_id:
                found.append((el, XmlTaskSpec(bpmn_id, el.get("name"), lanes.get(bpmn_id))))
    return found


def xml_expressions(processes: list[etree._Element]) -> list[tuple[etree._Element, str, str]]:
    """(element, kind, text) of every condition and script of ``processes``: the sequence flow's
    condition is reported on its source gateway, as the parsed spec would."""
    found: list[tuple[etree._Element, str, str]] = []
    for process in processes:
        ids = {el.get("id"): el for el in process.iter() if isinstance(el.tag, str) and el.get("id")}
        for flow in process.iter(_q("sequenceFlow")):
            condition = flow.find(_q("conditionExpression"))
            if condition is not None and (condition.text or "").strip():
                owner = ids.get(flow.get("sourceRef"), flow)
                found.append((owner, "condition", (condition.text or "").strip()))
        for task in process.iter(_q("scriptTask")):
            script = task.find(_q("script"))
            if script is not None and (script.text or "").strip():
                found.append((task, "script", script.text or ""))
    return found
