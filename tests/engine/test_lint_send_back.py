"""Lint of the ``send_back_to`` and ``outputs`` properties of user tasks."""

from __future__ import annotations

from pathlib import Path

from engine.bpmn.parsing import compile_bpmn, declared_outputs, send_back_targets
from engine.definitions.service import lint
from engine.users.models import Role

ROOT = Path(__file__).resolve().parents[2]
CA = (ROOT / "processes" / "comprehensive_assistance.bpmn").read_text(encoding="utf-8")
DECLARED = '<spiffworkflow:property name="send_back_to" value="home_investigation"/>'


def _messages(xml: str) -> list[tuple[str | None, str]]:
    return [(p.element_id, p.message) for p in lint(xml, "test")]


def test_the_shipped_procedure_declares_send_backs_that_lint_clean():
    assert DECLARED in CA
    assert _messages(CA) == []
    compiled = compile_bpmn(CA, known_roles={r.value for r in Role})
    assert send_back_targets(compiled.task_meta("street_approval").properties) == [
        "home_investigation",
        "assessment",
    ]
    assert declared_outputs(compiled.task_meta("follow_up_visit").properties) == {"still_needs_help"}
    assert declared_outputs(compiled.task_meta("assessment").properties) is None


def test_a_target_that_is_not_a_user_task_of_the_process():
    found = _messages(CA.replace(DECLARED, DECLARED.replace("home_investigation", "gw_fast_b_x")))
    assert found and found[0][0] == "assessment" and "not a user task" in found[0][1]


def test_a_target_downstream_of_the_task():
    # feedback comes after the follow-up and ends the case (street_approval no longer qualifies: the
    # Putuo re-review loops from the follow-up back to the assessment)
    found = _messages(CA.replace(DECLARED, DECLARED.replace("home_investigation", "feedback")))
    assert [(e, "does not lead to this task" in m) for e, m in found] == [("assessment", True)]


def test_a_task_cannot_send_back_to_itself():
    found = _messages(CA.replace(DECLARED, DECLARED.replace("home_investigation", "assessment")))
    assert [e for e, _m in found] == ["assessment"]


def test_outputs_must_be_field_names():
    declared = '<spiffworkflow:property name="outputs" value="still_needs_help"/>'
    found = _messages(CA.replace(declared, declared.replace("still_needs_help", "still needs help")))
    assert [(e, "not a field name" in m) for e, m in found] == [("follow_up_visit", True)]
