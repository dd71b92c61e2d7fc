"""Task services on the real database: projection, claim, complete, validation, scope."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from engine.audit.models import AuditEvent
from engine.errors import Conflict, Forbidden, Invalid
from engine.instances.models import InstanceStatus, ProcessInstance
from engine.tasks import service as tasks
from engine.tasks.models import HumanTask, TaskStatus
from tests.conftest import get_user
from tests.factories import (
    application_data,
    complete,
    disbursement_data,
    open_task,
    review_data,
    start_demo,
    to_parallel_stage,
    visit_data,
)


def test_start_projects_first_task(session):
    instance = start_demo(session)
    session.commit()
    rows = tasks.open_tasks_of(session, instance.id)
    assert [(r.bpmn_id, r.candidate_role, r.state, r.form_key) for r in rows] == [
        ("application", "advisor", TaskStatus.READY, "demo_application")
    ]
    assert rows[0].street_id == instance.street_id and rows[0].district_id == instance.district_id
    assert rows[0].name == "填写帮扶申请"


def test_full_case_persists_and_completes(session):
    instance = to_parallel_stage(session)
    session.commit()
    assert sorted(t.bpmn_id for t in tasks.open_tasks_of(session, instance.id)) == ["disbursement", "visit"]
    complete(session, "pt_finance", instance.id, "disbursement", disbursement_data())
    complete(session, "pt_advisor", instance.id, "visit", visit_data(more=True))
    complete(session, "pt_advisor", instance.id, "visit", visit_data(more=False))
    session.commit()
    session.expire_all()
    done = session.get(ProcessInstance, instance.id)
    assert done.status == InstanceStatus.COMPLETED and done.ended_at is not None
    assert done.data["amount_paid"] == "5000.00"
    assert done.data["needs_district_review"] is True
    events = select(AuditEvent).where(AuditEvent.instance_id == instance.id).order_by(AuditEvent.id)
    actions = [e.action for e in session.scalars(events)]
    assert actions[0] == "instance.started" and actions[-1] == "instance.completed"
    assert actions.count("task.completed") == 5


def test_completed_data_is_decimal_in_audit_and_exact(session):
    instance = start_demo(session)
    row = complete(
        session, "pt_advisor", instance.id, "application", application_data(amount_requested="0.10")
    )
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.task_id == row.id, AuditEvent.action == "task.completed")
    ).one()
    assert event.details["data"]["amount_requested"] == "0.10"


def test_validation_error_changes_nothing(session):
    instance = start_demo(session)
    session.commit()
    row = open_task(session, instance.id, "application")
    advisor = get_user(session, "pt_advisor")
    with pytest.raises(Invalid) as info:
        tasks.complete(session, advisor, row.id, application_data(household_size=0, unknown_field=1))
    assert set(info.value.fields) >= {"household_size", "unknown_field"}
    session.rollback()
    session.expire_all()
    assert session.get(HumanTask, row.id).state == TaskStatus.READY
    assert session.get(ProcessInstance, instance.id).version == instance.version


def test_form_rule_uses_case_data(session):
    instance = start_demo(session)
    complete(session, "pt_advisor", instance.id, "application", application_data(amount_requested="1000"))
    with pytest.raises(Invalid) as info:
        complete(session, "pt_officer", instance.id, "review", review_data(amount_approved="1000.01"))
    assert "amount_approved" in info.value.fields


def test_claim_unclaim_and_other_users(session):
    instance = start_demo(session)
    complete(session, "pt_advisor", instance.id, "application", application_data())
    review = open_task(session, instance.id, "review")
    officer, officer2 = get_user(session, "pt_officer"), get_user(session, "pt_officer2")
    tasks.claim(session, officer, review.id)
    assert review.state == TaskStatus.CLAIMED and review.assignee_id == officer.id
    with pytest.raises(Conflict):
        tasks.claim(session, officer2, review.id)
    with pytest.raises(Conflict):
        tasks.complete(session, officer2, review.id, review_data())
    with pytest.raises(Forbidden):
        tasks.unclaim(session, officer2, review.id)
    tasks.unclaim(session, officer, review.id)
    assert review.state == TaskStatus.READY and review.assignee_id is None
    tasks.complete(session, officer2, review.id, review_data())
    assert review.state == TaskStatus.COMPLETED and review.completed_by_id == officer2.id


def test_wrong_role_or_scope_is_forbidden(session):
    instance = start_demo(session)
    row = open_task(session, instance.id, "application")
    for username in ("pt_officer", "pt_other_street_officer", "pd_advisor"):
        with pytest.raises(Forbidden):
            tasks.complete(session, get_user(session, username), row.id, application_data())


def test_assign_by_supervisor_only_to_role_holder(session):
    instance = start_demo(session)
    row = open_task(session, instance.id, "application")
    head, advisor = get_user(session, "pt_head"), get_user(session, "pt_advisor")
    with pytest.raises(Forbidden):
        tasks.assign(session, advisor, row.id, "pt_advisor2")
    with pytest.raises(Invalid):
        tasks.assign(session, head, row.id, "pt_officer")
    with pytest.raises(Invalid):
        tasks.assign(session, head, row.id, "nobody")
    tasks.assign(session, head, row.id, "pt_advisor2")
    assert row.assignee.username == "pt_advisor2"
    with pytest.raises(Conflict):
        tasks.complete(session, advisor, row.id, application_data())


def test_completed_task_cannot_be_completed_again(session):
    instance = start_demo(session)
    row = complete(session, "pt_advisor", instance.id, "application", application_data())
    with pytest.raises(Conflict):
        tasks.complete(session, get_user(session, "pt_advisor"), row.id, application_data())


def test_stale_task_is_refused(session):
    """The human_task row says ready but the workflow has moved on: 409, nothing changes."""
    instance = start_demo(session)
    row = open_task(session, instance.id, "application")
    complete(session, "pt_advisor", instance.id, "application", application_data())
    row.state = TaskStatus.READY  # simulate a projection lagging behind the workflow
    session.flush()
    with pytest.raises(Conflict, match="stale"):
        tasks.complete(session, get_user(session, "pt_advisor"), row.id, application_data())


def test_terminated_instance_refuses_work(session):
    instance = start_demo(session)
    instance.status = InstanceStatus.TERMINATED
    session.flush()
    row = open_task(session, instance.id, "application")
    with pytest.raises(Conflict):
        tasks.complete(session, get_user(session, "pt_advisor"), row.id, application_data())


def test_inbox_scopes(session):
    mine = start_demo(session)
    start_demo(session, username="pd_advisor", org="310115004")
    session.commit()
    advisor = get_user(session, "pt_advisor")
    rows, total = tasks.inbox(session, advisor, scope="claimable")
    assert total == 1 and rows[0].instance_id == mine.id
    assert tasks.inbox(session, advisor, scope="mine")[1] == 0
    tasks.claim(session, advisor, rows[0].id)
    assert tasks.inbox(session, advisor, scope="mine")[1] == 1
    assert tasks.inbox(session, advisor, scope="claimable")[1] == 0
    # another street's officer and a Pudong advisor see nothing of it
    assert tasks.inbox(session, get_user(session, "pt_other_street_officer"), scope="all")[1] == 0
    pd_rows, _ = tasks.inbox(session, get_user(session, "pd_advisor"), scope="all")
    assert all(r.instance_id != mine.id for r in pd_rows)
    # the district and the city see it (supervisors), filtered by org unit
    assert tasks.inbox(session, get_user(session, "pt_district"), scope="all")[1] == 1
    assert tasks.inbox(session, get_user(session, "admin"), scope="all", org_unit_code="310107")[1] == 1


def test_visit_loop_300_through_services(session):
    instance = to_parallel_stage(session)
    complete(session, "pt_finance", instance.id, "disbursement", disbursement_data())
    session.commit()
    sizes = []
    for n in range(300):
        complete(
            session, "pt_advisor", instance.id, "visit", visit_data(more=True, summary=f"第{n + 1}次走访记录")
        )
        session.commit()
        sizes.append(len(session.get(ProcessInstance, instance.id).state))
    complete(session, "pt_advisor", instance.id, "visit", visit_data(more=False))
    session.commit()
    done = session.get(ProcessInstance, instance.id)
    assert done.status == InstanceStatus.COMPLETED
    assert sizes[-1] <= sizes[0] + 200
    visits = session.scalars(
        select(HumanTask).where(HumanTask.instance_id == instance.id, HumanTask.bpmn_id == "visit")
    ).all()
    assert len(visits) == 301 and all(v.state == TaskStatus.COMPLETED for v in visits)


def test_amounts_stay_decimal(session):
    instance = start_demo(session)
    complete(session, "pt_advisor", instance.id, "application", application_data(amount_requested="0.30"))
    from engine.instances import service as instances

    loaded = instances.load(session, instances.lock(session, instance.id))
    from engine.bpmn.runtime import current_data

    assert current_data(loaded.wf)["amount_requested"] == Decimal("0.30")


def _many_tasks(session, n: int = 300) -> None:
    """Open and closed tasks over the city, two districts, streets, a district-level and a city-level case
    (no district), for roles at every level, some escalated (also to the role they already wait for),
    claimed ones held by a city, a district or a street officer (or no one), with shared due and creation
    times (and no due time) so the list order's tie-breaks matter."""
    import datetime as dt
    import random

    from engine.db import utcnow
    from engine.definitions.models import ProcessDefinition
    from engine.orgs import service as orgs

    rng = random.Random(12)
    definition_id = session.scalar(select(ProcessDefinition.id).limit(1))
    instances = []
    for code in ("310107014", "310107014", "310107015", "310107", "310115004", "310115", "310000"):
        unit = orgs.by_code(session, code)
        instances.append(
            ProcessInstance(
                definition_id=definition_id,
                process_key="demo_assistance",
                org_unit_id=unit.id,
                district_id=unit.district_id,
                street_id=unit.street_id,
                status=InstanceStatus.RUNNING,
                state="",
                data={},
            )
        )
    session.add_all(instances)
    session.flush()
    now = utcnow().replace(microsecond=0)
    roles = [
        "city_officer",
        "district_officer",
        "district_head",
        "street_officer",
        "street_officer",
        "advisor",
    ]
    states = [TaskStatus.READY, TaskStatus.READY, TaskStatus.CLAIMED, TaskStatus.COMPLETED]
    holders = [None, *(get_user(session, name).id for name in ("city", "pt_district", "pt_officer"))]
    for i in range(n):
        instance = rng.choice(instances)
        state = rng.choice(states)
        due = None if rng.random() < 0.1 else now + dt.timedelta(days=rng.randint(-4, 4))
        session.add(
            HumanTask(
                instance_id=instance.id,
                process_key="demo_assistance",
                spiff_task_id=f"00000000-0000-0000-0001-{i:012d}",
                bpmn_id="review",
                name="审核",
                candidate_role=rng.choice(roles),
                escalated_role=rng.choice([None, None, None, "city_officer", "district_officer"]),
                org_unit_id=instance.org_unit_id,
                district_id=instance.district_id,
                street_id=instance.street_id,
                state=state,
                assignee_id=rng.choice(holders) if state != TaskStatus.READY else None,
                created_at=now - dt.timedelta(hours=rng.randint(0, 3)),
                due_at=due,
            )
        )
    session.flush()


