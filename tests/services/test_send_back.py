"""退回补正: a step sends the case back to an earlier step it declares; the earlier step reopens for its
previous holder, pre-filled with its last record, and the case continues from there. SQLite and
PostgreSQL (TEST_DATABASE_URL)."""

from __future__ import annotations

from sqlalchemy import select

from api.extensions import db
from engine.audit.models import AuditEvent
from engine.notifications.models import Notification, NotificationKind
from engine.records import service as records
from engine.sendback import service as sendback
from engine.tasks.models import HumanTask
from tests.helpers import assert_error
from tests.procedures.helpers import INVESTIGATION, Case, assess, review


def _at_approval(client, login) -> Case:
    case = Case(client, login)
    case.do("acceptance", "pt_officer", {"accepted": True})
    case.do("home_investigation", "pt_advisor2", INVESTIGATION)
    case.do("assessment", "pt_officer", assess())
    case.do("democratic_review", "pt_panel", review())
    assert case.open() == ["street_approval"]
    return case


def _send_back(case, target, reason="调查日期与入户记录不符，请核实后补正", user="pt_head"):
    task_id = case.task("street_approval")["id"]
    return case.client.post(
        f"/api/v1/tasks/{task_id}/send-back",
        json={"target": target, "reason": reason},
        headers=case.login(user),
    )


def test_approval_sends_the_case_back_to_the_investigation_and_it_continues(client, login, june):
    case = _at_approval(client, login)
    approval_id = case.task("street_approval")["id"]
    offered = client.get(f"/api/v1/tasks/{approval_id}/send-back", headers=login("pt_head")).json
    assert [t["bpmn_id"] for t in offered] == ["home_investigation", "assessment"]
    response = _send_back(case, "home_investigation")
    assert response.status_code == 200, response.json
    reopened = response.json
    # the earlier step is open again, for the person who did it (not the advisor who registered)
    assert case.open() == ["home_investigation"]
    assert reopened["bpmn_id"] == "home_investigation" and reopened["state"] == "claimed"
    assert reopened["assignee"] == "pt_advisor2"
    row = db.session.get(HumanTask, reopened["id"])
    assert sendback.prefill(db.session(), row) == INVESTIGATION
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.task_id == reopened["id"], AuditEvent.action == "task.sent_back")
    )
    assert event.actor_id is not None and event.details["reason"].startswith("调查日期")
    assert event.details["from_bpmn_id"] == "street_approval"
    # the previous holder is told
    notice = db.session.scalar(
        select(Notification).where(
            Notification.task_id == reopened["id"], Notification.kind == NotificationKind.NEW_TASK
        )
    )
    assert notice is not None and notice.user_id == row.assignee_id
    # the corrected investigation is a second record; the first stays as it was
    corrected = {**INVESTIGATION, "visit_date": "2026-06-09", "findings": "补正：复核入户，情况属实"}
    case.do("home_investigation", "pt_advisor2", corrected)
    runs = records.all_of_step(db.session(), case.id, "home_investigation")
    assert [(r.iteration, r.data["visit_date"]) for r in runs] == [(1, "2026-06-08"), (2, "2026-06-09")]
    # and the case continues from there
    assert case.open() == ["assessment"]
    case.do("assessment", "pt_officer", assess())
    case.do("democratic_review", "pt_panel", review())
    assert case.open() == ["street_approval"]


def test_send_back_refusals(client, login, june):
    case = _at_approval(client, login)
    # a step the approval does not declare
    assert "target" in assert_error(_send_back(case, "acceptance"), 422)["fields"]
    assert "target" in assert_error(_send_back(case, "no_such_step"), 422)["fields"]
    # no reason
    assert_error(_send_back(case, "assessment", reason="  "), 422)
    assert_error(_send_back(case, "assessment", reason=""), 422)
    # not the holder's role
    assert_error(_send_back(case, "assessment", user="pt_officer"), 403)
    assert_error(_send_back(case, "assessment", user="pt_other_head"), 403)
    # nothing moved
    assert case.open() == ["street_approval"]
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "task.sent_back")) is None


def test_a_step_that_declares_nothing_cannot_send_back(client, login, june):
    case = Case(client, login)
    acceptance = case.task("acceptance")["id"]
    assert client.get(f"/api/v1/tasks/{acceptance}/send-back", headers=login("pt_officer")).json == []
    refused = client.post(
        f"/api/v1/tasks/{acceptance}/send-back",
        json={"target": "application", "reason": "材料不全"},
        headers=login("pt_officer"),
    )
    assert "target" in assert_error(refused, 422)["fields"]
