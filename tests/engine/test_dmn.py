"""DMN decision tables without a database: reading, FEEL-ish unary tests, hit policies, the shipped
comprehensive-assistance table, and business-rule tasks running the version a case keeps."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from engine import expressions
from engine.bpmn import dmn, dmn_task
from engine.bpmn import runtime as rt
from engine.bpmn.parsing import check_bpmn, compile_bpmn
from engine.bpmn.xmlsafe import BpmnInvalid
from engine.users.models import Role

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "decisions"
ROLES = {r.value for r in Role}
CA_PARAMS = {"_params": {"values": {"district_threshold": 20000}}}


def _table(xml_rules: str, hit_policy: str = "UNIQUE", inputs: str = "x", outputs: str = "out") -> str:
    ins = "".join(
        f'<input id="i{n}" label="{e}"><inputExpression id="ie{n}"><text>{e}</text></inputExpression></input>'
        for n, e in enumerate(inputs.split(","))
    )
    outs = "".join(f'<output id="o{n}" name="{o}"/>' for n, o in enumerate(outputs.split(",")))
    return (
        '<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="d" name="t" namespace="x">'
        f'<decision id="t_key" name="测试"><decisionTable id="dt" hitPolicy="{hit_policy}">{ins}{outs}'
        f"{xml_rules}</decisionTable></decision></definitions>"
    )


def _rule(n: int, cells: list[str], outs: list[str]) -> str:
    ins = "".join(f'<inputEntry id="r{n}i{k}"><text>{c}</text></inputEntry>' for k, c in enumerate(cells))
    res = "".join(f'<outputEntry id="r{n}o{k}"><text>{o}</text></outputEntry>' for k, o in enumerate(outs))
    return f'<rule id="r{n}">{ins}{res}</rule>'


@pytest.mark.parametrize(
    ("cell", "value", "expected"),
    [
        ("-", None, True),
        ("", 5, True),
        ("5", 5, True),
        ("5", Decimal("5.00"), True),
        ('"dibao"', "dibao", True),
        ('"dibao"', "other", False),
        ('"dibao","dibao_edge"', "dibao_edge", True),
        ('not("dibao","dibao_edge")', "other", True),
        ('not("dibao","dibao_edge")', "dibao", False),
        ("< 5", 4, True),
        ("<= 5", 5, True),
        ("> 5", 5, False),
        (">= 5.5", Decimal("5.5"), True),
        ("!= 3", 4, True),
        ("= 3", 3, True),
        ("[1..10]", 1, True),
        ("[1..10]", 10, True),
        ("(1..10)", 10, False),
        ("]1..10[", 1, False),
        ("]1..10]", 10, True),
        ("[1..10]", 10.5, False),
        ("< 0, > 100", 101, True),
        ("< 0, > 100", 50, False),
        ("true", True, True),
        ("false", True, False),
        ("null", None, True),
        ("> 5", None, False),  # a missing input matches no comparison
        ("> 5", "text", False),  # nor does text against a number
        ("? % 2 == 0", 4, True),
        ('> param("cap")', 6000, True),
    ],
)
def test_unary_tests(cell, value, expected):
    names = {"_params": {"values": {"cap": 5000}}}
    assert dmn.cell_matches(dmn.parse_cell(cell), value, names) is expected


def test_the_shipped_approval_authority_table():
    table = dmn.read_dmn((ROOT / "processes" / "ca_approval_authority.dmn").read_bytes())
    assert (table.key, table.hit_policy, [o.name for o in table.outputs]) == (
        "ca_approval_authority",
        "FIRST",
        ["approval_level"],
    )

    def level(amount, category="dibao", recusal=False):
        data = {
            **CA_PARAMS,
            "proposed_amount": Decimal(amount),
            "hardship_category": category,
            "needs_district_review": recusal,
        }
        return dmn.decide(table, data)

    assert level("20000.00").result == {"approval_level": "street"}
    assert level("20000.01").result == {"approval_level": "district"}
    assert level("20000.01").matched == [2]
    assert level("100", recusal=True).matched == [1]
    assert level("100", "other").result == {"approval_level": "street"}
    # the threshold is the case's policy parameter, not a number in the table
    assert dmn.decide(
        table,
        {
            "_params": {"values": {"district_threshold": 100}},
            "proposed_amount": 150,
            "needs_district_review": False,
        },
    ).result == {"approval_level": "district"}


@pytest.mark.parametrize(
    ("needs", "tier"),
    [
        (["employment", "skills"], "advancement"),
        (["basic_living", "skills"], "assistance"),  # the first rule that matches
        (["family_function"], "accompany"),
        (["emergency"], "assistance"),
    ],
)
def test_the_shipped_3a_tier_table(needs, tier):
    table = dmn.read_dmn((ROOT / "processes" / "r3a_tier.dmn").read_bytes())
    assert dmn.decide(table, {"needs_categories": needs}).result == {"tier": tier}


def test_hit_policies():
    rules = _rule(1, ["> 0"], ['"a"']) + _rule(2, ["> 5"], ['"b"'])
    assert dmn.decide(dmn.read_dmn(_table(rules, "FIRST")), {"x": 9}).result == {"out": "a"}
    assert dmn.decide(dmn.read_dmn(_table(rules, "RULE ORDER")), {"x": 9}).result == {"out": ["a", "b"]}
    assert dmn.decide(dmn.read_dmn(_table(rules, "COLLECT")), {"x": 1}).result == {"out": ["a"]}
    with pytest.raises(dmn.DecisionError, match="UNIQUE"):
        dmn.decide(dmn.read_dmn(_table(rules)), {"x": 9})
    with pytest.raises(dmn.DecisionError, match="ANY"):
        dmn.decide(dmn.read_dmn(_table(rules, "ANY")), {"x": 9})
    summed = dmn.read_dmn(_table(_rule(1, ["> 0"], ["2"]) + _rule(2, ["> 5"], ["3"]), "COLLECT"))
    assert dmn.decide(summed, {"x": 9}).result == {"out": [2, 3]}
    total = dmn.read_dmn(
        _table(_rule(1, ["> 0"], ["2"]) + _rule(2, ["> 5"], ["3"]), "COLLECT").replace(
            'hitPolicy="COLLECT"', 'hitPolicy="COLLECT" aggregation="SUM"'
        )
    )
    assert dmn.decide(total, {"x": 9}).result == {"out": 5}
    assert dmn.decide(dmn.read_dmn(_table(rules)), {"x": -1}) == dmn.Outcome({"out": None}, [])


def test_every_problem_of_a_table_at_once_and_no_python_eval():
    bad = _table(
        _rule(1, ["__import__('os').system('true')"], ['"a"'])
        + _rule(2, ["[1..]"], ["().__class__"])
        + _rule(3, ["1"], []),
        "PRIORITY",
    )
    table, problems = dmn.check_dmn(bad)
    assert table is None
    messages = " | ".join(p.message for p in problems)
    assert "unsupported hit policy PRIORITY" in messages
    assert "row 1: invalid input entry" in messages
    assert "row 2: invalid input entry" in messages and "row 2: invalid output entry" in messages
    assert "row 3: cells do not match the columns" in messages
    assert all(p.line for p in problems)
    with pytest.raises(BpmnInvalid, match="DMN definitions"):
        dmn.read_dmn((ROOT / "processes" / "demo_assistance.bpmn").read_bytes())
    with pytest.raises(BpmnInvalid, match="DOCTYPE"):
        dmn.read_dmn('<!DOCTYPE x [<!ENTITY a "b">]><definitions/>')
    with pytest.raises(expressions.ExpressionError):
        dmn.parse_cell("x.__class__")


def test_a_business_rule_task_runs_the_version_the_case_keeps():
    compiled = compile_bpmn((FIXTURES / "dmn_demo.bpmn").read_bytes(), known_roles=ROLES)
    assert compiled.decision_refs == {"dmn_demo_level"}
    v1 = dmn.read_dmn((FIXTURES / "dmn_demo_level.dmn").read_bytes())
    v2 = dmn.read_dmn((FIXTURES / "dmn_demo_level_v2.dmn").read_bytes())
    dmn_task.TABLES[("dmn_demo_level", 1, v1.sha256)] = v1
    dmn_task.TABLES[("dmn_demo_level", 2, v2.sha256)] = v2

    def run(version, table):
        pins = {dmn_task.PINS_KEY: {"dmn_demo_level": {"version": version, "sha256": table.sha256}}}
        wf = rt.new_workflow(compiled, pins)
        rt.advance(wf)
        wf = rt.load_state(rt.dump_state(wf), compiled)  # kept across a save and load
        [task] = rt.ready_human_tasks(wf)
        task.set_data(amount_requested=Decimal("6000.50"), hardship_category="dibao_edge")
        task.run()
        rt.advance(wf)
        [review] = rt.ready_human_tasks(wf)
        return review.task_spec.bpmn_id, review.data["review_level"], review.data["level_cap"]

    assert run(1, v1) == ("review", "street", 20000)
    assert run(2, v2) == ("review", "district", 20000)
    wf = rt.new_workflow(compiled, {})  # a case keeping no version: the step fails naming the task
    rt.advance(wf)
    [task] = rt.ready_human_tasks(wf)
    task.set_data(amount_requested=1, hardship_category="dibao")
    task.run()
    with pytest.raises(rt.EngineError) as err:
        rt.advance(wf)
    assert err.value.element == "decide_level"


def test_lint_names_a_business_rule_task_without_a_known_decision():
    xml = (FIXTURES / "dmn_demo.bpmn").read_text(encoding="utf-8")
    _compiled, problems = check_bpmn(xml, known_roles=ROLES, decision_exists=lambda key: False)
    [problem] = [p for p in problems if "decision" in p.message]
    assert (problem.element_id, problem.name, problem.severity) == ("decide_level", "判定审批层级", "error")
    assert "unknown decision 'dmn_demo_level'" in problem.message and problem.line
    unnamed = xml.replace(
        "<spiffworkflow:calledDecisionId>dmn_demo_level</spiffworkflow:calledDecisionId>", ""
    )
    _compiled, problems = check_bpmn(unnamed, known_roles=ROLES)
    assert any(p.element_id == "decide_level" and "names no decision" in p.message for p in problems)
    camunda = xml.replace(
        '<bpmn:businessRuleTask id="decide_level"',
        '<bpmn:businessRuleTask xmlns:camunda="http://camunda.org/schema/1.0/bpmn" '
        'camunda:decisionRef="dmn_demo_level" id="decide_level"',
    ).replace("<spiffworkflow:calledDecisionId>dmn_demo_level</spiffworkflow:calledDecisionId>", "")
    compiled, problems = check_bpmn(camunda, known_roles=ROLES, decision_exists=lambda key: True)
    assert compiled is not None and compiled.decision_refs == {"dmn_demo_level"}
    assert not [p for p in problems if "decision" in p.message or "decisionRef" in p.message]
