"""Multi-instance steps with a completion condition and call activities with their data mapping, through
the services and the task projection, on both databases: a "democratic review" sub-procedure, deployed on
its own, called by a relief procedure; one vote per panel member in that member's queue; the spec cache
cleared between steps (a restart). And a failed bank transfer routed back to finance by an error boundary
event; an event-based gateway whose first timer the scheduler fires."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine
from sqlalchemy.orm import sessionmaker

from engine.bpmn import runtime
from engine.bpmn.errorevents import ServiceFailure
from engine.deadlines import service as deadlines
from engine.definitions import service as definitions
from engine.errors import Conflict, Forbidden
from engine.instances import service as instances
from engine.instances.models import InstanceStatus
from engine.orgs import service as orgs
from engine.tasks import service as tasks
from engine.tasks.models import TaskStatus
from engine.users import service as users
from tests.conftest import PASSWORD, get_user
from tests.factories import STREET, application_data, disbursement_data, open_task
from tests.factories import review_data as _review


def review_data(**overrides):
    return _review(amount_approved="3000.00", **overrides)


CONSTRUCTS = Path(__file__).resolve().parents[1] / "fixtures" / "bpmn" / "constructs"


@pytest.fixture
def deployed(session):
    for name in ("rp_second", "rp_third"):
        users.create_user(session, name, PASSWORD, grants=[("review_panel", STREET)])
    admin = get_user(session, "admin")
    for file in ("democratic_review.bpmn", "relief_with_review.bpmn"):
        definitions.deploy(session, (CONSTRUCTS / file).read_bytes(), actor_id=admin.id)
    session.commit()
    return session


def _start_and_apply(session):
    officer = get_user(session, "pt_officer")
    instance = instances.start(session, officer, "relief_with_review", STREET)
    session.commit()
    row = open_task(session, instance.id, "application")
    tasks.claim(session, officer, row.id)
    tasks.complete(session, officer, row.id, application_data(amount_requested="3000.00"))
    session.commit()
    definitions.SPEC_CACHE.clear()  # a restart: the specs are read again from the database
    return instance


def _votes(session, instance_id):
    return sorted(
        (t for t in tasks.open_tasks_of(session, instance_id) if t.bpmn_id == "panel_vote"),
        key=lambda t: t.name,
    )


def test_each_member_votes_in_their_own_queue_and_the_quorum_ends_the_vote(deployed):
    session = deployed
    instance = _start_and_apply(session)
    votes = _votes(session, instance.id)
    assert [(t.name, t.candidate_role, t.state, t.assignee.username) for t in votes] == [
        ("评议小组成员表决（pt_panel）", "review_panel", TaskStatus.CLAIMED, "pt_panel"),
        ("评议小组成员表决（rp_second）", "review_panel", TaskStatus.CLAIMED, "rp_second"),
        ("评议小组成员表决（rp_third）", "review_panel", TaskStatus.CLAIMED, "rp_third"),
    ]
    assert len({t.spiff_task_id for t in votes}) == 3
    mine = tasks.inbox(session, get_user(session, "rp_second"), scope="mine")
    assert [t.id for t in (mine[0] if isinstance(mine, tuple) else mine)] == [votes[1].id]
    with pytest.raises((Conflict, Forbidden)):  # another member's vote is not mine to give
        tasks.complete(session, get_user(session, "rp_second"), votes[2].id, review_data())
    session.rollback()

    tasks.complete(session, get_user(session, "rp_second"), votes[1].id, review_data())
    session.commit()
    definitions.SPEC_CACHE.clear()
    assert len(_votes(session, instance.id)) == 2, "one vote is not the quorum"
    tasks.complete(session, get_user(session, "pt_panel"), votes[0].id, review_data())
    session.commit()

    # two approvals: the completion condition holds, the third vote is withdrawn, the case goes on
    session.refresh(votes[2])
    assert votes[2].state == TaskStatus.CANCELLED
    assert [t.bpmn_id for t in tasks.open_tasks_of(session, instance.id)] == ["disburse"]


def test_the_call_activity_passes_only_the_mapped_data_both_ways(deployed):
    session = deployed
    instance = _start_and_apply(session)
    votes = _votes(session, instance.id)
    for vote, who, decision in ((votes[0], "pt_panel", "reject"), (votes[1], "rp_second", "approve")):
        tasks.complete(session, get_user(session, who), vote.id, review_data(decision=decision))
        session.commit()
        definitions.SPEC_CACHE.clear()
    tasks.complete(session, get_user(session, "rp_third"), votes[2].id, review_data(decision="approve"))
    session.commit()
    session.refresh(instance)
    data = instance.data
    assert data["review_passed"] is True and data["approvals"] == 2  # the declared outputs came back
    assert Decimal(str(data["amount_requested"])) == Decimal("3000.00")
    assert "decisions" not in data and "member" not in data  # the sub-procedure's own values did not
    finance = get_user(session, "pt_finance")
    row = open_task(session, instance.id, "disburse")
    tasks.claim(session, finance, row.id)
    tasks.complete(session, finance, row.id, disbursement_data(amount_paid="3000.00"))
    session.commit()
    session.refresh(instance)
    assert instance.status == InstanceStatus.COMPLETED


def test_a_new_sub_procedure_version_reaches_callers_deployed_after_it(deployed):
    session = deployed
    running = _start_and_apply(session)
    changed = (CONSTRUCTS / "democratic_review.bpmn").read_text().replace("评议小组成员表决", "评议成员表决")
    definitions.deploy(session, changed, actor_id=get_user(session, "admin").id)
    session.commit()
    definitions.SPEC_CACHE.clear()
    again = _start_and_apply(session)
    # the caller's version was deployed before the new sub-procedure: both cases keep the first one
    assert {t.name[:8] for t in _votes(session, running.id) + _votes(session, again.id)} == {
        "评议小组成员表决"
    }
    caller = (CONSTRUCTS / "relief_with_review.bpmn").read_text().replace("临时救助（", "临时救助 v2（")
    definitions.deploy(session, caller, actor_id=get_user(session, "admin").id)
    session.commit()
    newest = _start_and_apply(session)
    assert {t.name[:6] for t in _votes(session, newest.id)} == {"评议成员表决"}


@pytest.fixture
def bank():
    def transfer(data, **_params):
        if data.get("account") != "checked":
            raise ServiceFailure("transfer_failed", "收款账户已冻结")
        return {"ok": True}

    runtime.SERVICES["test_bank_transfer"] = transfer
    yield
    runtime.SERVICES.pop("test_bank_transfer", None)


def test_a_failed_bank_transfer_goes_back_to_finance(session, bank):
    admin = get_user(session, "admin")
    definitions.deploy(session, (CONSTRUCTS / "bank_transfer.bpmn").read_bytes(), actor_id=admin.id)
    session.commit()
    officer = get_user(session, "pt_officer")
    # the gateway's data comes with the case (these steps have no form): created as the scheduler would
    definition = definitions.get_version(session, "bank_transfer")
    unit = orgs.by_code(session, STREET)
    data = {"documents": "ok", "amount": 3000, "account": "frozen"}
    instance = instances.create(session, definition, unit, actor_id=officer.id, data=data)
    session.commit()
    check = open_task(session, instance.id, "check_file")
    tasks.claim(session, officer, check.id)
    tasks.complete(session, officer, check.id, {})
    session.commit()
    definitions.SPEC_CACHE.clear()
    fix = open_task(session, instance.id, "fix_account")
    assert fix.candidate_role == "finance" and fix.name == "财务核对收款账户"
    session.refresh(instance)
    assert (
        instance.data["error_code"] == "transfer_failed"
        and instance.data["error_message"] == "收款账户已冻结"
    )
    assert instance.status == InstanceStatus.RUNNING


def test_an_event_based_gateway_waits_and_the_scheduler_takes_the_first_timer(engine, session):
    monday = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)
    with time_machine.travel(monday, tick=False):
        admin = get_user(session, "admin")
        definitions.deploy(session, (CONSTRUCTS / "event_gateway.bpmn").read_bytes(), actor_id=admin.id)
        session.commit()
        instance = instances.start(session, admin, "event_gateway", STREET)
        session.commit()
        assert instance.next_wakeup_at == monday + dt.timedelta(days=2)
        assert tasks.open_tasks_of(session, instance.id) == []
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    with time_machine.travel(monday + dt.timedelta(days=2, minutes=1), tick=False):
        done = deadlines.run_due(factory)
    assert [r.timers for r in done if r.instance_id == instance.id] == [["wait"]]
    session.expire_all()
    assert [t.bpmn_id for t in tasks.open_tasks_of(session, instance.id)] == ["follow_up"]
    # the deadline branch was withdrawn: nothing waits any more
    assert instances.waiting_timers(session, get_user(session, "admin"), instance.id) == []
