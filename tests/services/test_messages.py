"""Messages and signals between cases on the database (both): correlation, the buffer of early
messages and its time limit, a message for a case that ended, two messages at once for one receiver,
a signal to many cases, a message start event, persistence of subscriptions."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from engine.audit.models import AuditEvent
from engine.db import make_engine
from engine.definitions import service as definitions
from engine.errors import Forbidden
from engine.instances import lifecycle
from engine.instances import service as instances
from engine.instances.models import InstanceStatus, ProcessInstance
from engine.messages import service as messages
from engine.messages.models import BufferedMessage, MessageSubscription
from engine.orgs import service as orgs
from engine.tasks import service as tasks
from tests.conftest import DB_URL, get_user
from tests.factories import STREET, complete, review_data

MESSAGES = Path(__file__).resolve().parents[1] / "fixtures" / "bpmn" / "messages"


def _deploy(session, *names):
    admin = get_user(session, "admin")
    for name in names:
        definitions.deploy(session, (MESSAGES / f"{name}.bpmn").read_bytes(), actor_id=admin.id)
    session.commit()


def _case(session, key, business_key=None, **data):
    definition = definitions.get_version(session, key)
    unit = orgs.by_code(session, STREET)
    return instances.create(
        session,
        definition,
        unit,
        actor_id=get_user(session, "admin").id,
        business_key=business_key,
        data=data,
    )


def _open(session, instance_id, bpmn_id):
    return next((t for t in tasks.open_tasks_of(session, instance_id) if t.bpmn_id == bpmn_id), None)


def _actions(session, instance_id=None, action=None):
    stmt = select(AuditEvent.action).order_by(AuditEvent.id)
    if instance_id is not None:
        stmt = stmt.where(AuditEvent.instance_id == instance_id)
    if action is not None:
        stmt = stmt.where(AuditEvent.action == action)
    return list(session.scalars(stmt))


def _subscriptions(session, instance_id):
    return [
        (s.name, s.correlation_key, s.bpmn_id, s.waiting)
        for s in session.scalars(
            select(MessageSubscription)
            .where(MessageSubscription.instance_id == instance_id)
            .order_by(MessageSubscription.id)
        )
    ]


def test_a_sending_case_reaches_the_case_waiting_with_its_key_only(session):
    _deploy(session, "msg_receiver", "msg_sender")
    mine = _case(session, "msg_receiver", project_key="BP-2026-310107")
    other = _case(session, "msg_receiver", project_key="BP-2026-310115")
    session.commit()
    assert _subscriptions(session, mine.id) == [("list_confirmed", "BP-2026-310107", "wait_list", True)]
    assert _open(session, mine.id, "review") is None  # a receive task is no user task

    sender = _case(
        session, "msg_sender", business_key="BP-2026-310107", project_key="BP-2026-310107", households=3
    )
    session.commit()
    session.expire_all()
    assert session.get(ProcessInstance, sender.id).status == InstanceStatus.COMPLETED
    row = _open(session, mine.id, "review")
    assert row is not None and session.get(ProcessInstance, mine.id).data["confirmed"] == {"households": 3}
    assert _subscriptions(session, mine.id) == [("list_confirmed", "BP-2026-310107", "wait_list", False)]
    assert _subscriptions(session, other.id)[0][3] is True  # another project's case still waits
    assert "message.received" in _actions(session, mine.id)
    assert "message.sent" in _actions(session, sender.id)


def test_a_message_before_its_receiver_waits_is_kept_then_delivered(session):
    _deploy(session, "msg_receiver")
    outcome = messages.send(session, "list_confirmed", "BP-EARLY", {"households": 2})
    session.commit()
    assert outcome.result == "buffered" and outcome.buffered_id is not None
    assert session.get(BufferedMessage, outcome.buffered_id).expires_at > dt.datetime.now(dt.UTC)

    case = _case(session, "msg_receiver", project_key="BP-EARLY")
    session.commit()
    session.expire_all()
    assert session.get(BufferedMessage, outcome.buffered_id) is None
    assert session.get(ProcessInstance, case.id).data["confirmed"] == {"households": 2}
    assert _open(session, case.id, "review") is not None


def test_a_kept_message_expires_dropped_and_audited(session):
    _deploy(session, "msg_receiver")
    outcome = messages.send(session, "list_confirmed", "BP-LATE", {"households": 2})
    session.commit()
    row = session.get(BufferedMessage, outcome.buffered_id)
    assert row.expires_at - row.created_at == messages.ttl() == dt.timedelta(days=7)

    assert messages.sweep(session, now=row.expires_at - dt.timedelta(seconds=1)) == {
        "expired": 0,
        "delivered": 0,
    }
    assert messages.sweep(session, now=row.expires_at + dt.timedelta(seconds=1)) == {
        "expired": 1,
        "delivered": 0,
    }
    session.commit()
    assert session.get(BufferedMessage, outcome.buffered_id) is None
    assert _actions(session, action="message.expired") == ["message.expired"]
    case = _case(session, "msg_receiver", project_key="BP-LATE")  # too late: it waits
    session.commit()
    assert _subscriptions(session, case.id)[0][3] is True


def test_a_message_for_a_case_that_ended_is_refused_with_a_clear_result(session):
    _deploy(session, "msg_receiver")
    case = _case(session, "msg_receiver", project_key="BP-DONE")
    session.commit()
    lifecycle.terminate(session, get_user(session, "admin"), case.id, "测试终止")
    session.commit()
    outcome = messages.send(session, "list_confirmed", "BP-DONE", {})
    session.commit()
    assert outcome.result == "ended" and "ended" in outcome.reason
    assert session.scalar(select(func.count()).select_from(BufferedMessage)) == 0
    assert _actions(session, action="message.refused") == ["message.refused"]
    # a key nobody ever waited for is kept instead
    assert messages.send(session, "list_confirmed", "BP-NEVER", {}).result == "buffered"


def test_a_suspended_receiver_gets_its_message_after_resuming(session):
    _deploy(session, "msg_receiver")
    admin = get_user(session, "admin")
    case = _case(session, "msg_receiver", project_key="BP-HOLD")
    session.commit()
    lifecycle.suspend(session, admin, case.id, "暂停")
    session.commit()
    assert messages.send(session, "list_confirmed", "BP-HOLD", {"n": 1}).result == "buffered"
    session.commit()
    lifecycle.resume(session, admin, case.id, "恢复")
    session.commit()
    assert messages.sweep(session)["delivered"] == 1
    session.commit()
    assert _open(session, case.id, "review") is not None


def test_two_messages_at_once_for_one_receiver_one_is_caught_the_other_kept(session):
    _deploy(session, "msg_receiver")
    case = _case(session, "msg_receiver", project_key="BP-RACE")
    session.commit()
    engine = make_engine(DB_URL, poolclass=NullPool)
    barrier = threading.Barrier(2, timeout=60)
    results: list = [None, None]

    def run(i):
        with Session(engine, expire_on_commit=False) as s:
            barrier.wait()
            try:
                results[i] = messages.send(s, "list_confirmed", "BP-RACE", {"n": i}).result
                s.commit()
            except Exception as err:  # shown in the assertion
                s.rollback()
                results[i] = repr(err)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    engine.dispose()
    assert sorted(results) == ["buffered", "delivered"], results
    session.expire_all()
    assert _actions(session, case.id, "message.received") == ["message.received"]
    assert session.scalar(select(func.count()).select_from(BufferedMessage)) == 1
    assert _open(session, case.id, "review") is not None


def test_a_signal_reaches_every_waiting_case_and_a_thrown_signal_too(session):
    _deploy(session, "msg_signal_wait", "msg_receiver", "msg_sender")
    waiting = [_case(session, "msg_signal_wait") for _ in range(5)]
    session.commit()
    outcome = messages.signal(session, "policy_changed", None, actor_id=get_user(session, "admin").id)
    session.commit()
    assert outcome.result == "broadcast" and sorted(outcome.delivered) == sorted(c.id for c in waiting)
    assert all(_open(session, c.id, "review") is not None for c in waiting)
    assert messages.signal(session, "policy_changed").delivered == []  # nobody waits any more

    more = [_case(session, "msg_signal_wait") for _ in range(3)]
    _case(session, "msg_sender", business_key="BP-SIG", project_key="BP-SIG", households=1)  # throws it
    session.commit()
    assert all(_open(session, c.id, "review") is not None for c in more)


def test_a_message_start_event_starts_a_case_and_a_boundary_message_interrupts_it(session):
    _deploy(session, "msg_started")
    admin = get_user(session, "admin")
    outcome = messages.send(
        session,
        "case_referred",
        "REF-001",
        {"from": "PT"},
        actor_id=admin.id,
        unit=orgs.by_code(session, STREET),
    )
    session.commit()
    [case_id] = outcome.started
    case = session.get(ProcessInstance, case_id)
    assert outcome.result == "started" and case.business_key == "REF-001"
    assert case.data["referral"] == {"from": "PT"}
    review = _open(session, case_id, "review")
    assert review is not None
    # the boundary message (correlated by business key) withdraws it
    assert messages.send(session, "referral_withdrawn", "REF-001", {}).result == "delivered"
    session.commit()
    session.expire_all()
    assert session.get(ProcessInstance, case_id).status == InstanceStatus.COMPLETED
    assert _open(session, case_id, "review") is None


def test_subscriptions_survive_a_restart_and_a_receivers_completion_runs_on(session):
    _deploy(session, "msg_receiver")
    case = _case(session, "msg_receiver", project_key="BP-R")
    session.commit()
    definitions.SPEC_CACHE.clear()  # a new process: nothing in memory but the database
    assert messages.send(session, "list_confirmed", "BP-R", {"n": 1}).result == "delivered"
    session.commit()
    complete(session, "pt_officer", case.id, "review", review_data())
    session.commit()
    session.expire_all()
    assert session.get(ProcessInstance, case.id).status == InstanceStatus.COMPLETED


def _sender_after_a_user_task() -> bytes:
    """msg_sender with the street officer's confirmation before its send task."""
    text = (MESSAGES / "msg_sender.bpmn").read_text(encoding="utf-8")
    text = text.replace(
        '<bpmn:process id="msg_sender" name="发送名单（测试）" isExecutable="true">',
        '<bpmn:process id="msg_sender_confirmed" name="确认后发送（测试）" isExecutable="true">'
        '<bpmn:laneSet id="ls"><bpmn:lane id="Lane_officer" name="street_officer">'
        "<bpmn:flowNodeRef>confirm</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>",
    ).replace(
        '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="send_list"/>',
        '<bpmn:userTask id="confirm" name="确认名单"><bpmn:extensionElements><spiffworkflow:properties>'
        '<spiffworkflow:property name="formKey" value="demo_review"/></spiffworkflow:properties>'
        "</bpmn:extensionElements></bpmn:userTask>"
        '<bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="confirm"/>'
        '<bpmn:sequenceFlow id="f1" sourceRef="confirm" targetRef="send_list"/>',
    )
    return text.encode("utf-8")


