"""The linter reports every problem of a file in one answer, each with its element's id, name and line,
in Chinese first with English, without the parser's own English or a Python ``None``."""

from __future__ import annotations

import re

import pytest

from engine.bpmn.parsing import check_bpmn
from engine.definitions.service import is_draft, lint_all
from engine.users.models import Role
from tests.helpers import (
    CONFORMANCE,
    CONFORMANCE_EXPECTED,
    MIWG_ALSO_EXPECTED,
    conformance_files,
    conformance_id,
)

ROLES = {r.value for r in Role}
_CJK = re.compile(r"[\u4e00-\u9fff]")
# what the parser says in its own words; none of it may reach the user
_LIBRARY_WORDS = (
    "is not executable",
    "Multiple outgoing",
    "<Element",
    " at 0x",
    "ValidationException",
    "None",
)


@pytest.mark.parametrize("path", conformance_files(), ids=conformance_id)
def test_every_problem_is_translated_and_located(path):
    problems = lint_all(path.read_bytes(), path.name)
    assert problems
    for p in problems:
        zh, en = p.message_zh, p.message_en
        assert _CJK.search(zh) and en != zh and not _CJK.search(en[:12]), p.message  # Chinese, then English
        assert p.message.startswith(zh) and p.message.endswith(en)
        assert not any(word in p.message for word in _LIBRARY_WORDS), p.message
        if p.element_id is not None:
            assert p.line, p  # an element named is an element located


@pytest.mark.parametrize("name", sorted(MIWG_ALSO_EXPECTED))
def test_miwg_files_report_all_their_problems_in_one_answer(name):
    problems = lint_all((CONFORMANCE / name).read_bytes(), name)
    fragment, element = CONFORMANCE_EXPECTED[name]
    assert any(fragment in p.message and p.element_id == element for p in problems), problems
    for fragment, element, element_name in MIWG_ALSO_EXPECTED[name]:
        assert any(
            fragment in p.message and p.element_id == element and p.name == element_name for p in problems
        ), (fragment, element, problems)


def test_a_not_executable_process_does_not_hide_the_rest():
    # C.8.0: the first blocking problem used to be "no executable process", and nothing else was said
    problems = lint_all((CONFORMANCE / "miwg-reference/C.8.0.bpmn").read_bytes())
    kinds = {p.message_en.split(":")[0] for p in problems}
    assert any(k.startswith("no executable process") for k in kinds)
    assert {
        "unsupported element",
        "user task has no known role (no lane, no 'role' property or candidate group)",
    } & kinds
    assert len(problems) >= 5
    errors = [p.line or 0 for p in problems if p.severity == "error"]
    warnings = [p.line or 0 for p in problems if p.severity == "warning"]
    assert problems[: len(errors)] == [p for p in problems if p.severity == "error"]  # errors first
    assert errors == sorted(errors) and warnings == sorted(warnings)  # each in document order


def test_names_are_given_where_the_element_has_one():
    problems = lint_all((CONFORMANCE / "miwg-reference/C.9.2.bpmn").read_bytes())
    by_id = {p.element_id: p.name for p in problems}
    assert by_id["SendTask_NotifyCustomerDelay"] == "Notify customer about delay"
    assert by_id["CallActivity_RequestDocument"] == "Document Request"
    assert "name" in problems[0].as_dict() and "message_zh" in problems[0].as_dict()


def test_vendor_extension_ids_are_not_bpmn_duplicates():
    # C.8.0 repeats the process id on an ADONIS extension element: not a BPMN duplicate
    problems = lint_all((CONFORMANCE / "miwg-reference/C.8.0.bpmn").read_bytes())
    assert not [p for p in problems if "duplicate id" in p.message]
    # while a BPMN element repeating an id is one
    dup = lint_all((CONFORMANCE / "malformed/duplicate-ids.bpmn").read_bytes())
    assert any("duplicate id 'test'" in p.message for p in dup)


VENDOR_DUP = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:acme="http://acme.example/ext" id="d" targetNamespace="t">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:extensionElements><acme:meta id="start"/><acme:meta id="end"/></bpmn:extensionElements>
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f" sourceRef="start" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>"""


def test_ids_repeated_by_an_unknown_vendor_deploy():
    compiled, problems = check_bpmn(VENDOR_DUP, known_roles=ROLES)
    assert problems == [] and compiled is not None and compiled.key == "p"
    twice = VENDOR_DUP.replace('<bpmn:endEvent id="end"/>', '<bpmn:endEvent id="end"/><bpmn:task id="end"/>')
    _compiled, problems = check_bpmn(twice, known_roles=ROLES)
    assert any(p.element_id == "end" and "duplicate id" in p.message for p in problems)


def test_drafts_are_the_readable_files_whose_process_is_not_executable():
    assert is_draft((CONFORMANCE / "miwg-reference/A.1.0.bpmn").read_bytes())
    assert not is_draft((CONFORMANCE / "miwg-reference/C.9.1.bpmn").read_bytes())  # executable, refused
    assert not is_draft((CONFORMANCE / "malformed/no-xml.txt").read_bytes())
    assert not is_draft(VENDOR_DUP)
