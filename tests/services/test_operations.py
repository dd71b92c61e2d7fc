"""Instance operations on the real database: suspend / resume, terminate, reassign, move back, edit data,
and migration to another version (possible, impossible, batch with mixed results)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from engine.audit.models import AuditEvent
from engine.deadlines import calendar
from engine.deadlines import service as deadlines
from engine.definitions import service as definitions
from engine.errors import Conflict, Forbidden, Invalid
from engine.instances import operations as ops
from engine.instances import service as instances
from engine.instances.models import InstanceStatus, ProcessInstance
from engine.tasks import service as tasks
from engine.tasks.models import HumanTask, TaskStatus
from tests.conftest import get_user
from tests.factories import (
    STREET,
    application_data,
    complete,
    disbursement_data,
    open_task,
    review_data,
    start_demo,
    to_parallel_stage,
    visit_data,
)
from tests.procedures.helpers import application, ca_variant

CA = "comprehensive_assistance"


def deploy(session, xml: str):
    definition, created = definitions.deploy(session, xml, source="test")
    assert created
    return definition


def start_ca(session, *, at: str = "acceptance"):
    advisor = get_user(session, "pt_advisor")
    instance = instances.start(session, advisor, CA, STREET)
    complete(session, "pt_advisor", instance.id, "application", application())
    if at == "home_investigation":
        complete(session, "pt_officer", instance.id, "acceptance", {"accepted": True})
    assert [t.bpmn_id for t in tasks.open_tasks_of(session, instance.id)] == [at]
    return instance


def events(session, instance_id: int, action: str) -> list[AuditEvent]:
    stmt = select(AuditEvent).where(AuditEvent.instance_id == instance_id, AuditEvent.action == action)
    return list(session.scalars(stmt.order_by(AuditEvent.id)))


# --- permissions and reasons ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "allowed"),
    [
        ("admin", True),
        ("pt_district", True),
        ("pd_district", False),
        ("pt_officer", False),
        ("pt_head", False),
    ],
)
def test_who_may_suspend(session, username, allowed):
    instance = start_demo(session)
    user = get_user(session, username)
    if allowed:
        ops.suspend(session, user, instance.id, "核查材料")
        assert instance.status == InstanceStatus.SUSPENDED
    else:
        with pytest.raises(Forbidden):
            ops.suspend(session, user, instance.id, "核查材料")


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_every_operation_needs_a_reason(session, reason):
    instance = start_demo(session)
    admin = get_user(session, "admin")
    row = open_task(session, instance.id, "application")
    calls = [
        lambda: ops.suspend(session, admin, instance.id, reason),
        lambda: ops.terminate(session, admin, instance.id, reason),
        lambda: ops.reassign(session, admin, row.id, "pt_advisor2", reason),
        lambda: ops.move_back(session, admin, instance.id, "application", reason),
        lambda: ops.edit_data(session, admin, instance.id, {"x": 1}, [], reason),
        lambda: ops.migrate(session, admin, instance.id, 1, reason),
    ]
    for call in calls:
        with pytest.raises(Invalid) as info:
            call()
        assert "reason" in info.value.fields
    assert instance.status == InstanceStatus.RUNNING


# --- suspend / resume / terminate ------------------------------------------------------------------------


def test_suspended_instance_refuses_work_and_timers_do_not_fire(session):
    instance = start_demo(session)
    admin = get_user(session, "admin")
    row = open_task(session, instance.id, "application")
    ops.suspend(session, admin, instance.id, "等待公安核查")
    session.commit()
    assert instance.next_wakeup_at is None
    advisor = get_user(session, "pt_advisor")
    with pytest.raises(Conflict):
        tasks.claim(session, advisor, row.id)
    with pytest.raises(Conflict):
        tasks.complete(session, advisor, row.id, application_data())
    session.rollback()
    # the scheduler never picks it up, however late it is
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=400)
    assert deadlines.claim_due(session, later) is None
    session.rollback()
    ops.resume(session, admin, instance.id, "核查完毕")
    session.commit()
    assert instance.status == InstanceStatus.RUNNING and instance.next_wakeup_at is not None
    tasks.complete(session, advisor, row.id, application_data())
    session.commit()
    suspended = events(session, instance.id, "instance.suspended")
    resumed = events(session, instance.id, "instance.resumed")
    assert suspended[0].details["reason"] == "等待公安核查" and suspended[0].actor_id == admin.id
    assert resumed[0].details["before"] == {"status": "suspended"}


def test_suspend_twice_and_resume_running_conflict(session):
    instance = start_demo(session)
    admin = get_user(session, "admin")
    with pytest.raises(Conflict):
        ops.resume(session, admin, instance.id, "x")
    ops.suspend(session, admin, instance.id, "x")
    with pytest.raises(Conflict):
        ops.suspend(session, admin, instance.id, "x")


def test_terminate_cancels_open_tasks(session):
    instance = to_parallel_stage(session)
    district_head = get_user(session, "pt_district")
    ops.terminate(session, district_head, instance.id, "申请人撤回申请")
    session.commit()
    session.expire_all()
    done = session.get(ProcessInstance, instance.id)
    assert done.status == InstanceStatus.TERMINATED and done.ended_at is not None
    assert done.next_wakeup_at is None
    rows = session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id)).all()
    assert {r.bpmn_id: r.state for r in rows if r.bpmn_id in ("visit", "disbursement")} == {
        "visit": TaskStatus.CANCELLED,
        "disbursement": TaskStatus.CANCELLED,
    }
    [event] = events(session, instance.id, "instance.terminated")
    assert event.details["reason"] == "申请人撤回申请" and len(event.details["cancelled_tasks"]) == 2
    with pytest.raises(Conflict):
        ops.terminate(session, district_head, instance.id, "again")


# --- reassign ----------------------------------------------------------------------------------------------


def test_reassign_with_reason(session):
    instance = start_demo(session)
    row = open_task(session, instance.id, "application")
    tasks.claim(session, get_user(session, "pt_advisor"), row.id)
    ops.reassign(session, get_user(session, "pt_district"), row.id, "pt_advisor2", "原经办人休假")
    session.commit()
    assert row.state == TaskStatus.CLAIMED and row.assignee_id == get_user(session, "pt_advisor2").id
    [event] = session.scalars(
        select(AuditEvent).where(AuditEvent.task_id == row.id, AuditEvent.action == "task.reassigned")
    ).all()
    assert event.details["after"]["assignee"] == "pt_advisor2" and event.details["reason"] == "原经办人休假"
    with pytest.raises(Invalid) as info:
        ops.reassign(session, get_user(session, "admin"), row.id, "pt_officer", "wrong role")
    assert "username" in info.value.fields
    with pytest.raises(Invalid):
        ops.reassign(session, get_user(session, "admin"), row.id, "nobody_here", "unknown")
    with pytest.raises(Forbidden):
        ops.reassign(session, get_user(session, "pd_district"), row.id, "pt_advisor", "other district")
    with pytest.raises(Forbidden):
        ops.reassign(session, get_user(session, "pt_head"), row.id, "pt_advisor", "street head")


# --- move back ------------------------------------------------------------------------------------------------


def test_move_back_then_complete_again(session):
    instance = to_parallel_stage(session)
    session.commit()
    current = {r.bpmn_id: r.id for r in tasks.open_tasks_of(session, instance.id)}
    assert set(current) == {"visit", "disbursement"}
    admin = get_user(session, "admin")
    assert [b for b, _n in ops.move_back_targets(session, instance)] == ["application", "review"]
    ops.move_back(session, admin, instance.id, "review", "评审意见有误，重新审核")
    session.commit()
    session.expire_all()
    rows = {r.id: r for r in session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id))}
    assert all(rows[i].state == TaskStatus.CANCELLED for i in current.values())
    [again] = tasks.open_tasks_of(session, instance.id)
    assert again.bpmn_id == "review" and again.state == TaskStatus.READY and again.id not in current.values()
    assert again.due_at is not None
    # the case's data is kept (the earlier submission prefills the form)
    assert session.get(ProcessInstance, instance.id).data["decision"] == "approve"
    complete(
        session, "pt_officer", instance.id, "review", review_data(decision="reject", amount_approved="0.00")
    )
    session.commit()
    session.expire_all()
    done = session.get(ProcessInstance, instance.id)
    assert done.status == InstanceStatus.COMPLETED and tasks.open_tasks_of(session, instance.id) == []
    [event] = events(session, instance.id, "instance.moved_back")
    assert event.details["before"]["active"] == ["disbursement", "visit"]
    assert event.details["after"]["active"] == ["review"] and event.actor_id == admin.id


def test_move_back_refusals(session):
    instance = to_parallel_stage(session)
    complete(session, "pt_advisor", instance.id, "visit", visit_data(more=True))
    admin = get_user(session, "admin")
    # visit lies in one parallel branch: it does not lead to the disbursement still open
    with pytest.raises(Invalid) as info:
        ops.move_back(session, admin, instance.id, "visit", "redo visit")
    assert "disbursement" in info.value.fields["task_element_id"][0]
    with pytest.raises(Invalid):  # never completed in this case
        ops.move_back(session, admin, instance.id, "disbursement", "x")
    with pytest.raises(Forbidden):
        ops.move_back(session, get_user(session, "pt_officer"), instance.id, "review", "x")


def test_move_back_on_ca_then_on_again(session):
    instance = start_ca(session, at="home_investigation")
    ops.move_back(session, get_user(session, "admin"), instance.id, "acceptance", "受理信息错误")
    assert [t.bpmn_id for t in tasks.open_tasks_of(session, instance.id)] == ["acceptance"]
    complete(session, "pt_officer", instance.id, "acceptance", {"accepted": True})
    assert [t.bpmn_id for t in tasks.open_tasks_of(session, instance.id)] == ["home_investigation"]


# --- edit data -------------------------------------------------------------------------------------------------


def test_edit_data_is_seen_by_a_later_script(session):
    instance = start_demo(session)
    complete(session, "pt_advisor", instance.id, "application", application_data(amount_requested="6000.50"))
    admin = get_user(session, "admin")
    before = instance.data["amount_requested"]
    ops.edit_data(
        session, admin, instance.id, {"amount_requested": 4000, "note": "更正"}, [], "申请金额录入错误"
    )
    assert instance.data["amount_requested"] == 4000 and instance.data["note"] == "更正"
    complete(session, "pt_officer", instance.id, "review", review_data(amount_approved="3000.00"))
    session.commit()
    # the script task after review computed from the edited amount
    assert session.get(ProcessInstance, instance.id).data["needs_district_review"] is False
    [event] = events(session, instance.id, "instance.data_edited")
    assert event.details["before"] == {"amount_requested": str(before), "note": None}
    assert event.details["after"] == {"amount_requested": 4000, "note": "更正"}
    ops.edit_data(session, admin, instance.id, None, ["note"], "多余字段")
    assert "note" not in instance.data


def test_edit_data_while_two_branches_run_is_kept_with_each_branchs_entry(session):
    """Corrections made while the visit and the disbursement are both open (the second after the visit
    finished, while it waits at the join) are kept with each branch's entry: in the data shown while
    the other branch runs, and after the join (engine.bpmn.joins merges the branches by their changes;
    a correction is written into the waiting join too, which must not stand for the branch)."""
    instance = to_parallel_stage(session)
    admin = get_user(session, "admin")
    ops.edit_data(session, admin, instance.id, {"note": "户籍信息已更正"}, [], "户籍地址录入错误")
    complete(session, "pt_advisor", instance.id, "visit", visit_data(summary="第一次走访"))
    assert instance.data["note"] == "户籍信息已更正" and instance.data["summary"] == "第一次走访"
    ops.edit_data(session, admin, instance.id, {"note": "二次更正"}, [], "再次核对户籍")
    complete(session, "pt_finance", instance.id, "disbursement", disbursement_data(amount_paid="4800.00"))
    session.commit()
    data = session.get(ProcessInstance, instance.id).data
    assert data["note"] == "二次更正" and data["summary"] == "第一次走访"
    assert str(data["amount_paid"]) in ("4800.00", "4800")


def test_edit_data_refusals(session):
    instance = start_demo(session)
    admin = get_user(session, "admin")
    for set_, unset, field in [
        ({"bad key": 1}, [], "set.bad key"),
        ({}, [], "set"),
        ({"a": 1}, ["a"], "unset.a"),
        ({}, ["not_there"], "unset.not_there"),
        ([1], [], "set"),
        ({}, "x", "unset"),
    ]:
        with pytest.raises(Invalid) as info:
            ops.edit_data(session, admin, instance.id, set_, unset, "reason")
        assert field in info.value.fields, (set_, unset, info.value.fields)


# --- migration --------------------------------------------------------------------------------------------------


def test_migrate_renamed_task_with_new_deadline(session):
    instance = start_ca(session)
    old_definition = instance.definition_id
    row = open_task(session, instance.id, "acceptance")
    old_due = row.due_at
    v2 = deploy(session, ca_variant(rename="受理（新版）", deadline="7 working days"))
    # a new case runs on version 2, the old one stays on its version
    newer = instances.start(session, get_user(session, "pt_advisor"), CA, STREET)
    assert newer.definition_id == v2.id and instance.definition_id == old_definition
    admin = get_user(session, "admin")
    dry = ops.migrate(session, admin, instance.id, v2.version, None, dry_run=True)
    assert dry == {"id": instance.id, "can_migrate": True, "reasons": [], "migrated": False}
    assert instance.definition_id == old_definition
    ops.migrate(session, admin, instance.id, v2.version, "新版受理期限")
    session.commit()
    session.expire_all()
    moved = session.get(ProcessInstance, instance.id)
    assert moved.definition_id == v2.id
    [same] = tasks.open_tasks_of(session, instance.id)
    assert same.id == row.id and same.name == "受理（新版）" and same.deadline == "7 working days"
    assert same.due_at == calendar.due_after(same.created_at, "7 working days").astimezone(dt.UTC)
    assert same.due_at > old_due
    assert moved.next_wakeup_at is not None
    [event] = events(session, instance.id, "instance.migrated")
    assert event.details["before"]["definition_id"] == old_definition
    assert event.details["after"] == {"definition_id": v2.id, "version": v2.version}
    assert event.details["tasks"][0]["after"]["name"] == "受理（新版）"
    # the migrated case goes on on version 2
    complete(session, "pt_officer", instance.id, "acceptance", {"accepted": True})
    assert [t.bpmn_id for t in tasks.open_tasks_of(session, instance.id)] == ["home_investigation"]


def test_migrate_impossible_when_active_element_removed(session):
    instance = start_ca(session)
    session.commit()
    state, version = instance.state, instance.version
    v2 = deploy(session, ca_variant(drop="acceptance"))
    admin = get_user(session, "admin")
    dry = ops.migrate(session, admin, instance.id, v2.version, None, dry_run=True)
    assert dry["can_migrate"] is False and "acceptance" in dry["reasons"][0]
    with pytest.raises(Conflict) as info:
        ops.migrate(session, admin, instance.id, v2.version, "try anyway")
    assert "acceptance" in info.value.message
    session.rollback()
    session.expire_all()
    unchanged = session.get(ProcessInstance, instance.id)
    assert unchanged.state == state and unchanged.version == version and unchanged.definition_id != v2.id
    assert events(session, instance.id, "instance.migrated") == []


def test_migrate_refusals(session):
    instance = start_ca(session)
    admin = get_user(session, "admin")
    with pytest.raises(Invalid):
        ops.migrate(session, admin, instance.id, 99, "no such version")
    current = session.get(ProcessInstance, instance.id).definition.version
    assert ops.migrate(session, admin, instance.id, current, None, dry_run=True)["can_migrate"] is False
    with pytest.raises(Forbidden):
        ops.migrate(session, get_user(session, "pd_district"), instance.id, current, "x", dry_run=True)


def test_batch_migration_with_mixed_results(session):
    at_acceptance = start_ca(session)
    at_investigation = start_ca(session, at="home_investigation")
    v1 = session.get(ProcessInstance, at_acceptance.id).definition.version
    investigation_row = open_task(session, at_investigation.id, "home_investigation")
    v2 = deploy(session, ca_variant(rename="受理（新版）", drop="home_investigation"))
    admin = get_user(session, "admin")
    session.commit()
    dry = ops.migrate_batch(session, admin, CA, v1, v2.version, None, dry_run=True)
    by_id = {r["id"]: r for r in dry}
    assert by_id[at_acceptance.id]["can_migrate"] is True
    assert by_id[at_investigation.id]["can_migrate"] is False
    assert "home_investigation" in by_id[at_investigation.id]["reasons"][0]
    with pytest.raises(Invalid):
        ops.migrate_batch(session, admin, CA, v1, v2.version, "", dry_run=False)
    done = ops.migrate_batch(session, admin, CA, v1, v2.version, "批量迁移到新版", dry_run=False)
    session.commit()
    session.expire_all()
    assert {r["id"]: r["migrated"] for r in done} == {at_acceptance.id: True, at_investigation.id: False}
    assert session.get(ProcessInstance, at_acceptance.id).definition_id == v2.id
    stayed = session.get(ProcessInstance, at_investigation.id)
    assert stayed.definition_id != v2.id
    assert session.get(HumanTask, investigation_row.id).state == TaskStatus.READY
    assert len(events(session, at_acceptance.id, "instance.migrated")) == 1
    assert events(session, at_investigation.id, "instance.migrated") == []
    # the one left behind still works on its own version
    complete(
        session,
        "pt_advisor",
        at_investigation.id,
        "home_investigation",
        {"visit_date": "2026-11-18", "findings": "入户核实，家庭情况属实", "household_verified": True},
    )
    assert [t.bpmn_id for t in tasks.open_tasks_of(session, at_investigation.id)] == ["assessment"]
    # a district head of another district sees none of these instances
    assert ops.migrate_batch(session, get_user(session, "pd_district"), CA, v1, v2.version, None) == []
    with pytest.raises(Forbidden):
        ops.migrate_batch(session, get_user(session, "pt_officer"), CA, v1, v2.version, None)


def test_migrate_waiting_timer_keeps_its_due_time(session):
    """An instance waiting on a timer (no human task) moves and keeps the timer's due time."""
    from tests.procedures.helpers import approve, assess, pay, review

    instance = start_ca(session)
    complete(session, "pt_officer", instance.id, "acceptance", {"accepted": True})
    complete(
        session,
        "pt_advisor",
        instance.id,
        "home_investigation",
        {"visit_date": "2026-11-18", "findings": "入户核实，家庭情况属实", "household_verified": True},
    )
    complete(session, "pt_officer", instance.id, "assessment", assess())
    complete(session, "pt_panel", instance.id, "democratic_review", review())
    complete(session, "pt_head", instance.id, "street_approval", approve())
    complete(session, "pt_finance", instance.id, "disbursement", pay())
    assert tasks.open_tasks_of(session, instance.id) == []
    before = instances.waiting_timers(session, get_user(session, "admin"), instance.id)
    v2 = deploy(session, ca_variant(rename="受理（新版）"))
    ops.migrate(session, get_user(session, "admin"), instance.id, v2.version, "新版")
    after = instances.waiting_timers(session, get_user(session, "admin"), instance.id)
    assert before == after and after[0]["bpmn_id"] == "follow_up_wait"
    assert instance.next_wakeup_at == after[0]["due_at"]
