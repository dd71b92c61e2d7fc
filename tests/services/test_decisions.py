"""Decision tables deployed and versioned like processes: a case keeps the version in force when it
started (an old case the old table, a new case the new one), across loads; deploy is audited, an
unchanged file makes no version, a refused file writes nothing; a procedure naming an unknown decision
is refused at deploy."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.audit.models import AuditAction, AuditEvent
from engine.bpmn import dmn_task
from engine.bpmn.xmlsafe import BpmnInvalid
from engine.decisions import service as decisions
from engine.decisions.models import DecisionDefinition
from engine.definitions import service as definitions
from engine.instances import service as instances
from engine.instances.models import ProcessInstance
from engine.users import service as users
from tests.factories import STREET, application_data, complete

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "decisions"
KEY = "dmn_demo_level"


def _count(session) -> int:
    return session.scalar(select(func.count()).select_from(DecisionDefinition))


def _start(session):
    advisor = users.by_username(session, "pt_advisor")
    return instances.start(session, advisor, "dmn_demo", STREET)


def _level(session, instance) -> str:
    complete(session, "pt_advisor", instance.id, "application", application_data())
    session.flush()
    return session.get(ProcessInstance, instance.id).data["review_level"]


def test_an_old_case_keeps_the_old_table_and_a_new_case_uses_the_new_one(session):
    admin = users.by_username(session, "admin")
    v1, created = decisions.deploy(session, (FIXTURES / "dmn_demo_level.dmn").read_bytes(), actor_id=admin.id)
    assert created and (v1.key, v1.version, v1.name) == (KEY, 1, "演示审批层级")
    definitions.deploy(session, (FIXTURES / "dmn_demo.bpmn").read_bytes(), actor_id=admin.id)
    old = _start(session)
    assert old.data[dmn_task.PINS_KEY] == {KEY: {"version": 1, "sha256": v1.sha256}}

    v2, created = decisions.deploy(
        session, (FIXTURES / "dmn_demo_level_v2.dmn").read_bytes(), actor_id=admin.id
    )
    assert created and v2.version == 2
    again, created = decisions.deploy(session, (FIXTURES / "dmn_demo_level_v2.dmn").read_bytes())
    assert not created and again.id == v2.id  # the same content: no new version
    new = _start(session)
    session.flush()
    dmn_task.TABLES.clear()  # as after a restart: each case reads its own version from the database

    assert _level(session, old) == "street"  # version 1: dibao_edge 6,000.50 is a street matter
    assert _level(session, new) == "district"  # version 2 sends it to the district
    assert [v.version for v in decisions.versions(session, KEY)] == [2, 1]
    [summary] = [s for s in decisions.list_latest(session) if s.latest.key == KEY]
    assert (summary.latest.version, summary.versions) == (2, 2)
    events = session.scalars(
        select(AuditEvent).where(AuditEvent.action == AuditAction.DECISION_DEPLOYED.value)
    ).all()
    assert [(e.details["key"], e.details["version"]) for e in events if e.details["key"] == KEY] == [
        (KEY, 1),
        (KEY, 2),
    ]
    assert events[-1].actor_id == admin.id


def test_a_refused_file_writes_nothing_and_an_unknown_decision_refuses_the_procedure(session):
    before = _count(session)
    bad = (FIXTURES / "dmn_demo_level.dmn").read_text(encoding="utf-8").replace("&lt;= 5000", "&lt;= (")
    with pytest.raises(BpmnInvalid) as err:
        decisions.deploy(session, bad)
    assert "row 1: invalid input entry" in str(err.value.problems[0])
    assert _count(session) == before
    with pytest.raises(BpmnInvalid) as err:
        definitions.deploy(session, (FIXTURES / "dmn_demo.bpmn").read_bytes())
    [problem] = err.value.problems
    assert (problem.element_id, problem.name) == ("decide_level", "判定审批层级")
    assert "unknown decision 'dmn_demo_level'" in problem.message
    assert definitions.latest(session, "dmn_demo") is None


def test_the_try_it_evaluation_reads_the_procedures_parameters(session):
    view = decisions.try_it_view(
        session,
        "ca_approval_authority",
        None,
        {"proposed_amount": "20000.01", "hardship_category": "dibao", "needs_district_review": False},
        "comprehensive_assistance",
    )
    assert view["result"] == {"approval_level": "district"} and [m["row"] for m in view["matched"]] == [2]
    assert decisions.used_by(session, "ca_approval_authority") == ["comprehensive_assistance"]


def test_a_case_migrated_to_a_version_with_a_decision_keeps_its_latest_version(session):
    from engine.instances import operations as ops

    admin = users.by_username(session, "admin")
    xml = (FIXTURES / "dmn_demo.bpmn").read_text(encoding="utf-8")
    start = xml.index('<bpmn:businessRuleTask id="decide_level"')
    end = xml.index("</bpmn:businessRuleTask>") + len("</bpmn:businessRuleTask>")
    scripted = (
        xml[:start]
        + '<bpmn:scriptTask id="decide_level" name="判定审批层级"><bpmn:incoming>f2</bpmn:incoming>'
        "<bpmn:outgoing>f3</bpmn:outgoing><bpmn:script>review_level = 'script'</bpmn:script></bpmn:scriptTask>"
        + xml[end:]
    )
    definitions.deploy(session, scripted.encode("utf-8"), actor_id=admin.id)
    case = _start(session)
    assert dmn_task.PINS_KEY not in case.data
    row, _created = decisions.deploy(session, (FIXTURES / "dmn_demo_level.dmn").read_bytes())
    v2, _created = definitions.deploy(session, xml.encode("utf-8"), actor_id=admin.id)
    ops.migrate(session, admin, case.id, v2.version, "改用决策表")
    session.flush()
    assert _level(session, case) == "street"
    kept = session.get(ProcessInstance, case.id).data[dmn_task.PINS_KEY]
    assert kept == {KEY: {"version": row.version, "sha256": row.sha256}}
