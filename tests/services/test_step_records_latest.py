"""``records.latest_per_step``: each step's last record and its number of runs, steps in the order first
done (what the case summary shows). Runs on SQLite and PostgreSQL (TEST_DATABASE_URL)."""

from __future__ import annotations

from api.extensions import db
from engine.records import service as records
from tests.procedures.helpers import Project


def test_each_step_once_with_its_latest_run_and_count(client, login, june):
    project = Project(client, login, households=1)
    household = project.confirm()[0]
    household.assess_and_plan()
    for n in range(1, 4):
        household.record("visit", content=f"第{n}次入户走访")
    db.session.expire_all()
    found = records.latest_per_step(db.session(), household.id)
    assert [(r.bpmn_id, runs) for r, runs in found] == [
        ("needs_assessment", 1),
        ("household_plan", 1),
        ("case_work", 3),
    ]
    last = found[-1][0]
    assert last.iteration == 3 and last.data["content"] == "第3次入户走访"
    assert records.latest_per_step(db.session(), household.id + 10_000) == []
