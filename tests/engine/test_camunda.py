"""Camunda Modeler's extensions on BPMN files, without a database: what maps to roles, forms,
deadlines and the starter, and a lint warning naming the element for everything ignored."""

from __future__ import annotations

import pytest

from engine.bpmn import camunda, runtime
from engine.bpmn.parsing import WARNING, check_bpmn
from engine.users.models import Role
from tests.conftest import ROOT
from tests.helpers import CONFORMANCE

ROLES = {r.value for r in Role}
FILE = ROOT / "tests" / "fixtures" / "bpmn" / "camunda" / "camunda_modeler_review.bpmn"
FORMS = {"demo_review", "ca_application"}


def _check(xml):
    return check_bpmn(xml, known_roles=ROLES, form_exists=FORMS.__contains__)


def test_camunda_attributes_map_to_roles_forms_deadlines_and_the_starter():
    compiled, problems = _check(FILE.read_bytes())
    assert compiled is not None, problems
    assert compiled.initiator_var == "starter"
    fill, review, sign = (compiled.tasks[k] for k in ("fill", "review", "sign"))
    # camunda:assignee="${starter}" with camunda:initiator="starter": the starter's own step, no role needed
    assert (fill.assignee, fill.role) == ("initiator", None)
    # embedded:app:forms/demo-review.html is our demo_review
    assert fill.form_key == "demo_review"
    # candidateGroups: the first group that is a role; formRef; dueDate ${dateTime().plusDays(3)…}
    assert (review.role, review.form_key, review.assignee) == ("street_officer", "demo_review", None)
    assert review.properties == {"reminder": "1 day", "deadline": "3 days"}  # camunda:properties kept
    # candidateUsers naming a role gives the role; the rest of sign's attributes cannot be used
    assert (sign.role, sign.form_key, sign.assignee) == ("street_head", None, None)
    assert "deadline" not in sign.properties


def test_everything_ignored_is_a_warning_naming_the_element():
    _compiled, problems = _check(FILE.read_bytes())
    assert problems and all(p.severity == WARNING for p in problems)
    found = {(p.element_id, p.name, p.message_en.split(":")[0].split(" ignored")[0]) for p in problems}
    assert found == {
        ("camunda_review", "Camunda 建模器审核", "extension camunda"),  # historyTimeToLive
        ("review", "街镇审核", "extension camunda"),  # executionListener
        ("review", "街镇审核", "candidate group 'Accounting' is not a known role"),
        ("sign", "负责人签批", "candidate user 'jdoe'"),
        ("sign", "负责人签批", "assignee 'jdoe'"),
        ("sign", "负责人签批", "no form matches 'camunda-forms"),
        ("sign", "负责人签批", "dueDate '2026-12-31T00"),
    }
    texts = " ".join(p.message for p in problems)
    assert "camunda:historyTimeToLive" in texts and "camunda:executionListener" in texts
    assert all(p.line for p in problems) and "None" not in texts


def test_no_role_anywhere_is_still_an_error():
    xml = FILE.read_text(encoding="utf-8").replace('camunda:candidateGroups="street_officer, Accounting"', "")
    compiled, problems = _check(xml)
    assert compiled is None
    assert [p.element_id for p in problems if p.severity == "error"] == ["review"]


def test_the_camunda_file_runs_to_its_end_in_memory():
    compiled, _problems = _check(FILE.read_bytes())
    wf = runtime.new_workflow(compiled, {"starter": "someone"})
    runtime.advance(wf)
    seen = []
    while True:
        ready = runtime.ready_human_tasks(wf)
        if not ready:
            break
        task = ready[0]
        seen.append(task.task_spec.bpmn_id)
        task.run()
        runtime.advance(wf)
    assert seen == ["fill", "review", "sign"] and wf.is_completed()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${dateTime().plusDays(3).toDate()}", "3 days"),
        ("${dateTime().plusWeeks(2).toDate()}", "14 days"),
        ("${dateTime().plusHours(48).toDate()}", "PT48H"),
        ("P5D", "P5D"),
        ("pt4h", "PT4H"),
        ("2026-12-31T00:00:00", None),
        ("${dueDate}", None),
    ],
)
def test_due_dates(text, expected):
    assert camunda.deadline_of(text) == expected


def test_form_references():
    assert camunda.form_candidates("embedded:app:forms/approve-invoice.html") == [
        "embedded:app:forms/approve-invoice.html",
        "forms/approve-invoice.html",
        "approve-invoice.html",
        "approve-invoice",
        "approve_invoice",
    ]
    assert camunda.form_candidates("demo_review") == ["demo_review"]


def test_camunda_exports_in_the_miwg_set_warn_about_what_they_carry():
    # C.1.1 is a Camunda Modeler export: its candidate groups are not our roles, which lint says per task
    _compiled, problems = _check((CONFORMANCE / "miwg-reference/C.1.1.bpmn").read_bytes())
    warned = {p.element_id for p in problems if p.severity == WARNING}
    assert {"approveInvoice", "assignApprover"} <= warned
