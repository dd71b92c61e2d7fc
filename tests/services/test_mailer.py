"""E-mail notifications against a real local SMTP server: sent after commit, retried, never twice."""

from __future__ import annotations

import datetime as dt
import email
import email.header
import socket

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from engine.notifications import mailer
from engine.notifications import service as notifications
from engine.notifications.models import EmailStatus, Notification, NotificationKind
from tests.conftest import get_user


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.messages.append(envelope)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield inbox, controller.port
    controller.stop()


@pytest.fixture()
def mail_on(monkeypatch):
    settings = notifications.MailSettings(enabled=True, port=0, sender="assistflow@example.invalid")
    monkeypatch.setattr(notifications, "MAIL", settings)
    return settings


def _notify(session, username="pt_advisor"):
    user = get_user(session, username)
    user.email = f"{username}@example.invalid"
    rows = notifications.notify(session, [user], NotificationKind.REMINDER, "任务即将到期", "请及时办理。")
    session.commit()
    return rows[0]


def test_sent_once_after_commit(engine, session, smtp, mail_on):
    inbox, port = smtp
    mail_on.port = port
    row = _notify(session)
    assert row.email_status == EmailStatus.PENDING
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    assert mailer.send_pending(factory, mail_on) == 1
    assert mailer.send_pending(factory, mail_on) == 0  # never twice
    assert len(inbox.messages) == 1
    message = inbox.messages[0]
    assert message.rcpt_tos == ["pt_advisor@example.invalid"]
    parsed = email.message_from_bytes(message.content)
    assert f"notification-{row.id}" in parsed["Message-ID"]
    assert str(email.header.make_header(email.header.decode_header(parsed["Subject"]))) == "任务即将到期"
    session.expire_all()
    assert session.get(Notification, row.id).email_status == EmailStatus.SENT


def test_failure_is_retried_with_backoff_then_given_up(engine, session, mail_on):
    mail_on.port = free_port()  # nothing listens there
    mail_on.max_attempts = 2
    row = _notify(session)
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    assert mailer.send_pending(factory, mail_on) == 0
    session.expire_all()
    after_first = session.get(Notification, row.id)
    assert after_first.email_status == EmailStatus.PENDING and after_first.email_attempts == 1
    assert after_first.next_email_at > dt.datetime.now(dt.UTC)
    assert mailer.send_pending(factory, mail_on) == 0  # not due yet: no attempt
    after_first.next_email_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    session.commit()
    mailer.send_pending(factory, mail_on)
    session.expire_all()
    assert session.get(Notification, row.id).email_status == EmailStatus.FAILED


def test_no_mail_when_disabled_or_no_address(engine, session, smtp):
    row = _notify(session)  # MAIL disabled by default
    assert row.email_status == EmailStatus.NONE
    assert (
        session.scalars(select(Notification).where(Notification.email_status == EmailStatus.PENDING)).all()
        == []
    )


def test_a_new_task_e_mail_names_its_step_in_english_in_the_english_half(engine, session, smtp, mail_on):
    from tests.factories import start_demo

    inbox, port = smtp
    mail_on.port = port
    get_user(session, "pt_advisor2").email = "pt_advisor2@example.invalid"
    start_demo(session)  # its first step is new work for the starter's colleague
    session.commit()
    assert mailer.send_pending(sessionmaker(bind=engine, expire_on_commit=False), mail_on) == 1
    parsed = email.message_from_bytes(inbox.messages[0].content)
    text = parsed.get_payload(decode=True).decode(parsed.get_content_charset())
    assert text.strip() == (
        '「填写帮扶申请」已进入您所在岗位的待认领。 / "Assistance application" is now to be claimed by your role.'
    )
