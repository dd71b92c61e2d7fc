"""Rebuilding a case's serialized state on another version of its procedure (engine/bpmn/migrate_state.py),
without a database: what moves, what may not, and that the moved workflow runs on the target's flows."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

from engine.bpmn import migrate_state
from engine.bpmn import runtime as rt
from engine.bpmn.parsing import compile_bpmn
from engine.users.models import Role
from tests.helpers import DEMO_PARAMS

ROOT = Path(__file__).resolve().parents[2]
ROLES = {r.value for r in Role}
DEMO = (ROOT / "processes" / "demo_assistance.bpmn").read_text(encoding="utf-8")
APPLICATION = {"amount_requested": Decimal("6000.50"), "household_size": 3}


def compiled(xml: str):
    return compile_bpmn(xml.encode("utf-8"), known_roles=ROLES)


def rename_id(xml: str, old: str, new: str) -> str:
    """The element ``old`` is gone: every reference to it (flows, diagram) names ``new`` instead."""
    return re.sub(rf'(?<=[">]){old}(?=["<])', new, xml)


def at_review():
    """A case of the demo procedure waiting at 受理审核 (review), its application done."""
    old = compiled(DEMO)
    wf = rt.new_workflow(old, dict(DEMO_PARAMS))
    rt.advance(wf)
    task = next(t for t in rt.ready_human_tasks(wf) if t.task_spec.bpmn_id == "application")
    task.set_data(**APPLICATION)
    task.run()
    rt.advance(wf)
    assert [t.task_spec.bpmn_id for t in rt.ready_human_tasks(wf)] == ["review"]
    return old, rt.dump_state(wf)


def test_a_case_moves_with_its_data_and_then_follows_the_target_version():
    old, state = at_review()
    # version 2: the review step renamed, the finished application step gone (kept as a placeholder)
    xml = rename_id(DEMO.replace('name="受理审核"', 'name="受理审核（新）"', 1), "application", "apply_v2")
    new = compiled(xml)
    reasons: list[str] = []
    wf = migrate_state.rebuild(state, old, new, reasons)
    assert reasons == []
    assert wf is not None
    ready = rt.ready_human_tasks(wf)
    assert [t.task_spec.bpmn_id for t in ready] == ["review"]
    assert ready[0].task_spec is new.spec.task_specs["review"]  # the target's element, with its new name
    assert ready[0].task_spec.bpmn_name == "受理审核（新）"
    assert rt.current_data(wf)["amount_requested"] == Decimal("6000.50")
    # it runs on: approving opens the target's two parallel branches
    ready[0].set_data(decision="approve", amount_approved=Decimal("5000"))
    ready[0].run()
    rt.advance(wf)
    assert sorted(t.task_spec.bpmn_id for t in rt.ready_human_tasks(wf)) == ["disbursement", "visit"]
    # and the rebuilt state survives the runtime's own round trip on the target
    again = rt.load_state(rt.dump_state(wf), new)
    assert sorted(t.task_spec.bpmn_id for t in rt.ready_human_tasks(again)) == ["disbursement", "visit"]


def test_an_active_step_missing_in_the_target_keeps_the_case_where_it_is():
    old, state = at_review()
    reasons: list[str] = []
    assert (
        migrate_state.rebuild(state, old, compiled(rename_id(DEMO, "review", "review_v2")), reasons) is None
    )
    assert len(reasons) == 1
    assert reasons[0].startswith("review: 当前环节在目标版本中不存在")


def test_an_active_step_of_another_type_cannot_move():
    old, state = at_review()
    block = re.search(r'<bpmn:userTask id="review".*?</bpmn:userTask>', DEMO, re.S)
    assert block is not None
    manual = block.group(0).replace("bpmn:userTask", "bpmn:manualTask")
    reasons: list[str] = []
    assert migrate_state.rebuild(state, old, compiled(DEMO.replace(block.group(0), manual)), reasons) is None
    assert len(reasons) == 1
    assert "review: 元素类型已变更" in reasons[0]
    assert "→ ManualTask" in reasons[0]


def test_another_main_process_is_refused_before_anything_is_rebuilt():
    old, state = at_review()
    reasons: list[str] = []
    other = compiled(rename_id(DEMO, "demo_assistance", "demo_other"))
    assert migrate_state.rebuild(state, old, other, reasons) is None
    assert reasons == ["流程主进程标识不同（demo_assistance → demo_other）/ main process id differs"]
