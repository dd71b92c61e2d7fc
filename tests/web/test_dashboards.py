"""Dashboard figures (engine service), including the Bridge Plan and Twinning indicators read from data."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from api.extensions import db
from engine.dashboards import service as dashboards
from engine.definitions.models import ProcessDefinition
from engine.instances.models import InstanceStatus, ProcessInstance
from engine.orgs import service as orgs
from engine.tasks.models import HumanTask, TaskStatus
from tests import factories
from tests.conftest import get_user
from tests.procedures.helpers import SH, WORKERS, Project, Twinning, day_log, run_scheduler


def _instance(key: str, unit_code: str, data: dict, business_key: str | None = None) -> ProcessInstance:
    """An instance row of a procedure that may not be deployed yet (only its key and data matter here)."""
    unit = orgs.by_code(db.session, unit_code)
    definition_id = db.session.scalar(select(ProcessDefinition.id).limit(1))
    row = ProcessInstance(
        definition_id=definition_id,
        process_key=key,
        business_key=business_key,
        org_unit_id=unit.id,
        district_id=unit.district_id,
        street_id=unit.street_id,
        status=InstanceStatus.RUNNING,
        state="",
        data=data,
    )
    db.session.add(row)
    db.session.flush()
    return row


def test_bridge_and_twinning_tables_are_empty_without_those_procedures(app_ctx):
    district = get_user(db.session, "pt_district")
    assert dashboards.bridge_indicators(db.session, district) == []
    assert dashboards.twinning_indicators(db.session, district) == []


def test_bridge_indicators_per_project_from_the_running_procedure(client, login, june):
    project = Project(client, login, households=2)
    cases = project.confirm()
    cases[0].assess_and_plan()
    for _ in range(3):
        cases[0].record()
    report = {"report_month": 6, "households_served": 2, "visits": 3, "group_activities": 0}
    june.move_to(dt.datetime(2026, 7, 1, 9, 5, tzinfo=SH))
    run_scheduler()
    project.do(
        "monthly_report",
        "pt_agency_worker",
        {**report, "spent_to_date": "11000.00", "progress": "服务进展顺利"},
    )
    city = dashboards.bridge_indicators(db.session, get_user(db.session, "city"))
    assert city == [
        {
            "district": "普陀区",
            "year": 2026,
            "households": 2,
            "visits_per_household": "1.5",
            "budget_used": "11000.00",
            "budget_per_household": "5500.00",
            "within_budget": False,
        }
    ]
    assert dashboards.bridge_indicators(db.session, get_user(db.session, "pd_district")) == []


def test_twinning_indicators_per_pairing_for_its_working_year(client, login, spring):
    case = Twinning(client, login, "TW03")
    case.select_and_sign()
    lead = "tw_agency_lead"
    case.plan(2021)
    case.do("dispatch_record", lead, {"workers": WORKERS, "dispatched_on": "2021-04-01"})
    case.do("working_days", lead, {"day_log": day_log(30, 12)})
    rows = dashboards.twinning_indicators(db.session, get_user(db.session, "city"))
    assert rows == [
        {
            "pairing": "TW03 甘肃省临夏州永靖县",
            "year": 2021,
            "workers": 2,
            "working_days": 42,
            "workers_ok": True,
            "days_ok": True,
        }
    ]
    assert dashboards.twinning_indicators(db.session, get_user(db.session, "pd_district")) == []


def test_ca_disbursements_by_month_sum_the_paid_amounts(app_ctx):
    from engine.audit import service as audit
    from engine.audit.models import AuditAction

    instance = _instance("comprehensive_assistance", factories.STREET, {})
    task = HumanTask(
        instance_id=instance.id,
        process_key="comprehensive_assistance",
        spiff_task_id="00000000-0000-0000-0000-0000000000aa",
        bpmn_id="disbursement",
        name="资金发放",
        candidate_role="finance",
        org_unit_id=instance.org_unit_id,
        district_id=instance.district_id,
        street_id=instance.street_id,
        state=TaskStatus.COMPLETED,
    )
    db.session.add(task)
    db.session.flush()
    audit.record(
        db.session,
        AuditAction.TASK_COMPLETED,
        instance_id=instance.id,
        task_id=task.id,
        details={"bpmn_id": "disbursement", "data": {"amount_paid": "3000.50"}},
    )
    db.session.flush()
    rows = dashboards.ca_disbursements_by_month(db.session, get_user(db.session, "pt_district"))
    assert len(rows) == 1 and rows[0]["count"] == 1 and rows[0]["total"] == "3000.50"
    assert dashboards.ca_disbursements_by_month(db.session, get_user(db.session, "pd_district")) == []


def test_who_may_view_dashboards(app_ctx):
    assert dashboards.may_view(get_user(db.session, "pt_district"))
    assert dashboards.may_view(get_user(db.session, "city"))
    assert dashboards.may_view(get_user(db.session, "pt_head"))
    assert not dashboards.may_view(get_user(db.session, "pt_advisor"))
    assert not dashboards.may_view(get_user(db.session, "pt_officer"))


def test_sla_counts_per_colour_in_the_viewers_units(app_ctx):
    import datetime as dt

    from engine.db import utcnow

    now = utcnow()
    spans = {
        "green": (now + dt.timedelta(days=3), now + dt.timedelta(days=5), None),
        "yellow": (now - dt.timedelta(hours=1), now + dt.timedelta(days=1), None),
        "orange": (now - dt.timedelta(days=2), now - dt.timedelta(days=1), now + dt.timedelta(days=2)),
        "red": (now - dt.timedelta(days=6), now - dt.timedelta(days=5), now - dt.timedelta(days=1)),
    }
    putuo = _instance("demo_assistance", factories.STREET, {})
    pudong = _instance("demo_assistance", factories.PUDONG_STREET, {})
    n = 0
    for instance, colours in ((putuo, ["green", "yellow", "orange", "red", "red"]), (pudong, ["orange"])):
        for colour in colours:
            warn, due, escalate = spans[colour]
            n += 1
            db.session.add(
                HumanTask(
                    instance_id=instance.id,
                    process_key="demo_assistance",
                    spiff_task_id=f"00000000-0000-0000-0000-{n:012d}",
                    bpmn_id="review",
                    name="审核",
                    candidate_role="street_officer",
                    org_unit_id=instance.org_unit_id,
                    district_id=instance.district_id,
                    street_id=instance.street_id,
                    state=TaskStatus.READY,
                    warn_at=warn,
                    due_at=due,
                    escalate_at=escalate,
                )
            )
    db.session.flush()
    putuo_counts = dashboards.sla_counts(db.session, get_user(db.session, "pt_district"))
    assert putuo_counts == [
        {"sla": "green", "count": 1},
        {"sla": "yellow", "count": 1},
        {"sla": "orange", "count": 1},
        {"sla": "red", "count": 2},
    ]
    city = {r["sla"]: r["count"] for r in dashboards.sla_counts(db.session, get_user(db.session, "city"))}
    assert city == {"green": 1, "yellow": 1, "orange": 2, "red": 2}


def test_sla_counts_equal_each_tasks_colour_also_for_odd_thresholds(app_ctx):
    """The one-row counts give each open task the first colour whose threshold passed — red, orange,
    yellow, else green — also when thresholds are missing or out of their usual order; closed tasks and
    other districts stay out."""
    from engine.db import utcnow

    now = utcnow()
    day = dt.timedelta(days=1)
    thresholds = [  # (warn_at, due_at, escalate_at)
        (None, None, None),  # no deadline: green
        (now + day, now + 2 * day, now + 5 * day),  # green
        (now - day, now + day, now + 4 * day),  # yellow
        (now - 2 * day, now - day, now + day),  # orange
        (now - 6 * day, now - 5 * day, now - day),  # red
        (None, now - day, None),  # overdue, no escalation set: orange
        (now - day, None, None),  # a reminder time without a due time: yellow
        (now + day, now + 2 * day, now - day),  # escalation before the due time: red
        (None, None, now - day),  # only an escalation time, passed: red
        (now - day, now + day, None),  # yellow, no escalation set
    ]
    putuo = _instance("demo_assistance", factories.STREET, {})
    pudong = _instance("demo_assistance", factories.PUDONG_STREET, {})
    n = 0
    rows = []
    for instance in (putuo, pudong):
        for state in (TaskStatus.READY, TaskStatus.CLAIMED, TaskStatus.COMPLETED):
            for warn, due, escalate in thresholds:
                n += 1
                rows.append(
                    HumanTask(
                        instance_id=instance.id,
                        process_key="demo_assistance",
                        spiff_task_id=f"00000000-0000-0000-0002-{n:012d}",
                        bpmn_id="review",
                        name="审核",
                        candidate_role="street_officer",
                        org_unit_id=instance.org_unit_id,
                        district_id=instance.district_id,
                        street_id=instance.street_id,
                        state=state,
                        warn_at=warn,
                        due_at=due,
                        escalate_at=escalate,
                    )
                )
    db.session.add_all(rows)
    db.session.flush()

    def colour(row: HumanTask) -> str:
        if row.escalate_at is not None and row.escalate_at <= now:
            return "red"
        if row.due_at is not None and row.due_at <= now:
            return "orange"
        if row.warn_at is not None and row.warn_at <= now:
            return "yellow"
        return "green"

    def expected(district_id: int | None) -> list[dict]:
        open_rows = [
            r for r in rows if r.state != TaskStatus.COMPLETED and district_id in (None, r.district_id)
        ]
        return [
            {"sla": c, "count": sum(colour(r) == c for r in open_rows)}
            for c in ("green", "yellow", "orange", "red")
        ]

    city = dashboards.sla_counts(db.session, get_user(db.session, "city"))
    assert city == expected(None)
    assert {r["sla"]: r["count"] for r in city} == {"green": 8, "yellow": 12, "orange": 8, "red": 12}
    putuo_counts = dashboards.sla_counts(db.session, get_user(db.session, "pt_district"))
    assert putuo_counts == expected(putuo.district_id)
