"""Notices of new work: a task landing in my queue (personal or a group I serve) is one notice per person
per step, however many tasks the step opened; mail goes through the outbox where configured."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from api.extensions import db
from engine.notifications import service as notifications
from engine.notifications.models import EmailStatus, Notification, NotificationKind
from engine.users.models import User
from tests.helpers import assert_error
from tests.procedures.helpers import INVESTIGATION, Case, Project


def _notices(username: str) -> list[Notification]:
    db.session.expire_all()
    user = db.session.scalar(select(User).where(User.username == username))
    return list(
        db.session.scalars(
            select(Notification)
            .where(Notification.user_id == user.id, Notification.kind == NotificationKind.NEW_TASK)
            .order_by(Notification.id)
        )
    )


def test_a_new_task_is_announced_to_its_group_not_to_whoever_caused_it(client, login, june):
    case = Case(client, login)  # the advisor registers: the acceptance goes to the street officers
    acceptance = case.task("acceptance")
    for officer in ("pt_officer", "pt_officer2"):
        (notice,) = _notices(officer)
        assert notice.task_id == acceptance["id"] and "受理" in notice.title
    assert _notices("pt_other_street_officer") == []  # another street's officer serves no such queue
    # the application step was opened for the advisors of the street: the one who started it is not told
    assert [n.task_id for n in _notices("pt_advisor")] == []
    assert len(_notices("pt_advisor2")) == 1


def test_a_burst_of_tasks_is_one_notice_per_person(client, login, june):
    before = len(_notices("pt_agency_worker"))
    households = Project(client, login, households=3).confirm()
    assert len(households) == 3
    after = _notices("pt_agency_worker")[before:]
    # the three needs assessments and the project's group work land at once: one notice of four
    burst = [n for n in after if "项" in n.title]
    assert len(burst) == 1 and "4" in burst[0].title, [n.title for n in after]
    assert burst[0].task_id is None and burst[0].body.count("需求评估") == 3


def test_an_assigned_task_is_announced_to_the_assignee(client, login, june):
    case = Case(client, login)
    case.do("acceptance", "pt_officer", {"accepted": True})
    task_id = case.task("home_investigation")["id"]
    seen = len(_notices("pt_advisor"))
    response = client.post(
        f"/api/v1/tasks/{task_id}/assign", json={"username": "pt_advisor"}, headers=login("pt_head")
    )
    assert response.status_code == 200, response.json
    new = _notices("pt_advisor")[seen:]
    assert [n.task_id for n in new] == [task_id] and "您的待办" in new[0].body


def test_a_refused_step_announces_nothing(client, login, june):
    case = Case(client, login)
    case.do("acceptance", "pt_officer", {"accepted": True})
    seen = len(_notices("pt_officer"))
    refused = case.submit("home_investigation", "pt_advisor", {**INVESTIGATION, "findings": "短"})
    assert_error(refused, 422)
    assert len(_notices("pt_officer")) == seen


@pytest.fixture()
def mail_on(monkeypatch):
    settings = notifications.MailSettings(enabled=True, port=0, sender="assistflow@example.invalid")
    monkeypatch.setattr(notifications, "MAIL", settings)
    officer = db.session.scalar(select(User).where(User.username == "pt_officer"))
    officer.email = "pt_officer@example.invalid"
    db.session.commit()
    yield settings
    officer.email = None
    db.session.commit()


def test_the_notice_is_mailed_where_mail_is_configured(client, login, june, mail_on):
    Case(client, login)
    (mailed,) = _notices("pt_officer")
    assert mailed.email_status == EmailStatus.PENDING
    (in_app_only,) = _notices("pt_officer2")  # no address: in-app only
    assert in_app_only.email_status == EmailStatus.NONE