def _naive(session, keep) -> list[int]:
    """The ids of the tasks ``keep`` accepts, in list order: due time (none last), creation, id."""
    import datetime as dt

    rows = [r for r in session.scalars(select(HumanTask)) if keep(r)]
    never = dt.datetime.max.replace(tzinfo=dt.UTC)
    rows.sort(key=lambda r: (r.due_at is None, r.due_at or never, r.created_at, r.id))
    return [r.id for r in rows]


def _listed(session, user, per_page: int = 7, **kwargs) -> tuple[list[int], set[int]]:
    """Every page of a user's list, in turn: the ids in order, and the totals each page reported."""
    ids: list[int] = []
    totals: set[int] = set()
    for page in range(1, 100):
        rows, total = tasks.inbox(session, user, page=page, per_page=per_page, **kwargs)
        totals.add(total)
        if not rows:
            return ids, totals
        ids += [r.id for r in rows]
    raise AssertionError("more pages than tasks")


def test_inbox_lists_equal_the_plain_filter_page_by_page(session):
    """Claimable lists are paged from each role's own first tasks (city roles: one index range each);
    every page, the order and the count equal filtering all tasks by hand, for the city, a district and
    a street, also with filters, for the "all" and "mine" views, and for tasks others hold or no district
    holds."""
    from engine.db import utcnow
    from engine.orgs import service as orgs

    _many_tasks(session)
    session.commit()
    putuo, street = orgs.by_code(session, "310107"), orgs.by_code(session, "310107014")
    ready, open_ = (TaskStatus.READY,), (TaskStatus.READY, TaskStatus.CLAIMED)

    def of_roles(roles, unit=None):
        def keep(r):
            in_unit = unit is None or unit.id in (r.district_id, r.street_id)
            return in_unit and (r.candidate_role in roles or r.escalated_role in roles)

        return keep

    city = of_roles({"city_officer"})
    district = of_roles({"district_officer", "district_head"}, putuo)
    officer = of_roles({"street_officer"}, street)
    holder = {name: get_user(session, name).id for name in ("city", "pt_district", "pt_officer")}
    now = utcnow()
    cases = [
        ("city", {"scope": "claimable"}, lambda r: r.state in ready and city(r)),
        ("pt_district", {"scope": "claimable"}, lambda r: r.state in ready and district(r)),
        ("pt_officer", {"scope": "claimable"}, lambda r: r.state in ready and officer(r)),
        (
            "city",
            {"scope": "claimable", "overdue": True},
            lambda r: r.state in ready and city(r) and r.due_at is not None and r.due_at <= now,
        ),
        ("city", {"scope": "claimable", "sort": "created"}, lambda r: r.state in ready and city(r)),
        (
            "city",
            {"scope": "all", "overdue": True},
            lambda r: r.state in open_ and r.due_at and r.due_at <= now,
        ),
        (
            "pt_district",
            {"scope": "all"},
            lambda r: (
                r.state in open_ and (r.district_id == putuo.id or r.assignee_id == holder["pt_district"])
            ),
        ),
        (
            "pt_officer",
            {"scope": "all"},
            lambda r: r.state in open_ and (officer(r) or r.assignee_id == holder["pt_officer"]),
        ),
        (
            "pt_officer",
            {"scope": "all", "overdue": False},
            lambda r: (
                r.state in open_
                and (officer(r) or r.assignee_id == holder["pt_officer"])
                and (r.due_at is None or r.due_at > now)
            ),
        ),
        (
            "city",
            {"scope": "mine"},
            lambda r: r.state == TaskStatus.CLAIMED and r.assignee_id == holder["city"],
        ),
    ]
    for username, kwargs, keep in cases:
        expected = _naive(session, keep)
        if kwargs.get("sort") == "created":
            rows = {r.id: r for r in session.scalars(select(HumanTask))}
            expected.sort(key=lambda i: (rows[i].created_at, i))
        assert len(expected) > 3, (username, kwargs)
        for per_page in (7, 50):
            ids, totals = _listed(session, get_user(session, username), per_page=per_page, **kwargs)
            assert ids == expected, (username, kwargs, per_page)
            assert totals == {len(expected)}, (username, kwargs, per_page)
    assert tasks.inbox(session, get_user(session, "city"), scope="claimable", page=2, per_page=10)[0] == [
        session.get(HumanTask, i) for i in _naive(session, lambda r: r.state in ready and city(r))[10:20]
    ]
