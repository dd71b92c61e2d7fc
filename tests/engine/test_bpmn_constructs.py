"""Multi-instance, call activities, error and escalation events and event-based gateways on BPMN files,
without a database: each step is run on a state saved and loaded again, as a request would."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import time_machine

from engine.bpmn import multiinstance
from engine.bpmn import runtime as rt
from engine.bpmn.errorevents import ServiceFailure
from engine.bpmn.parsing import WARNING, BpmnInvalid, check_bpmn, compile_bpmn
from engine.users.models import Role
from tests.saved_state import SavedState

CONSTRUCTS = Path(__file__).resolve().parents[1] / "fixtures" / "bpmn" / "constructs"
ROLES = {r.value for r in Role}


def _compile(name, **kwargs):
    return compile_bpmn((CONSTRUCTS / name).read_bytes(), known_roles=ROLES, **kwargs)


class Case(SavedState):
    """A workflow kept only as its saved state between steps (a restart between every two steps)."""

    def ready(self):
        """(BPMN id, task id, role, assignee, label) of each ready human task."""
        out = []
        for task in rt.ready_human_tasks(self.wf):
            meta = self.compiled.task_meta(task.task_spec.bpmn_id)
            one = multiinstance.instance_of(meta.properties, task.data)
            out.append((task.task_spec.bpmn_id, str(task.id), one.role or meta.role, one.assignee, one.label))
        return out

    def complete(self, task_id, **data):
        return self.complete_task(task_id, **data)


def test_parallel_instances_one_per_member_in_their_own_queue_until_the_quorum():
    case = Case(_compile("panel_votes.bpmn"), {"members": ["m1", "m2", "m3"], "quorum": 2, "visit_count": 3})
    ready = case.ready()
    assert [(r[0], r[2], r[3], r[4]) for r in ready] == [
        ("vote", "review_panel", "m1", "m1"),
        ("vote", "review_panel", "m2", "m2"),
        ("vote", "review_panel", "m3", "m3"),
    ]
    assert len({r[1] for r in ready}) == 3, "each instance is a task of its own"
    by_member = {r[3]: r[1] for r in ready}
    case.complete(by_member["m2"], decision="approve")
    case.complete(by_member["m1"], decision="reject")
    assert [r[3] for r in case.ready()] == ["m3"]
    case.complete(by_member["m3"], decision="approve")
    # the quorum is reached: the votes are collected in the order they came, the case goes on to the visits
    assert case.data()["decisions"] == ["approve", "reject", "approve"]
    assert [r[0] for r in case.ready()] == ["visit"]


def test_completion_condition_cancels_the_instances_still_open():
    case = Case(_compile("panel_votes.bpmn"), {"members": ["m1", "m2", "m3"], "quorum": 2, "visit_count": 1})
    first, second, third = (r[1] for r in case.ready())
    case.complete(first, decision="approve")
    wf = case.complete(second, decision="approve")
    assert [r[0] for r in case.ready()] == ["visit"]
    assert rt.find_task(wf, third).state != rt.TaskState.READY


def test_instances_finished_after_a_restart_still_count():
    """A spec parsed again (a restart, another worker) still merges the instances a previous one made."""
    case = Case(_compile("panel_votes.bpmn"), {"members": ["m1", "m2"], "quorum": 2, "visit_count": 1})
    first, second = (r[1] for r in case.ready())
    case.complete(first, decision="approve")
    case.compiled = _compile("panel_votes.bpmn")
    case.complete(second, decision="approve")
    assert [r[0] for r in case.ready()] == ["visit"]


def test_sequential_instances_by_cardinality_stop_on_the_completion_condition():
    case = Case(_compile("panel_votes.bpmn"), {"members": ["m1"], "quorum": 1, "visit_count": 3})
    case.complete(case.ready()[0][1], decision="approve")
    first = case.ready()
    assert [r[0] for r in first] == ["visit"], "one visit at a time"
    case.complete(first[0][1], visit_date=dt.date(2026, 3, 2), summary="首次走访", more_visits_needed=True)
    second = case.ready()
    assert [r[0] for r in second] == ["visit"] and second[0][1] != first[0][1]
    wf = case.complete(
        second[0][1], visit_date=dt.date(2026, 3, 9), summary="再次走访", more_visits_needed=False
    )
    assert wf.is_completed(), "the third visit is not needed"


def test_multi_instance_properties_are_linted():
    xml = (CONSTRUCTS / "panel_votes.bpmn").read_text()
    bad = xml.replace(
        '<spiffworkflow:property name="assignee_field" value="member"/>',
        '<spiffworkflow:property name="assignee_field" value="__import__(\'os\')"/>'
        '<spiffworkflow:property name="role_field" value="member"/>',
    )
    compiled, problems = check_bpmn(bad, known_roles=ROLES)
    assert compiled is None
    messages = [p.message for p in problems if p.element_id == "vote"]
    assert any("assignee_field" in m for m in messages)
    assert any("role_field 需要 roles" in m for m in messages)


def test_role_field_only_names_a_declared_role():
    props = {"roles": "city_officer,gansu_officer", "role_field": "party['role']"}
    assert multiinstance.instance_of(props, {"party": {"role": "gansu_officer"}}).role == "gansu_officer"
    assert multiinstance.instance_of(props, {"party": {"role": "admin"}}).role is None


def _review_xml(key):
    return (CONSTRUCTS / "democratic_review.bpmn").read_bytes() if key == "democratic_review" else None


def test_call_activity_runs_a_deployed_sub_procedure_with_its_data_mapping():
    compiled = _compile("relief_with_review.bpmn", called_process=_review_xml)
    assert {"application", "panel_vote", "disburse"} <= set(compiled.tasks)
    case = Case(compiled)
    case.complete(case.ready()[0][1], amount_requested=3000, household_size=2)
    votes = case.ready()
    assert [(r[0], r[3]) for r in votes] == [
        ("panel_vote", "pt_panel"),
        ("panel_vote", "rp_second"),
        ("panel_vote", "rp_third"),
    ]
    # only the declared inputs went in
    sub_data = rt.find_task(case.wf, votes[0][1]).data
    assert "case_note" not in sub_data and sub_data["amount_requested"] == 3000
    case.complete(votes[0][1], decision="approve")
    case.complete(votes[1][1], decision="approve")
    data = case.data()
    # only the declared outputs came back
    assert data["review_passed"] is True and data["approvals"] == 2
    assert "decisions" not in data and "member" not in data
    assert data["case_note"] == "调用前的案件数据，不传入子流程"
    assert [r[0] for r in case.ready()] == ["disburse"]


def test_call_activity_to_a_process_found_nowhere_is_refused():
    with pytest.raises(BpmnInvalid) as refused:
        _compile("relief_with_review.bpmn")
    assert any(p.element_id == "review" and "democratic_review" in p.message for p in refused.value.problems)


def test_call_activity_without_a_data_mapping_is_a_warning():
    unmapped = (CONSTRUCTS / "democratic_review.bpmn").read_text()
    start, end = unmapped.index("<bpmn:ioSpecification"), unmapped.index("</bpmn:ioSpecification>")
    unmapped = unmapped[:start] + unmapped[end + len("</bpmn:ioSpecification>") :]
    compiled = _compile("relief_with_review.bpmn", called_process=lambda key: unmapped)
    assert [(p.element_id, p.severity) for p in compiled.warnings if "数据映射" in p.message] == [
        ("review", WARNING)
    ]


@pytest.fixture
def bank():
    attempts = []

    def transfer(data, **_params):
        attempts.append(data.get("account"))
        if data.get("account") == "frozen":
            raise ServiceFailure("transfer_failed", "账户已冻结")
        if data.get("account") == "unknown":
            raise ServiceFailure("bank_unreachable")
        return {"ok": True}

    rt.SERVICES["test_bank_transfer"] = transfer
    yield attempts
    rt.SERVICES.pop("test_bank_transfer", None)


def test_a_failed_transfer_goes_back_to_finance_and_is_retried(bank):
    case = Case(_compile("bank_transfer.bpmn"), {"account": "frozen"})
    case.complete(case.ready()[0][1], documents="ok", amount=3000)
    ready = case.ready()
    assert [(r[0], r[2]) for r in ready] == [("fix_account", "finance")]
    assert case.data()["error_code"] == "transfer_failed"
    wf = case.complete(ready[0][1], account="fixed")
    assert wf.is_completed() and bank == ["frozen", "fixed"]


def test_a_failure_no_boundary_catches_stays_an_engine_error(bank):
    with pytest.raises(rt.EngineError) as failed:
        case = Case(_compile("bank_transfer.bpmn"), {"account": "unknown"})
        case.complete(case.ready()[0][1], documents="ok", amount=3000)
    assert failed.value.element == "transfer"


def test_error_end_event_of_a_subprocess_routes_to_its_boundary(bank):
    case = Case(_compile("bank_transfer.bpmn"), {"account": "ok"})
    wf = case.complete(case.ready()[0][1], documents="missing", amount=3000)
    assert [r[0] for r in case.ready()] == ["complete_file"] and not bank
    assert not wf.is_completed()


def test_escalation_opens_a_review_without_stopping_the_case(bank):
    case = Case(_compile("bank_transfer.bpmn"), {"account": "ok"})
    case.complete(case.ready()[0][1], documents="ok", amount=9000)
    assert [(r[0], r[2]) for r in case.ready()] == [("head_review", "street_head")]
    assert bank == ["ok"], "non-interrupting: the transfer went ahead"


def test_event_based_gateway_takes_whichever_comes_first():
    compiled = _compile("event_gateway.bpmn")
    with time_machine.travel(dt.datetime(2026, 3, 2, tzinfo=dt.UTC), tick=False) as clock:
        case = Case(compiled)
        assert [
            (bpmn_id, due) for (t, due), bpmn_id in zip(rt.waiting_timers(case.wf), ["wait"], strict=True)
        ] == [("wait", dt.datetime(2026, 3, 4, tzinfo=dt.UTC))]
        clock.move_to(dt.datetime(2026, 3, 5, tzinfo=dt.UTC))
        wf = case.wf
        assert rt.fire_due_timers(wf) == [("wait", dt.datetime(2026, 3, 4, tzinfo=dt.UTC))]
        case.state = rt.dump_state(wf)
        assert [r[0] for r in case.ready()] == ["follow_up"]
        assert rt.waiting_timers(case.wf) == [], "the other branch no longer waits"


def test_event_based_gateway_leading_to_a_step_is_refused_naming_both():
    xml = (CONSTRUCTS / "event_gateway.bpmn").read_text()
    bad = xml.replace(
        '<bpmn:intermediateCatchEvent id="reply_window" name="两天内"><bpmn:incoming>f_short</bpmn:incoming>'
        "<bpmn:outgoing>f_follow</bpmn:outgoing>",
        '<bpmn:userTask id="reply_window" name="两天内"><bpmn:incoming>f_short</bpmn:incoming>'
        '<bpmn:outgoing>f_follow</bpmn:outgoing></bpmn:userTask><bpmn:intermediateCatchEvent id="spare">',
    )
    compiled, problems = check_bpmn(bad, known_roles=ROLES)
    assert compiled is None
    on_gateway = [p for p in problems if p.element_id == "wait"]
    assert (
        len(on_gateway) == 1 and "两天内" in on_gateway[0].message and on_gateway[0].name == "等待回复或期限"
    )


def test_terminate_end_event_ends_the_case_with_its_other_steps():
    case = Case(_compile("terminate.bpmn"))
    ready = {r[0]: r[1] for r in case.ready()}
    assert set(ready) == {"work", "withdraw"}
    wf = case.complete(ready["withdraw"])
    assert wf.is_completed() and case.ready() == []


def test_camunda_in_and_out_on_a_call_activity_are_warned_as_ignored():
    xml = (
        (CONSTRUCTS / "relief_with_review.bpmn")
        .read_text()
        .replace(
            "xmlns:spiffworkflow=", 'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:spiffworkflow='
        )
        .replace(
            'calledElement="democratic_review">',
            'calledElement="democratic_review"><bpmn:extensionElements>'
            '<camunda:in source="amount" target="amount_requested"/></bpmn:extensionElements>',
        )
    )
    compiled, problems = check_bpmn(xml, known_roles=ROLES, called_process=_review_xml)
    assert compiled is not None
    assert [(p.element_id, p.severity) for p in problems if "camunda:in" in p.message] == [
        ("review", WARNING)
    ]


def test_an_undeclared_multi_instance_collection_is_warned_about():
    """bpmn-js drops a collection reference no element declares when it saves: lint says so."""
    xml = (
        (CONSTRUCTS / "panel_votes.bpmn")
        .read_text()
        .replace('<bpmn:property id="members" name="评议小组成员"/>', "")
    )
    compiled, problems = check_bpmn(xml, known_roles=ROLES)
    assert compiled is not None
    assert [(p.element_id, p.severity) for p in problems if "members" in p.message] == [("vote", WARNING)]