def test_a_task_completion_that_sends_delivers_in_its_own_transaction(session):
    _deploy(session, "msg_receiver")
    definitions.deploy(session, _sender_after_a_user_task(), actor_id=get_user(session, "admin").id)
    session.commit()
    receiver = _case(session, "msg_receiver", project_key="BP-TASK")
    sender = _case(session, "msg_sender_confirmed", project_key="BP-TASK", households=5)
    session.commit()
    assert _open(session, receiver.id, "review") is None
    complete(session, "pt_officer", sender.id, "confirm", review_data())
    session.commit()
    session.expire_all()
    assert session.get(ProcessInstance, sender.id).status == InstanceStatus.COMPLETED
    assert session.get(ProcessInstance, receiver.id).data["confirmed"] == {"households": 5}
    assert _open(session, receiver.id, "review") is not None


def test_a_message_started_procedure_is_not_started_by_hand(session):
    _deploy(session, "msg_started")
    with pytest.raises(Forbidden) as refused:
        instances.start(session, get_user(session, "pt_officer"), "msg_started", STREET)
    assert "started by a message" in refused.value.message
    session.rollback()
    assert (
        session.scalar(
            select(func.count())
            .select_from(ProcessInstance)
            .where(ProcessInstance.process_key == "msg_started")
        )
        == 0
    )
