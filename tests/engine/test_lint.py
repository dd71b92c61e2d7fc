"""Lint rules: every refusal names its element and line; the shipped procedures lint clean."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.bpmn.parsing import BpmnInvalid, compile_bpmn
from engine.definitions.service import lint
from engine.users.models import Role

ROOT = Path(__file__).resolve().parents[2]
LINT = ROOT / "tests" / "fixtures" / "bpmn" / "lint"
ROLES = {r.value for r in Role}


def problems_of(name: str):
    return lint((LINT / name).read_bytes(), name)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("complex_gateway.bpmn", [("cx", 6, "unsupported element: 复杂网关 / complex gateway")]),
        ("message_event.bpmn", [("wait_msg", 6, "unsupported event: 消息事件 / message event")]),
        ("unreachable.bpmn", [("orphan", 7, "unreachable node")]),
        ("dead_end.bpmn", [("stuck", 8, "dead end")]),
        (
            "endless_loop.bpmn",
            [("again", 8, "reaches an end event"), ("again_gw", 14, "reaches an end event")],
        ),
        ("bad_timer.bpmn", [("wait", 6, "unreadable timer timeDuration 'PT5X'")]),
        ("bad_timer_date.bpmn", [("wait", 6, "unreadable timer timeDate '2026-13-45T99:00'")]),
        (
            "bad_sla_properties.bpmn",
            [
                ("confirm", 6, "deadline_field 'due date!'"),
                ("confirm", 6, "reminder 'soon'"),
                ("confirm", 6, "escalation 'later please'"),
            ],
        ),
    ],
)
def test_each_rule_names_element_and_line(name, expected):
    problems = problems_of(name)
    for element, line, fragment in expected:
        assert any(p.element_id == element and p.line == line and fragment in p.message for p in problems), (
            problems
        )
    # nothing else is reported on these otherwise clean fixtures, except the parser's own refusal of
    # the complex gateway (which it cannot build either)
    extra = [p for p in problems if not any(fragment in p.message for _e, _l, fragment in expected)]
    assert all("cannot parse BPMN" in p.message and p.element_id == "cx" for p in extra), extra


def test_clean_fixture_with_timers_boundary_and_sla_properties_is_deployable():
    assert problems_of("clean.bpmn") == []


@pytest.mark.parametrize("path", sorted((ROOT / "processes").glob("*.bpmn")), ids=lambda p: p.name)
def test_shipped_procedures_lint_clean(path):
    assert lint(path.read_bytes(), path.name) == []


@pytest.mark.parametrize(
    ("fixture", "fragment", "element"),
    [
        ("unsafe_condition.bpmn", "__import__", "gw"),
        ("no_role.bpmn", "no known role", "confirm"),
        ("missing_form.bpmn", "no_such_form", "confirm"),
        ("bad_deadline.bpmn", "deadline", "confirm"),
        ("xxe.bpmn", "DOCTYPE", None),
    ],
)
def test_lint_reports_the_older_rules_too(fixture, fragment, element):
    problems = lint((ROOT / "tests" / "fixtures" / "bpmn" / fixture).read_bytes())
    assert any(fragment in p.message and p.element_id == element for p in problems), problems


def test_parse_error_line_found_from_element_id():
    problems = problems_of("complex_gateway.bpmn")
    parse = [p for p in problems if "cannot parse" in p.message]
    assert parse and parse[0].line == 6


def test_compile_refuses_with_all_problems_at_once():
    with pytest.raises(BpmnInvalid) as info:
        compile_bpmn((LINT / "bad_sla_properties.bpmn").read_bytes(), known_roles=ROLES)
    assert len(info.value.problems) == 3


def test_unsupported_rule_is_on_executed_processes_only():
    # a second, non-executable pool with a message event does not block the executable one
    xml = (
        (LINT / "clean.bpmn")
        .read_text(encoding="utf-8")
        .replace(
            "</bpmn:definitions>",
            '<bpmn:process id="other_pool" isExecutable="false"><bpmn:startEvent id="s2">'
            '<bpmn:messageEventDefinition id="m2"/></bpmn:startEvent></bpmn:process></bpmn:definitions>',
        )
    )
    assert lint(xml) == []


# --- issue 18 items 11 and 12: loops of automatic steps and unbounded timers are refused at deploy ---

from tests import hostile_bpmn  # noqa: E402


@pytest.mark.parametrize(
    ("xml", "element", "fragment"),
    [
        (hostile_bpmn.script_cycle(), "count", "count → gw → count"),
        (hostile_bpmn.fork_cycle(), "s1", "s1 → fork → b → join → gw → s1"),
    ],
)
def test_a_cycle_of_automatic_steps_is_refused_once_with_its_path(xml, element, fragment):
    problems = lint(xml)
    assert len(problems) == 1, problems
    [problem] = problems
    assert problem.element_id == element and problem.line == 7
    assert "no wait state" in problem.message and fragment in problem.message


def test_a_loop_through_a_user_task_is_not_a_cycle_of_automatic_steps():
    xml = hostile_bpmn.script_cycle().replace(
        b'<bpmn:sequenceFlow id="f3" sourceRef="gw" targetRef="count">',
        b'<bpmn:sequenceFlow id="f3" sourceRef="gw" targetRef="fill">',
    )
    assert lint(xml) == []


@pytest.mark.parametrize(
    ("kind", "text", "fragment"),
    [
        ("timeDuration", "P99999Y", "longer than 100 years"),
        ("timeDuration", "P9999999Y", "longer than 100 years"),
        ("timeDuration", '"P99999999999999999999D"', "not an ISO 8601 duration"),
        ("timeDuration", '"hello"', "unreadable timer"),
        ("timeCycle", "R/PT1S", "more often than every 3600 s"),
        ("timeCycle", "R5/PT59M", "more often than every 3600 s"),
        ("timeCycle", "R0/PT1H", "repeats zero times"),
        ("timeCycle", "R/P99999Y", "longer than 100 years"),
    ],
)
def test_unbounded_or_never_firing_timers_are_refused_with_element_and_line(kind, text, fragment):
    import time

    started = time.monotonic()
    problems = lint(hostile_bpmn.timer_after_fill(kind, text))
    assert time.monotonic() - started < 2.0  # nothing unbounded runs at lint
    assert any(p.element_id == "wait" and p.line == 7 and fragment in p.message for p in problems), problems


def test_a_timer_start_cycle_shorter_than_the_minimum_is_refused(monkeypatch):
    from engine.bpmn import timers

    problems = lint(hostile_bpmn.timer_start("R/PT1S", "310107014"))
    assert any(p.element_id == "every" and "3600 s" in p.message for p in problems), problems
    assert lint(hostile_bpmn.timer_start("R/PT1H", "310107014")) == []
    monkeypatch.setattr(timers, "MIN_CYCLE_SECONDS", 86400)  # ASSISTFLOW_MIN_TIMER_CYCLE_SECONDS
    assert any("86400 s" in p.message for p in lint(hostile_bpmn.timer_start("R/PT1H", "310107014")))


def test_lint_of_hostile_expressions_returns_quickly():
    import time

    for text in ("4000000 ** 4000000", "'%0300000000d' % 0", "'%1000000000d' % 1", "(10 ** 900) ** 30"):
        started = time.monotonic()
        problems = lint(hostile_bpmn.timer_after_fill("timeDuration", text.replace("'", "&apos;")))
        assert time.monotonic() - started < 2.0, text
        assert problems == [] or all(p.element_id == "wait" for p in problems)
