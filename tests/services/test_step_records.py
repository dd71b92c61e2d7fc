"""Step records: each completed step keeps what was entered, never overwritten by a later step; loops are
collections of records; the table refuses changes. Runs on SQLite and PostgreSQL (TEST_DATABASE_URL)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError

from api.extensions import db
from engine.records import service as records
from engine.records.models import StepRecord
from engine.tasks.models import HumanTask
from tests.helpers import assert_error
from tests.procedures.helpers import (
    APPLICANT,
    INVESTIGATION,
    Case,
    Project,
    Twinning,
    _ca_to_follow_up,
)


def _records(instance_id: int, bpmn_id: str | None = None) -> list[StepRecord]:
    db.session.expire_all()
    rows, _total = records.of_instance(db.session(), instance_id, per_page=200, bpmn_id=bpmn_id)
    return rows


def test_the_investigation_date_survives_the_follow_up(client, login, june):
    case = Case(client, login)
    _ca_to_follow_up(case, june)
    follow_up = {"visit_date": "2026-07-12", "situation": "病情稳定，生活基本正常", "still_needs_help": False}
    case.do("follow_up_visit", "pt_advisor", follow_up)
    # the follow-up declares its outputs (still_needs_help): its visit date does not overwrite the case's
    data = case.detail()["data"]
    assert data["visit_date"] == "2026-06-08" and data["still_needs_help"] is False
    assert "situation" not in data
    # and the investigation's own record is intact
    (investigation,) = _records(case.id, "home_investigation")
    assert investigation.data["visit_date"] == "2026-06-08"
    assert investigation.data["findings"] == INVESTIGATION["findings"]
    (later,) = _records(case.id, "follow_up_visit")
    assert later.data["visit_date"] == "2026-07-12"
    done = [r.bpmn_id for r in _records(case.id)]
    assert done == [
        "application",
        "acceptance",
        "home_investigation",
        "assessment",
        "democratic_review",
        "street_approval",
        "disbursement",
        "follow_up_visit",
    ]
    application = _records(case.id, "application")[0]
    assert application.actor.username == "pt_advisor" and application.iteration == 1
    assert application.form_key == "ca_application" and application.source == "completion"
    # personal numbers are sealed at rest, as in the case data
    raw = db.session.execute(
        text("SELECT data FROM step_record WHERE id = :id"), {"id": application.id}
    ).scalar_one()
    assert APPLICANT not in str(raw) and "enc1:" in str(raw)
    assert application.data["applicant_id_number"] == APPLICANT


def test_a_refused_completion_leaves_no_record(client, login, june):
    case = Case(client, login)
    case.do("acceptance", "pt_officer", {"accepted": True})
    refused = case.submit("home_investigation", "pt_advisor", {**INVESTIGATION, "findings": "短"})
    assert_error(refused, 422)
    assert [r.bpmn_id for r in _records(case.id)] == ["application", "acceptance"]


def test_records_refuse_update_and_delete(client, login, june):
    case = Case(client, login)
    record_id = _records(case.id)[0].id
    for statement in (
        update(StepRecord).where(StepRecord.id == record_id).values(bpmn_id="changed"),
        text("DELETE FROM step_record WHERE id = :id").bindparams(id=record_id),
    ):
        with pytest.raises(DBAPIError, match="append-only"), db.session.begin_nested():
            db.session.execute(statement)
    assert _records(case.id)[0].bpmn_id == "application"


def test_a_bridge_household_lists_every_visit_and_counts_from_the_records(client, login, june):
    project = Project(client, login, households=1)
    case = project.confirm()[0]
    case.assess_and_plan()
    for n in range(1, 8):
        case.record("visit", content=f"第{n}次入户走访")
    case.record("group", content="小组活动")
    visits = [r for r in _records(case.id, "case_work") if r.data["action"] == "visit"]
    assert [r.data["content"] for r in visits] == [f"第{n}次入户走访" for n in range(1, 8)]
    assert [r.iteration for r in _records(case.id, "case_work")] == list(range(1, 9))
    counted = records.count(db.session(), [case.id], "case_work", where={"action": "visit"})
    assert counted == {case.id: 7}
    # the project's figures count the records, not the case's counter
    from engine.procedures import bridge

    figures = bridge.project_figures(db.session(), project.id, 5000)
    assert figures["visits_total"] == 7
    # closing with 7 ≥ 5 visits needs no reason
    case.record("close")
    case.do("closure", "pt_agency_lead", {"post_test_score": 90, "summary": "七次走访后结案"})
    assert case.detail()["status"] == "completed"
    assert len(_records(case.id, "case_work")) == 9


def test_five_working_years_are_five_evaluation_records(client, login, spring):
    case = Twinning(client, login, "TW03")
    case.select_and_sign()
    subsidies = ["30000.00", "28000.00", "26000.00", "24000.00", "22000.00"]
    for amount in subsidies:
        case.year(evaluation=None if amount == "30000.00" else _evaluation(amount))
    evaluations = _records(case.id, "annual_evaluation")
    assert [r.iteration for r in evaluations] == [1, 2, 3, 4, 5]
    assert [r.data["subsidy_amount"] for r in evaluations] == subsidies
    assert [r.derived["evaluation"]["year"] for r in evaluations] == [2021, 2022, 2023, 2024, 2025]
    case.do("summary_evaluation", "city", {"summary": "五年结对帮扶成效显著，社工站运行良好"})
    data = case.detail()["data"]
    assert [e["year"] for e in data["evaluations"]] == [2021, 2022, 2023, 2024, 2025]
    assert data["subsidy_total"] == "130000.00"


def _evaluation(amount: str) -> dict:
    from tests.procedures.helpers import evaluation_data

    return evaluation_data(subsidy_amount=amount)


def test_the_migration_backfills_records_from_the_audit_log(client, login, june, app):
    from flask_migrate import downgrade, upgrade

    case = Case(client, login)
    case.do("acceptance", "pt_officer", {"accepted": True})
    case.do("home_investigation", "pt_advisor", INVESTIGATION)
    before = [(r.task_id, r.bpmn_id, r.iteration, r.data, r.actor_id) for r in _records(case.id)]
    assert len(before) == 3
    db.session.commit()
    db.session.remove()
    downgrade(revision="0018_step_records-1")  # the table goes
    upgrade()  # and comes back, filled from the task.completed events
    # the downgrade also dropped the later tables: the seeded decision tables are deployed again (the
    # procedures are unchanged, so no new process version), as the session's seed had them
    from engine.definitions import service as definitions
    from tests.conftest import ROOT

    definitions.sync_dir(db.session(), ROOT / "processes")
    db.session.commit()
    after = [(r.task_id, r.bpmn_id, r.iteration, r.data, r.actor_id) for r in _records(case.id)]
    assert after == before
    assert {r.source for r in _records(case.id)} == {"audit"}
    completed = db.session.scalar(
        select(func.count())
        .select_from(HumanTask)
        .where(HumanTask.instance_id == case.id, HumanTask.state == "completed")
    )
    assert completed == 3
