"""Deploy-time validation of BPMN, without a database."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.bpmn.parsing import MAX_BPMN_BYTES, BpmnInvalid, compile_bpmn
from engine.users.models import Role
from tests.helpers import CONFORMANCE, CONFORMANCE_EXPECTED, conformance_files, conformance_id

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "bpmn"
ROLES = {r.value for r in Role}


def compile_file(path: Path, **kwargs):
    return compile_bpmn(path.read_bytes(), known_roles=ROLES, **kwargs)


def test_demo_process_compiles_with_roles_and_forms():
    compiled = compile_file(ROOT / "processes" / "demo_assistance.bpmn", form_exists=lambda key: True)
    assert compiled.key == "demo_assistance"
    assert compiled.name == "帮扶演示流程"
    assert {k: (m.role, m.form_key) for k, m in compiled.tasks.items()} == {
        "application": ("advisor", "demo_application"),
        "review": ("street_officer", "demo_review"),
        "visit": ("advisor", "demo_visit"),
        "disbursement": ("finance", "demo_disbursement"),
    }


def test_camunda_attributes_are_read():
    compiled = compile_file(FIXTURES / "timers_unquoted.bpmn")
    meta = compiled.tasks["investigate"]
    assert (meta.role, meta.form_key, meta.name) == ("street_officer", "demo_visit", "上门调查")


@pytest.mark.parametrize(
    ("name", "element", "fragment"),
    [
        ("unsafe_condition.bpmn", "gw", "__import__"),
        ("attribute_escape.bpmn", "gw", "__class__"),
        ("unsafe_script.bpmn", "count", "only assignments"),
        ("no_role.bpmn", "confirm", "no known role"),
        ("missing_form.bpmn", "confirm", "no_such_form"),
        ("not_executable.bpmn", None, "no executable process"),
        ("bad_deadline.bpmn", "confirm", "deadline"),
    ],
)
def test_refusals_name_the_element(name, element, fragment):
    with pytest.raises(BpmnInvalid) as info:
        compile_file(FIXTURES / name, form_exists=lambda key: key != "no_such_form")
    problems = info.value.problems
    assert any(fragment in p.message for p in problems), problems
    if element:
        assert any(p.element_id == element for p in problems), problems


@pytest.mark.parametrize("name", ["xxe.bpmn", "billion_laughs.bpmn"])
def test_hostile_xml_refused(name):
    with pytest.raises(BpmnInvalid, match="DOCTYPE"):
        compile_file(FIXTURES / name)


def test_oversized_refused():
    data = b"<x>" + b" " * (MAX_BPMN_BYTES + 1) + b"</x>"
    with pytest.raises(BpmnInvalid, match="larger"):
        compile_bpmn(data, known_roles=ROLES)


@pytest.mark.parametrize(
    "data", [b"", b"   ", b"\x89PNG\r\n", b"<a><b></a>", "<?xml version='1.0' encoding='UTF-8'?><x/>"]
)
def test_garbage_refused(data):
    with pytest.raises(BpmnInvalid):
        compile_bpmn(data, known_roles=ROLES)


@pytest.mark.parametrize("path", conformance_files(), ids=conformance_id)
def test_conformance_files_refused_with_the_expected_reason(path):
    """None of the third-party files is executable here: each is refused, naming why (and where)."""
    fragment, element = CONFORMANCE_EXPECTED[conformance_id(path)]
    with pytest.raises(BpmnInvalid) as refused:
        compile_file(path)
    problems = refused.value.problems
    assert problems and all(p.message for p in problems)
    assert any(fragment in p.message and p.element_id == element for p in problems), problems


def test_conformance_suite_present():
    files = conformance_files()
    assert len(files) == 33, "tests/fixtures/conformance: 12 malformed and 21 MIWG reference files"
    assert {path.parent.name for path in files} == {"malformed", "miwg-reference"}


def test_malformed_never_accepted():
    for path in (CONFORMANCE / "malformed").iterdir():
        if path.suffix == ".md":
            continue
        with pytest.raises(BpmnInvalid):
            compile_file(path)


@pytest.mark.parametrize("path", sorted((ROOT / "processes").glob("*.bpmn")), ids=lambda p: p.name)
def test_every_shipped_step_has_an_english_name(path):
    """English pages name a step by its ``nameEn`` property, else its form's English title: every step
    has one of them, and steps of one procedure that share a form under different names carry their own
    ``nameEn`` (else 三级响应 and 一级响应 would both read "Response")."""
    import json

    compiled = compile_file(path)
    by_form: dict[str, set[str]] = {}
    for meta in compiled.tasks.values():
        english = meta.properties.get("nameEn")
        if english is None:
            assert meta.form_key, (meta.bpmn_id, "no nameEn and no form")
            title = json.loads((ROOT / "forms" / f"{meta.form_key}.json").read_text("utf-8"))["title"]
            assert title.get("en"), (meta.bpmn_id, meta.form_key)
            by_form.setdefault(meta.form_key, set()).add(meta.name)
        else:
            assert english.isascii() and english.strip(), (meta.bpmn_id, english)
    shared = {key: names for key, names in by_form.items() if len(names) > 1}
    assert shared == {}, shared


@pytest.mark.parametrize("path", sorted((ROOT / "processes").glob("*.bpmn")), ids=lambda p: p.name)
def test_every_shipped_procedure_has_an_english_name(path):
    """English pages name a procedure by the English half of its pool's "中文 English" name."""
    import re

    pools = re.findall(r'<bpmn:participant\b[^>]*?\bname="([^"]*)"', path.read_text("utf-8"))
    assert len(pools) == 1
    # the page's rule (api.web.display.bilingual): Chinese, a space, then printable ASCII to the end
    halves = re.match(r"^(.*[^\x00-\x7f][^ -~]*)\s+([ -~]+)$", pools[0])
    assert halves and halves.group(2).strip()[:1].isupper(), pools[0]
