"""Dashboard figures (engine service), including the Bridge Plan and Twinning indicators read from data."""

from __future__ import annotations

from sqlalchemy import select

from api.extensions import db
from engine.dashboards import service as dashboards
from engine.definitions.models import ProcessDefinition
from engine.instances.models import InstanceStatus, ProcessInstance
from engine.orgs import service as orgs
from engine.tasks.models import HumanTask, TaskStatus
from tests import factories
from tests.conftest import get_user


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


def test_bridge_indicators_per_district_from_instance_data(app_ctx):
    first = _instance("bridge_plan_household", factories.STREET, {"budget_used": "4000.00", "visit_count": 6})
    _instance("bridge_plan_household", factories.OTHER_STREET, {"budget_used": "7000"})
    _instance("bridge_plan_household", factories.PUDONG_STREET, {})  # no figures yet: counted, zero
    for n in range(2):  # completed visit tasks count too (the larger of the two is taken)
        db.session.add(
            HumanTask(
                instance_id=first.id,
                process_key="bridge_plan_household",
                spiff_task_id=f"00000000-0000-0000-0000-00000000000{n}",
                bpmn_id="home_visit",
                name="入户走访",
                candidate_role="agency_worker",
                org_unit_id=first.org_unit_id,
                district_id=first.district_id,
                street_id=first.street_id,
                state=TaskStatus.COMPLETED,
            )
        )
    db.session.flush()
    city = dashboards.bridge_indicators(db.session, get_user(db.session, "city"))
    putuo = next(r for r in city if r["district"] == "普陀区")
    assert putuo["households"] == 2 and putuo["visits_per_household"] == "3.0"
    assert putuo["budget_used"] == "11000.00" and putuo["budget_per_household"] == "5500.00"
    assert putuo["within_budget"] is False
    assert len(city) == 2
    assert [
        r["district"] for r in dashboards.bridge_indicators(db.session, get_user(db.session, "pd_district"))
    ] == ["浦东新区"]


def test_twinning_indicators_per_pairing(app_ctx):
    _instance("twinning", "310000", {"pairing": "P01", "workers": ["a", "b"], "working_days": "42"})
    _instance("twinning", "310000", {"worker_count": 1, "working_days": 12.5}, business_key="P02")
    _instance("twinning", "310000", {"working_days": "not a number"}, business_key="P03")
    rows = dashboards.twinning_indicators(db.session, get_user(db.session, "city"))
    assert rows[0] == {
        "pairing": "P01",
        "workers": 2,
        "working_days": "42",
        "workers_ok": True,
        "days_ok": True,
    }
    assert (
        rows[1]["pairing"] == "P02" and rows[1]["workers_ok"] is False and rows[1]["working_days"] == "12.5"
    )
    assert rows[2]["workers"] == 0 and rows[2]["days_ok"] is False
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
