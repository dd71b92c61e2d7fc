"""Parallel branches' data merged by what each branch changed (engine.bpmn.joins), on BPMN built here,
without a database: each step is run on a state saved and loaded again, as a request would."""

from __future__ import annotations

import pytest

from engine.bpmn import joins
from engine.bpmn import runtime as rt
from engine.bpmn.joins import merge_branches
from engine.bpmn.parsing import compile_bpmn
from engine.users.models import Role
from tests import hostile_bpmn as hb
from tests.saved_state import SavedState

ROLES = {r.value for r in Role}


def _flows(*pairs: str, prefix: str = "f") -> str:
    """``"a>b"`` or ``"a>b?condition"`` for each flow (ids ``prefix`` and a number)."""
    out = []
    for i, pair in enumerate(pairs):
        route, _, condition = pair.partition("?")
        src, dst = route.split(">")
        cond = f"<bpmn:conditionExpression>{condition}</bpmn:conditionExpression>" if condition else ""
        out.append(
            f'<bpmn:sequenceFlow id="{prefix}{i}" sourceRef="{src}" targetRef="{dst}">{cond}</bpmn:sequenceFlow>'
        )
    return "\n".join(out)


def _steps(*ids: str) -> str:
    return "".join(f'<bpmn:userTask id="{i}" name="{i}"/>' for i in ids)


def _compile(key: str, body: str, steps: tuple[str, ...]):
    return compile_bpmn(hb.process(key, body, steps), known_roles=ROLES)


TWO_BRANCHES = _compile(
    "two_branches",
    '<bpmn:startEvent id="s"/>'
    + _steps("fill", "a", "b", "after")
    + '<bpmn:parallelGateway id="fork"/><bpmn:parallelGateway id="join"/><bpmn:endEvent id="e"/>'
    + _flows("s>fill", "fill>fork", "fork>a", "fork>b", "a>join", "b>join", "join>after", "after>e"),
    ("fill", "a", "b", "after"),
)


def test_an_entry_in_one_branch_survives_the_other_branch_finishing_last():
    case = SavedState(TWO_BRANCHES)
    case.complete("fill", income="3000.00", note="初次填写")
    case.complete("a", income="3200.00")
    # while the other branch runs, the case's data already shows the new value
    assert case.ready() == ["b"] and case.data()["income"] == "3200.00"
    case.complete("b", note="复核后修改")
    assert case.ready() == ["after"]
    data = case.data()
    assert data["income"] == "3200.00" and data["note"] == "复核后修改"
    # the step after the join works on the merged data
    task = rt.ready_human_tasks(case.wf)[0]
    assert task.data["income"] == "3200.00" and task.data["note"] == "复核后修改"


def test_a_field_both_branches_changed_takes_the_later_entry():
    for first, second in (("a", "b"), ("b", "a")):
        case = SavedState(TWO_BRANCHES)
        case.complete("fill", decision="待定")
        case.complete(first, decision=f"{first}的意见")
        case.complete(second, decision=f"{second}的意见")
        assert case.data()["decision"] == f"{second}的意见"


def test_nested_objects_merge_field_by_field_and_list_removals_stay():
    case = SavedState(TWO_BRANCHES)
    case.complete("fill", household={"income": 3000, "size": 3}, members=["甲", "乙", "丙"])
    case.complete("a", household={"income": 3500, "size": 3}, members=["甲", "乙"])
    case.complete("b", household={"income": 3000, "size": 4})
    data = case.data()
    assert data["household"] == {"income": 3500, "size": 4}
    assert data["members"] == ["甲", "乙"]  # SpiffWorkflow's own merge would put 丙 back


LOOPS = {
    # the loop comes back into the fork itself, a second input of the parallel gateway
    "into_the_fork": ("s>fork", "again>fork?repeat == True"),
    # the loop comes back to an exclusive merge before the fork (the fork has one input)
    "before_the_fork": ("s>merge", "again>merge?repeat == True", "merge>fork"),
}


