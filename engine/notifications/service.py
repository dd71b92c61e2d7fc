"""Creating and reading notifications; e-mail goes through an outbox sent after commit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.db import utcnow
from engine.errors import NotFound
from engine.notifications.models import EmailStatus, Notification, NotificationKind
from engine.tasks import history as task_history
from engine.tasks.names import StepNames


@dataclass
class MailSettings:
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 25
    username: str | None = None
    password: str | None = None
    sender: str = "assistflow@localhost"
    starttls: bool = False
    max_attempts: int = 5


MAIL = MailSettings()


def notify(
    session: Session, users: Iterable[Any], kind: NotificationKind, title: str, body: str, task: Any = None
) -> list[Notification]:
    created = []
    seen: set[int] = set()
    for user in users:
        if user is None or user.id in seen:
            continue
        seen.add(user.id)
        wants_mail = MAIL.enabled and bool(getattr(user, "email", None))
        row = Notification(
            user_id=user.id,
            kind=kind,
            title=title,
            body=body,
            task_id=getattr(task, "id", None),
            instance_id=getattr(task, "instance_id", None),
            email_status=EmailStatus.PENDING if wants_mail else EmailStatus.NONE,
            next_email_at=utcnow() if wants_mail else None,
        )
        session.add(row)
        created.append(row)
    session.flush()
    return created


def list_mine(
    session: Session, user_id: int, *, unread_only: bool = False, page: int = 1, per_page: int = 50
):
    stmt = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    unread = (
        session.scalar(
            select(func.count()).where(Notification.user_id == user_id, Notification.read_at.is_(None))
        )
        or 0
    )
    rows = session.scalars(
        stmt.order_by(Notification.read_at.is_not(None), Notification.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return list(rows), total, unread


def mark_read(session: Session, user_id: int, notification_id: int) -> Notification:
    row = session.get(Notification, notification_id)
    if row is None or row.user_id != user_id:
        raise NotFound(f"通知不存在 / notification {notification_id} not found")
    if row.read_at is None:
        row.read_at = utcnow()
    session.flush()
    return row


def mark_all_read(session: Session, user_id: int) -> int:
    rows = list(
        session.scalars(
            select(Notification).where(Notification.user_id == user_id, Notification.read_at.is_(None))
        )
    )
    now = utcnow()
    for row in rows:
        row.read_at = now
    session.flush()
    return len(rows)


def _step_in_english(text: str, name: str, english: str) -> str:
    """A notice written "中文 / English" that quotes its step as "<name>" (its Chinese name, as the
    task had it) in the English half, with the step's English name there instead."""
    zh, sep, en = text.partition(" / ")
    return zh + sep + en.replace(f'"{name}"', f'"{english}"') if sep else text


def in_english(session: Session, notices: Iterable[Notification], names: StepNames) -> dict[int, str]:
    """The text of each notice that quotes its task's step (by notice id), the step named in English in
    the English half by ``names`` (engine.tasks.names): a notice is written once, in both languages, with
    the step's Chinese name. The tasks' names are read in one query."""
    quoting = [n for n in notices if n.task_id is not None]
    tasks = task_history.names_of(session, {n.task_id for n in quoting if n.task_id is not None})
    return {
        n.id: _step_in_english(n.body, tasks[n.task_id].name, names.task(tasks[n.task_id]))
        for n in quoting
        if n.task_id in tasks
    }


def backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


def unread_count(session: Session, user_id: int) -> int:
    return (
        session.scalar(
            select(func.count()).where(Notification.user_id == user_id, Notification.read_at.is_(None))
        )
        or 0
    )
