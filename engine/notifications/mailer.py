"""The e-mail outbox: pending notifications are sent after the transaction that made them committed.

Each row is claimed under a row lock (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), sent, and marked sent
in the same short transaction, so two senders never take the same row. A failure is retried with
back-off and given up after ``max_attempts``. Every message carries a Message-ID derived from the
notification id, so a receiving server can drop the one duplicate a crash between send and commit
could cause.
"""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from sqlalchemy import select

from engine.db import utcnow
from engine.notifications.models import EmailStatus, Notification
from engine.notifications.service import MAIL, MailSettings, backoff, in_english
from engine.tasks.names import step_names
from engine.users.models import User

log = logging.getLogger("assistflow.mail")


def _message(row: Notification, body: str, to: str, settings: MailSettings) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = row.title
    msg["From"] = settings.sender
    msg["To"] = to
    msg["Message-ID"] = make_msgid(idstring=f"notification-{row.id}", domain="assistflow")
    msg.set_content(body)
    return msg


def _send(message: EmailMessage, settings: MailSettings) -> None:
    with smtplib.SMTP(settings.host, settings.port, timeout=10) as smtp:
        if settings.starttls:
            smtp.starttls()
        if settings.username:
            smtp.login(settings.username, settings.password or "")
        smtp.send_message(message)


def send_pending(session_factory: Any, settings: MailSettings = MAIL, limit: int = 100) -> int:
    """Send due e-mails; return how many were sent."""
    if not settings.enabled:
        return 0
    sent = 0
    for _ in range(limit):
        with session_factory() as session:
            stmt = (
                select(Notification)
                .where(
                    Notification.email_status == EmailStatus.PENDING, Notification.next_email_at <= utcnow()
                )
                .order_by(Notification.id)
                .limit(1)
            )
            if session.get_bind().dialect.name == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True)
            row = session.scalars(stmt).one_or_none()
            if row is None:
                break
            user = session.get(User, row.user_id)
            row.email_attempts += 1
            try:
                if user is None or not user.email:
                    raise ValueError("user has no e-mail address")
                # the step it quotes named in English in the English half
                body = in_english(session, [row], step_names(session, "en")).get(row.id, row.body)
                _send(_message(row, body, user.email, settings), settings)
            except Exception as err:  # network, refused recipient, ...
                log.warning(
                    "e-mail for notification %s failed (attempt %s): %s", row.id, row.email_attempts, err
                )
                if row.email_attempts >= settings.max_attempts:
                    row.email_status = EmailStatus.FAILED
                else:
                    row.next_email_at = utcnow() + backoff(row.email_attempts)
                session.commit()
                continue
            row.email_status = EmailStatus.SENT
            session.commit()
            sent += 1
    return sent
