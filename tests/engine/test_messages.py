"""Messages and signals in the engine alone (no database): what a workflow waits for, what it throws,
delivery, persistence across a save and load, and lint."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.bpmn import messaging, runtime
from engine.bpmn.parsing import compile_bpmn
from engine.definitions.service import lint, lint_warnings
from engine.users.models import Role

MESSAGES = Path(__file__).resolve().parents[1] / "fixtures" / "bpmn" / "messages"
ROLES = {r.value for r in Role}


def compiled(name: str):
    return compile_bpmn((MESSAGES / name).read_bytes(), known_roles=ROLES)


def started(name: str, **data):
    wf = runtime.new_workflow(compiled(name), data)
    runtime.advance(wf)
    return wf


def test_a_receive_task_waits_with_its_correlation_key_and_is_not_a_human_task():
    wf = started("msg_receiver.bpmn", project_key="BP-2026-310107")
    [waiting] = messaging.waiting(wf)
    assert (waiting.kind, waiting.name, waiting.bpmn_id, waiting.label) == (
        "message",
        "list_confirmed",
        "wait_list",
        "年度名单确认",
    )
    assert waiting.key == "BP-2026-310107"
    assert runtime.ready_human_tasks(wf) == []


def test_a_sender_throws_its_message_signal_and_end_message_with_keys_and_payloads():
    wf = started("msg_sender.bpmn", project_key="BP-2026-310107", households=3)
    assert wf.is_completed()
    thrown = messaging.take_thrown(wf)
    assert [(t.kind, t.name, t.payload, t.bpmn_id) for t in thrown] == [
        ("message", "list_confirmed", {"households": 3}, "send_list"),
        ("signal", "policy_changed", None, "notice"),
        ("message", "sender_done", {"households": 3}, "end"),
    ]
    assert thrown[0].key == "BP-2026-310107"
    assert thrown[2].key is messaging.BUSINESS_KEY  # no correlation declared: the business key
    assert messaging.take_thrown(wf) == []  # taken once: never delivered twice


def test_delivery_moves_the_receiver_on_with_the_payload_in_its_variable():
    wf = started("msg_receiver.bpmn", project_key="BP-1")
    assert messaging.catch(wf, "message", "other_message", {}) == 0
    assert messaging.catch(wf, "message", "list_confirmed", {"households": 3}) == 1
    runtime.advance(wf)
    [task] = runtime.ready_human_tasks(wf)
    assert task.task_spec.bpmn_id == "review"
    assert task.data["confirmed"] == {"households": 3}
    assert messaging.waiting(wf) == []


def test_a_waiting_catch_survives_save_and_load():
    comp = compiled("msg_receiver.bpmn")
    wf = runtime.new_workflow(comp, {"project_key": "BP-1"})
    runtime.advance(wf)
    again = runtime.load_state(runtime.dump_state(wf), comp)
    assert [w.bpmn_id for w in messaging.waiting(again)] == ["wait_list"]
    assert messaging.catch(again, "message", "list_confirmed", {"n": 1}) == 1
    runtime.advance(again)
    assert [t.task_spec.bpmn_id for t in runtime.ready_human_tasks(again)] == ["review"]


def test_signal_catch_and_message_start_and_boundary():
    wf = started("msg_signal_wait.bpmn")
    assert [(w.kind, w.name, w.key) for w in messaging.waiting(wf)] == [("signal", "policy_changed", None)]
    assert messaging.catch(wf, "signal", "policy_changed", None) == 1
    runtime.advance(wf)
    assert [t.task_spec.bpmn_id for t in runtime.ready_human_tasks(wf)] == ["review"]

    comp = compiled("msg_started.bpmn")
    assert messaging.start_messages(comp.spec) == ["case_referred"]
    wf = runtime.new_workflow(comp, {})
    runtime.advance(wf)
    [start] = messaging.waiting(wf)
    assert start.is_start and start.name == "case_referred"
    assert messaging.catch(wf, "message", "case_referred", {"from": "PT"}) == 1
    runtime.advance(wf)
    [review] = runtime.ready_human_tasks(wf)
    assert review.data["referral"] == {"from": "PT"}
    # the boundary message on the review interrupts it
    [boundary] = messaging.waiting(wf)
    assert (boundary.bpmn_id, boundary.key) == ("withdrawn", messaging.BUSINESS_KEY)
    assert messaging.catch(wf, "message", "referral_withdrawn", {}) == 1
    runtime.advance(wf)
    assert wf.is_completed() and runtime.ready_human_tasks(wf) == []


def test_fixtures_deploy_and_uncorrelated_messages_are_warned_about():
    for path in sorted(MESSAGES.glob("*.bpmn")):
        assert lint(path.read_bytes(), path.name) == [], path.name
    warned = lint_warnings((MESSAGES / "msg_started.bpmn").read_bytes())
    assert [(p.element_id, p.severity) for p in warned] == [("withdrawn", "warning")]
    assert "no correlation" in warned[0].message and warned[0].name == "转介撤回"
    assert lint_warnings((MESSAGES / "msg_receiver.bpmn").read_bytes()) == []


def _replace(name: str, old: str, new: str) -> str:
    text = (MESSAGES / name).read_text(encoding="utf-8")
    assert old in text
    return text.replace(old, new)


@pytest.mark.parametrize(
    ("name", "old", "new", "element", "fragment"),
    [
        (
            "msg_receiver.bpmn",
            'messageRef="Msg_list"',
            'messageRef="Msg_nowhere"',
            "wait_list",
            "not defined",
        ),
        (
            "msg_receiver.bpmn",
            'value="project_key"',
            "value=\"__import__('os')\"",
            "wait_list",
            "correlation",
        ),
        ("msg_signal_wait.bpmn", 'signalRef="Sig_policy"', 'signalRef="nope"', "wait_policy", "not defined"),
        (
            "msg_sender.bpmn",
            '<bpmn:messageEventDefinition messageRef="Msg_done">',
            '<bpmn:signalEventDefinition signalRef="Sig_policy"/><bpmn:messageEventDefinition messageRef="Msg_done">',
            "end",
            "signal end events are not supported",
        ),
    ],
)
def test_lint_refuses_undefined_messages_unsafe_correlations_and_signal_end_events(
    name, old, new, element, fragment
):
    problems = lint(_replace(name, old, new))
    assert any(p.element_id == element and fragment in p.message and p.line for p in problems), problems


def test_correlation_expressions_never_reach_python_eval():
    env = runtime.SCRIPT_ENGINE.environment
    assert env.evaluate("a + 1", {"a": 1}) == 2
    with pytest.raises(runtime.EngineError):
        env.evaluate("__import__('os').getcwd()", {})


def test_a_bpmn_correlation_property_is_the_key_without_any_extension():
    xml = _replace(
        "msg_receiver.bpmn",
        '<bpmn:message id="Msg_list" name="list_confirmed"/>',
        '<bpmn:message id="Msg_list" name="list_confirmed"/>'
        '<bpmn:correlationProperty id="project" name="project">'
        '<bpmn:correlationPropertyRetrievalExpression messageRef="Msg_list">'
        "<bpmn:formalExpression>project_key</bpmn:formalExpression>"
        "</bpmn:correlationPropertyRetrievalExpression></bpmn:correlationProperty>",
    ).replace(
        '<spiffworkflow:properties><spiffworkflow:property name="correlation" value="project_key"/></spiffworkflow:properties>',
        "",
    )
    assert lint(xml) == [] and lint_warnings(xml) == []
    wf = runtime.new_workflow(compile_bpmn(xml, known_roles=ROLES), {"project_key": "BP-9"})
    runtime.advance(wf)
    [waiting] = messaging.waiting(wf)
    assert waiting.key == "BP-9"
    # SpiffWorkflow's own correlation check stays out of the way: any payload is caught
    assert messaging.catch(wf, "message", "list_confirmed", {"something": "else"}) == 1