@pytest.mark.parametrize("kept", [False, True], ids=["spent_joins_removed", "spent_joins_kept"])
@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_a_loop_back_through_the_fork_waits_for_this_rounds_branches_and_keeps_their_entries(
    loop, kept, monkeypatch
):
    if kept:  # as in a case saved before the join removed them: the leftovers are told apart by the path
        monkeypatch.setattr(joins, "_bury", lambda task: None)
    looped = _compile(
        f"looped_{loop}",
        '<bpmn:startEvent id="s"/>'
        + _steps("a", "b", "review")
        + ('<bpmn:exclusiveGateway id="merge"/>' if loop == "before_the_fork" else "")
        + '<bpmn:parallelGateway id="fork"/><bpmn:parallelGateway id="join"/>'
        + '<bpmn:exclusiveGateway id="again" default="f0"/><bpmn:endEvent id="e"/>'
        + _flows(
            "again>e", "fork>a", "fork>b", "a>join", "b>join", "join>review", "review>again", *LOOPS[loop]
        ),
        ("a", "b", "review"),
    )
    case = SavedState(looped)
    sizes = []
    for round_, order in enumerate((("a", "b"), ("b", "a"), ("a", "b"), ("b", "a")), 1):
        assert case.ready() == ["a", "b"]
        case.complete(order[0], **{f"by_{order[0]}": round_})
        # the join waits for this round's other branch (SpiffWorkflow fired on the first one from the
        # second round on, counting the other branch's join left from the round before)
        assert case.ready() == [order[1]]
        assert case.data()[f"by_{order[0]}"] == round_
        case.complete(order[1], **{f"by_{order[1]}": round_})
        assert case.ready() == ["review"]
        assert {k: case.data()[k] for k in ("by_a", "by_b")} == {"by_a": round_, "by_b": round_}
        sizes.append(len(case.wf.tasks))
        case.complete("review", repeat=True)
    if not kept:
        assert len(set(sizes[1:])) == 1  # the task tree does not grow round after round


def test_a_loop_back_through_an_inclusive_fork_waits_for_both_branches_each_round():
    looped = _compile(
        "looped_inclusive",
        '<bpmn:startEvent id="s"/>'
        + _steps("a", "b", "review")
        + '<bpmn:exclusiveGateway id="merge"/><bpmn:inclusiveGateway id="fork"/>'
        + '<bpmn:inclusiveGateway id="join"/><bpmn:exclusiveGateway id="again" default="f0"/><bpmn:endEvent id="e"/>'
        + _flows(
            "again>e",
            "s>merge",
            "merge>fork",
            "fork>a?go_a == True",
            "fork>b?go_b == True",
            "a>join",
            "b>join",
            "join>review",
            "review>again",
            "again>merge?repeat == True",
        ),
        ("a", "b", "review"),
    )
    case = SavedState(looped, {"go_a": True, "go_b": True})
    sizes = []
    for round_, order in enumerate((("a", "b"), ("b", "a"), ("a", "b")), 1):
        case.complete(order[0], **{f"by_{order[0]}": round_})
        assert case.ready() == [order[1]]
        case.complete(order[1], **{f"by_{order[1]}": round_})
        assert case.ready() == ["review"]
        assert {k: case.data()[k] for k in ("by_a", "by_b")} == {"by_a": round_, "by_b": round_}
        sizes.append(len(case.wf.tasks))
        case.complete("review", repeat=True)
    assert sizes[1] == sizes[2]


def test_an_inclusive_gateway_merges_the_branches_taken():
    inclusive = _compile(
        "inclusive_branches",
        '<bpmn:startEvent id="s"/>'
        + _steps("fill", "a", "b", "c", "after")
        + '<bpmn:inclusiveGateway id="fork"/><bpmn:inclusiveGateway id="join"/><bpmn:endEvent id="e"/>'
        + _flows(
            "s>fill",
            "fill>fork",
            "fork>a?wants_a == True",
            "fork>b?wants_b == True",
            "fork>c?wants_c == True",
            "a>join",
            "b>join",
            "c>join",
            "join>after",
            "after>e",
        ),
        ("fill", "a", "b", "c", "after"),
    )
    case = SavedState(inclusive)
    case.complete("fill", wants_a=True, wants_b=True, wants_c=False, amount=100, remark="")
    assert case.ready() == ["a", "b"]
    case.complete("a", amount=150)
    case.complete("b", remark="已核实")
    assert case.ready() == ["after"]
    assert {k: case.data()[k] for k in ("amount", "remark")} == {"amount": 150, "remark": "已核实"}


def test_a_fork_within_a_branch_merges_inside_then_with_the_outer_branch():
    nested = _compile(
        "nested_branches",
        '<bpmn:startEvent id="s"/>'
        + _steps("fill", "a", "b1", "b2", "after")
        + '<bpmn:parallelGateway id="fork"/><bpmn:parallelGateway id="join"/>'
        + '<bpmn:parallelGateway id="inner_fork"/><bpmn:parallelGateway id="inner_join"/><bpmn:endEvent id="e"/>'
        + _flows(
            "s>fill",
            "fill>fork",
            "fork>a",
            "fork>inner_fork",
            "inner_fork>b1",
            "inner_fork>b2",
            "b1>inner_join",
            "b2>inner_join",
            "inner_join>join",
            "a>join",
            "join>after",
            "after>e",
        ),
        ("fill", "a", "b1", "b2", "after"),
    )
    case = SavedState(nested)
    case.complete("fill", x=0, y=0, z=0)
    case.complete("b1", x=1)
    assert case.data() == {**case.data(), "x": 1, "y": 0, "z": 0}
    case.complete("a", y=2)
    assert case.data() == {**case.data(), "x": 1, "y": 2, "z": 0}
    case.complete("b2", z=3)
    assert case.ready() == ["after"]
    assert {k: case.data()[k] for k in "xyz"} == {"x": 1, "y": 2, "z": 3}


