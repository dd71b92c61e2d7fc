"""Deadlines, SLA levels and BPMN timers, driven by time travel (time-machine) on the real database."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import time_machine
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine.audit.models import AuditEvent
from engine.deadlines import calendar as cal
from engine.deadlines import service as deadlines
from engine.errors import Conflict, Forbidden, Invalid
from engine.instances import service as instances
from engine.instances.models import ProcessInstance
from engine.notifications.models import Notification
from engine.tasks import service as tasks
from engine.tasks.models import HumanTask, SlaLevel, TaskStatus
from tests.conftest import ROOT, get_user
from tests.factories import STREET, application_data, open_task, start_demo

SH = cal.SHANGHAI
MONDAY = dt.datetime(2026, 11, 2, 10, 0, tzinfo=SH)  # an ordinary week
DUE_DAY = "2026-11-06"  # the day the demo application falls due (as the notices write it)


def at(moment: dt.datetime):
    return time_machine.travel(moment, tick=False)


def run(engine, moment: dt.datetime):
    with at(moment):
        return deadlines.run_due(sessionmaker(bind=engine, expire_on_commit=False))


def notified(session: Session, kind: str) -> list[str]:
    from engine.users.models import User

    rows = session.execute(
        select(User.username)
        .join(Notification, Notification.user_id == User.id)
        .where(Notification.kind == kind)
    )
    return sorted(r[0] for r in rows)


def actions(session: Session, instance_id: int) -> list[str]:
    stmt = select(AuditEvent.action).where(AuditEvent.instance_id == instance_id).order_by(AuditEvent.id)
    return list(session.scalars(stmt))


def start(session: Session, key: str, username: str = "pt_advisor", **data):
    user = get_user(session, username)
    return instances.start(session, user, key, STREET, data=data or None)


def test_task_gets_due_time_and_thresholds_from_bpmn(session):
    with at(MONDAY):
        instance = start_demo(session)
        session.commit()
    row = open_task(session, instance.id, "application")
    assert row.deadline == "3 working days"
    assert row.due_at == dt.datetime(2026, 11, 6, 0, 0, tzinfo=SH)  # end of Thursday 5 November
    assert row.warn_at == dt.datetime(2026, 11, 5, 0, 0, tzinfo=SH)  # one working day before
    assert row.escalate_at == dt.datetime(2026, 11, 11, 0, 0, tzinfo=SH)  # three working days after
    assert session.get(ProcessInstance, instance.id).next_wakeup_at == row.warn_at


def test_sla_levels_fire_once_each_in_order(engine, session):
    with at(MONDAY):
        instance = start_demo(session)
        session.commit()
    row_id = open_task(session, instance.id, "application").id
    assert run(engine, MONDAY + dt.timedelta(hours=1)) == []

    # yellow: the unclaimed task's group is reminded
    done = run(engine, dt.datetime(2026, 11, 5, 9, 0, tzinfo=SH))
    assert [(r.instance_id, r.sla) for r in done] == [(instance.id, [(row_id, SlaLevel.YELLOW)])]
    session.expire_all()
    assert notified(session, "reminder") == ["pt_advisor", "pt_advisor2"]
    assert run(engine, dt.datetime(2026, 11, 5, 9, 30, tzinfo=SH)) == []  # nothing twice
    with at(dt.datetime(2026, 11, 5, 9, 30, tzinfo=SH)):
        colours = tasks.inbox(session, get_user(session, "pt_advisor"), sla="yellow")
        assert [r.id for r in colours[0]] == [row_id]
        tasks.claim(session, get_user(session, "pt_advisor"), row_id)
        session.commit()

    # orange: the street's supervisor is told
    run(engine, dt.datetime(2026, 11, 6, 9, 0, tzinfo=SH))
    session.expire_all()
    assert notified(session, "overdue") == ["pt_head"]
    with at(dt.datetime(2026, 11, 6, 9, 0, tzinfo=SH)):
        assert tasks.inbox(session, get_user(session, "pt_advisor"), scope="mine", overdue=True)[1] == 1

    # red: offered to the district group, released from its assignee, escalation recorded
    run(engine, dt.datetime(2026, 11, 11, 9, 0, tzinfo=SH))
    session.expire_all()
    row = session.get(HumanTask, row_id)
    assert row.sla_level == SlaLevel.RED and row.escalated_role == "district_officer"
    assert row.state == TaskStatus.READY and row.assignee_id is None
    assert notified(session, "escalation") == ["pt_district"]
    district = get_user(session, "pt_district")
    assert [r.id for r in tasks.inbox(session, district, scope="claimable")[0]] == [row_id]
    # what each notice says: the step, the case by its number, the role by its name, in both languages
    said = {
        n.kind.value: n.body
        for n in session.scalars(select(Notification).where(Notification.task_id == row_id))
        if n.kind.value != "new_task"
    }
    case = session.get(ProcessInstance, instance.id).business_key
    step = f"「填写帮扶申请」（案件 {case}）", f'"Assistance application" (case {case})'  # its form's title
    assert said == {
        "reminder": f"待办{step[0]}将于 {DUE_DAY} 到期，请及时办理。 / The task {step[1]} is due on {DUE_DAY}.",
        "overdue": f"待办{step[0]}已于 {DUE_DAY} 到期未办结，请督办。 / The task {step[1]} was due on "
        f"{DUE_DAY} and is not done: please follow it up.",
        "escalation": f"待办{step[0]}逾期未办结，已升级督办（区民政局救助科）。 / The task {step[1]} is "
        "overdue and has been escalated (District civil affairs officer).",
    }
    assert run(engine, dt.datetime(2026, 11, 20, 9, 0, tzinfo=SH)) == []
    assert [a for a in actions(session, instance.id) if a.startswith("task.") and a != "task.created"] == [
        "task.reminded",
        "task.claimed",
        "task.overdue",
        "task.escalated",
    ]
    tasks.complete(session, district, row_id, application_data())
    session.commit()


def test_scheduler_down_for_days_catches_up_in_order(engine, session):
    with at(MONDAY):
        instance = start_demo(session)
        session.commit()
    done = run(engine, dt.datetime(2026, 11, 16, 9, 0, tzinfo=SH))
    assert [level for _row, level in done[0].sla] == [SlaLevel.YELLOW, SlaLevel.ORANGE, SlaLevel.RED]
    assert [
        a for a in actions(session, instance.id) if a in ("task.reminded", "task.overdue", "task.escalated")
    ] == [
        "task.reminded",
        "task.overdue",
        "task.escalated",
    ]
    session.expire_all()
    assert session.get(ProcessInstance, instance.id).next_wakeup_at is None


def test_completed_task_fires_nothing(engine, session):
    with at(MONDAY):
        instance = start_demo(session)
        tasks.complete(
            session,
            get_user(session, "pt_advisor"),
            open_task(session, instance.id, "application").id,
            application_data(),
        )
        session.commit()
    run(engine, dt.datetime(2026, 11, 7, 9, 0, tzinfo=SH))
    session.expire_all()
    assert notified(session, "reminder") == notified(session, "overdue") == []


def test_supervisor_extends_deadline_with_reason(engine, session):
    with at(MONDAY):
        instance = start_demo(session)
        session.commit()
    row_id = open_task(session, instance.id, "application").id
    run(engine, dt.datetime(2026, 11, 5, 9, 0, tzinfo=SH))  # yellow fired
    with at(dt.datetime(2026, 11, 5, 10, 0, tzinfo=SH)):
        tasks.claim(session, get_user(session, "pt_advisor"), row_id)
        with pytest.raises(Forbidden):
            tasks.change_deadline(
                session, get_user(session, "pt_advisor"), row_id, reason="想延期", extend_by="5 days"
            )
        with pytest.raises(Invalid):
            tasks.change_deadline(
                session, get_user(session, "pt_head"), row_id, reason="无", extend_by="whenever"
            )
        with pytest.raises(Invalid):
            tasks.change_deadline(
                session,
                get_user(session, "pt_head"),
                row_id,
                reason="过去",
                due_at=dt.datetime(2026, 11, 1, tzinfo=SH),
            )
        row = tasks.change_deadline(
            session,
            get_user(session, "pt_head"),
            row_id,
            reason="家庭成员住院，补充材料需时",
            extend_by="5 working days",
        )
        session.commit()
    assert row.due_at == dt.datetime(2026, 11, 13, 0, 0, tzinfo=SH)  # was the end of 5 Nov; +6, 9, 10, 11, 12
    assert row.sla_level == SlaLevel.GREEN
    assert notified(session, "deadline_changed") == ["pt_advisor"]
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "task.deadline_changed")).one()
    assert (
        event.details["reason"] == "家庭成员住院，补充材料需时"
        and event.actor_id == get_user(session, "pt_head").id
    )
    assert session.get(ProcessInstance, instance.id).next_wakeup_at == row.warn_at
    # the reminder fires again for the new deadline, once
    run(engine, dt.datetime(2026, 11, 12, 9, 0, tzinfo=SH))
    session.expire_all()
    assert notified(session, "reminder").count("pt_advisor") == 2


def test_deadline_from_task_data(session):
    props = {"deadline": "follow_up_due"}
    due, _text = deadlines.deadline_for(props, {"follow_up_due": dt.date(2026, 12, 1)}, MONDAY)
    assert due == dt.datetime(2026, 12, 2, 0, 0, tzinfo=SH)
    due, _text = deadlines.deadline_for(props, {"follow_up_due": "10 working days"}, MONDAY)
    assert due == dt.datetime(2026, 11, 17, 0, 0, tzinfo=SH)
    assert deadlines.deadline_for(props, {}, MONDAY)[0] is None
    assert deadlines.deadline_for({}, {}, MONDAY) == (None, None)


# --- BPMN timers -------------------------------------------------------------------------------


def test_intermediate_timer_fires_after_its_duration(engine, session):
    with at(MONDAY):
        instance = start(session, "timer_wait", "pt_officer", wait="PT1H")
        session.commit()
    assert tasks.open_tasks_of(session, instance.id) == []
    assert run(engine, MONDAY + dt.timedelta(minutes=59)) == []
    done = run(engine, MONDAY + dt.timedelta(minutes=61))
    assert done[0].timers == ["wait"]
    assert [t.bpmn_id for t in tasks.open_tasks_of(session, instance.id)] == ["after_wait"]
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "timer.fired")).one()
    assert event.details["bpmn_id"] == "wait"


def test_boundary_timers_cycle_non_interrupting_and_interrupting(engine, session):
    with at(MONDAY):
        instance = start(session, "timer_boundary", "pt_officer")
        session.commit()
    investigate = open_task(session, instance.id, "investigate").id
    # the R3/PT24H cycle: a scheduler down for three days catches up every occurrence
    run(engine, MONDAY + dt.timedelta(days=3, hours=1))
    names = sorted(t.bpmn_id for t in tasks.open_tasks_of(session, instance.id))
    assert names == ["daily_check", "daily_check", "daily_check", "investigate"]
    # P5D (unquoted) non-interrupting: a follow-up task beside the investigation
    run(engine, MONDAY + dt.timedelta(days=5, hours=1))
    names = sorted(t.bpmn_id for t in tasks.open_tasks_of(session, instance.id))
    assert names.count("remind_followup") == 1 and "investigate" in names
    # "P10D" (quoted) interrupting: the investigation is cancelled and the timeout handled
    run(engine, MONDAY + dt.timedelta(days=10, hours=1))
    session.expire_all()
    assert session.get(HumanTask, investigate).state == TaskStatus.CANCELLED
    assert "handle_timeout" in [t.bpmn_id for t in tasks.open_tasks_of(session, instance.id)]
    with pytest.raises(Conflict):
        tasks.complete(session, get_user(session, "pt_officer"), investigate, {})


def test_missed_timers_fire_in_due_order(engine, session):
    with at(MONDAY):
        late = start(session, "timer_wait", "pt_officer", wait="PT3H")
        early = start(session, "timer_wait", "pt_officer", wait="PT1H")
        middle = start(session, "timer_wait", "pt_officer", wait="PT2H")
        session.commit()
    done = run(engine, MONDAY + dt.timedelta(hours=5))
    assert [r.instance_id for r in done] == [early.id, middle.id, late.id]


def test_timers_endpoint_lists_waiting_timers(engine, session):
    with at(MONDAY):
        instance = start(session, "timer_boundary", "pt_officer")
        session.commit()
        listed = instances.waiting_timers(session, get_user(session, "pt_officer"), instance.id)
    assert [(t["bpmn_id"], t["due_at"]) for t in listed] == [
        ("daily", MONDAY + dt.timedelta(days=1)),
        ("remind", MONDAY + dt.timedelta(days=5)),
        ("timeout", MONDAY + dt.timedelta(days=10)),
    ]


def test_complete_and_escalate_at_the_same_moment_give_one_outcome(engine, session):
    """A clerk completes the task exactly when its escalation falls due: either order, never both."""
    outcomes = []
    for _ in range(4):
        with at(MONDAY):
            instance = start_demo(session)
            session.commit()
        row_id = open_task(session, instance.id, "application").id
        moment = dt.datetime(2026, 11, 16, 9, 0, tzinfo=SH)  # past red
        barrier = threading.Barrier(2)
        errors = []

        def clerk(barrier=barrier, row_id=row_id, errors=errors):
            with Session(engine, expire_on_commit=False) as s:
                barrier.wait()
                try:
                    tasks.complete(s, get_user(s, "pt_advisor"), row_id, application_data())
                    s.commit()
                except Conflict:  # the escalation released it first: still completable by the group
                    s.rollback()
                except Exception as err:
                    errors.append(err)

        def scheduler(barrier=barrier):
            barrier.wait()
            deadlines.run_due(sessionmaker(bind=engine, expire_on_commit=False))

        with at(moment):
            threads = [threading.Thread(target=clerk), threading.Thread(target=scheduler)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
        assert errors == []
        session.expire_all()
        row = session.get(HumanTask, row_id)
        assert row.state == TaskStatus.COMPLETED
        if "task.escalated" in actions(session, instance.id):
            _assert_escalated_then_completed(session, instance.id, row_id)
            outcomes.append("escalated first")
        else:
            _assert_completed_with_no_sla_effect(engine, session, instance.id, row_id)
            outcomes.append("completed first")
    assert len(outcomes) == 4


SLA_ACTIONS = ("task.reminded", "task.overdue", "task.escalated")
SLA_KINDS = ("reminder", "overdue", "escalation")


def _sla_notifications(session: Session, row_id: int) -> list[tuple[str, str]]:
    from engine.users.models import User

    rows = session.execute(
        select(Notification.kind, User.username)
        .join(User, Notification.user_id == User.id)
        .where(Notification.task_id == row_id)
    )
    return sorted(
        (str(getattr(k, "value", k)), u) for k, u in rows if str(getattr(k, "value", k)) in SLA_KINDS
    )


def _assert_escalated_then_completed(session: Session, instance_id: int, row_id: int) -> None:
    """The scheduler won: every level fired once, before the completion, and told its people."""
    log = actions(session, instance_id)
    assert [a for a in log if a in SLA_ACTIONS] == list(SLA_ACTIONS)
    assert log.count("task.completed") == 1
    assert all(log.index(a) < log.index("task.completed") for a in SLA_ACTIONS)
    assert _sla_notifications(session, row_id) == [
        ("escalation", "pt_district"),
        ("overdue", "pt_head"),
        ("reminder", "pt_advisor"),
        ("reminder", "pt_advisor2"),
    ]


def _assert_completed_with_no_sla_effect(engine, session: Session, instance_id: int, row_id: int) -> None:
    """The clerk won: the completed task never reminds, turns overdue or escalates, even later."""
    run(engine, dt.datetime(2026, 11, 20, 9, 0, tzinfo=SH))
    session.expire_all()
    log = actions(session, instance_id)
    assert [a for a in log if a in SLA_ACTIONS] == [] and log.count("task.completed") == 1
    assert _sla_notifications(session, row_id) == []


def test_escalation_first_then_completion_keeps_both_in_order(engine, session):
    with at(MONDAY):
        instance = start_demo(session)
        session.commit()
    row_id = open_task(session, instance.id, "application").id
    moment = dt.datetime(2026, 11, 16, 9, 0, tzinfo=SH)
    run(engine, moment)
    with at(moment + dt.timedelta(minutes=1)):
        tasks.complete(session, get_user(session, "pt_advisor"), row_id, application_data())
        session.commit()
    session.expire_all()
    assert session.get(HumanTask, row_id).state == TaskStatus.COMPLETED
    _assert_escalated_then_completed(session, instance.id, row_id)


def test_completion_first_leaves_nothing_for_the_scheduler(engine, session):
    with at(MONDAY):
        instance = start_demo(session)
        session.commit()
    row_id = open_task(session, instance.id, "application").id
    with at(dt.datetime(2026, 11, 16, 8, 59, tzinfo=SH)):
        tasks.complete(session, get_user(session, "pt_advisor"), row_id, application_data())
        session.commit()
    run(engine, dt.datetime(2026, 11, 16, 9, 0, tzinfo=SH))
    _assert_completed_with_no_sla_effect(engine, session, instance.id, row_id)


def test_two_schedulers_fire_each_sla_level_once(engine, session):
    with at(MONDAY):
        instance = start_demo(session)
        session.commit()
    barrier = threading.Barrier(3)
    moment = dt.datetime(2026, 11, 16, 9, 0, tzinfo=SH)

    def worker():
        barrier.wait()
        deadlines.run_due(sessionmaker(bind=engine, expire_on_commit=False))

    with at(moment):
        threads = [threading.Thread(target=worker) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    session.expire_all()
    fired = [
        a for a in actions(session, instance.id) if a in ("task.reminded", "task.overdue", "task.escalated")
    ]
    assert fired == ["task.reminded", "task.overdue", "task.escalated"]
    assert notified(session, "reminder") == ["pt_advisor", "pt_advisor2"]
    assert notified(session, "overdue") == ["pt_head"] and notified(session, "escalation") == ["pt_district"]


def test_unquoted_date_timer_fires_through_the_scheduler(engine, session):
    from pathlib import Path

    from engine.definitions import service as definitions

    xml = (Path(__file__).resolve().parents[2] / "tests/fixtures/bpmn/timers_unquoted.bpmn").read_bytes()
    definitions.deploy(session, xml)
    session.commit()
    with at(MONDAY):
        instance = start(session, "timers_unquoted", "pt_officer")
        row = open_task(session, instance.id, "investigate")
        tasks.complete(
            session,
            get_user(session, "pt_officer"),
            row.id,
            {
                "visit_date": "2026-11-02",
                "summary": "已上门",
                "more_visits_needed": False,
            },
        )
        session.commit()
    assert run(engine, dt.datetime(2026, 12, 1, 8, 59, tzinfo=SH)) == []
    done = run(engine, dt.datetime(2026, 12, 1, 9, 1, tzinfo=SH))  # timeDate 2026-12-01T09:00:00+08:00
    assert [r.timers for r in done if r.instance_id == instance.id] == [["wait_until"]]
    # then the R3/PT24H cycle: caught up in one late wake-up, after which the process ends
    run(engine, dt.datetime(2026, 12, 5, 9, 0, tzinfo=SH))
    session.expire_all()
    assert session.get(ProcessInstance, instance.id).status.value == "completed"


def _deploy_demo_with(session: Session, **properties: str) -> None:
    """A new version of the demo procedure whose first task carries its own SLA properties."""
    from engine.definitions import service as definitions

    xml = (ROOT / "processes" / "demo_assistance.bpmn").read_text(encoding="utf-8")
    extra = "".join(f'<spiffworkflow:property name="{k}" value="{v}"/>' for k, v in properties.items())
    marker = '<spiffworkflow:property name="deadline" value="3 working days"/>'
    assert marker in xml
    definitions.deploy(session, xml.replace(marker, marker + extra, 1), source="test")


def test_a_task_sets_its_own_reminder_escalation_time_and_target(engine, session):
    _deploy_demo_with(session, reminder="PT4H", escalation="1 working day", escalate_to="street_head")
    session.commit()
    with at(MONDAY):
        instance = start_demo(session)
        session.commit()
    row = open_task(session, instance.id, "application")
    assert row.due_at == dt.datetime(2026, 11, 6, 0, 0, tzinfo=SH)
    assert row.warn_at == dt.datetime(2026, 11, 5, 20, 0, tzinfo=SH)  # four hours before, not a day
    assert row.escalate_at == dt.datetime(2026, 11, 9, 0, 0, tzinfo=SH)  # one working day after (Fri → Mon)
    run(engine, dt.datetime(2026, 11, 9, 9, 0, tzinfo=SH))
    session.expire_all()
    row = session.get(HumanTask, row.id)
    assert row.sla_level == SlaLevel.RED and row.escalated_role == "street_head"  # not the district
    assert notified(session, "escalation") == ["pt_head"]
    escalated = [
        e.details
        for e in session.scalars(select(AuditEvent).where(AuditEvent.task_id == row.id))
        if e.action == "task.escalated"
    ]
    assert escalated == [escalated[0]] and escalated[0]["escalated_role"] == "street_head"


def test_an_unknown_escalation_role_is_refused_at_deploy(session):
    from engine.bpmn.parsing import BpmnInvalid

    with pytest.raises(BpmnInvalid, match="escalate_to 'nobody' is not a known role"):
        _deploy_demo_with(session, escalate_to="nobody")