OWN_ENDS = _compile(
    "own_ends",
    '<bpmn:startEvent id="s"/>'
    + _steps("fill", "a", "b", "c", "after")
    + '<bpmn:parallelGateway id="fork"/>'
    + '<bpmn:endEvent id="end_a"/><bpmn:endEvent id="end_b"/><bpmn:endEvent id="e"/>'
    + _flows("s>fill", "fill>fork", "fork>a", "fork>b", "fork>c", "a>end_a", "b>end_b", "c>after", "after>e"),
    ("fill", "a", "b", "c", "after"),
)


def test_branches_ending_at_their_own_end_events_keep_their_entries():
    case = SavedState(OWN_ENDS)
    case.complete("fill", income="3000.00", note="初次填写", size=3)
    case.complete("a", income="3200.00")
    case.complete("b", note="复核后修改")
    # both ended branches show while the third goes on (the second's end had cancelled the first's)
    assert case.ready() == ["c"]
    assert {k: case.data()[k] for k in ("income", "note", "size")} == {
        "income": "3200.00",
        "note": "复核后修改",
        "size": 3,
    }
    case.complete("c", size=4)
    case.complete("after", closed=True)
    wf = case.wf
    assert wf.is_completed()
    # at the case's end the branch that finished last does not put back what the others changed
    data = case.data()
    assert {k: data[k] for k in ("income", "note", "size", "closed")} == {
        "income": "3200.00",
        "note": "复核后修改",
        "size": 4,
        "closed": True,
    }


def test_a_field_changed_in_an_ended_branch_and_later_in_the_main_flow_takes_the_later_entry():
    case = SavedState(OWN_ENDS)
    case.complete("fill", decision="待定")
    case.complete("a", decision="分支意见")
    case.complete("b")
    case.complete("c")
    case.complete("after", decision="最终意见")
    assert case.data()["decision"] == "最终意见"


def test_a_branch_ending_inside_a_subprocess_keeps_its_entry_after_the_subprocess():
    sub = (
        '<bpmn:subProcess id="sub"><bpmn:startEvent id="ss"/>'
        + _steps("a", "b")
        + '<bpmn:parallelGateway id="fork"/><bpmn:endEvent id="end_a"/><bpmn:endEvent id="end_b"/>'
        + _flows("ss>fork", "fork>a", "fork>b", "a>end_a", "b>end_b", prefix="sf")
        + "</bpmn:subProcess>"
    )
    compiled = _compile(
        "ends_in_subprocess",
        '<bpmn:startEvent id="s"/>'
        + _steps("fill", "after")
        + sub
        + '<bpmn:endEvent id="e"/>'
        + _flows("s>fill", "fill>sub", "sub>after", "after>e"),
        ("fill", "a", "b", "after"),
    )
    case = SavedState(compiled)
    case.complete("fill", income="3000.00", note="初次填写")
    case.complete("a", income="3200.00")
    assert case.data()["income"] == "3200.00"
    case.complete("b", note="复核后修改")
    assert case.ready() == ["after"]
    assert {k: case.data()[k] for k in ("income", "note")} == {"income": "3200.00", "note": "复核后修改"}
    task = rt.ready_human_tasks(case.wf)[0]
    assert task.data["income"] == "3200.00"


@pytest.mark.parametrize(
    ("base", "branches", "merged"),
    [
        ({"a": 1}, [{"a": 1}, {"a": 2}], {"a": 2}),
        ({"a": 1}, [{"a": 2}, {"a": 1}], {"a": 2}),  # the branch that left it alone does not undo it
        ({"a": 1, "b": 1}, [{"a": 1}], {"a": 1}),  # a field a branch removed is removed
        ({}, [{"n": {"p": 1}}, {"n": {"q": 2}}], {"n": {"q": 2}}),  # both added it: the later wins
        ({"n": {"p": 1}}, [{"n": {"p": 2}}, {"n": {"p": 1, "q": 3}}], {"n": {"p": 2, "q": 3}}),
    ],
)
@pytest.mark.parametrize("share", [False, True])
def test_merge_branches(base, branches, merged, share):
    before = repr((base, branches))
    result = merge_branches(base, branches, share=share)
    assert result == merged
    assert repr((base, branches)) == before  # neither the base nor a branch is changed
    if not share:  # a copy of its own: changing it changes neither (shared values are only read)
        result.get("n", {})["z"] = 1
        assert repr((base, branches)) == before
