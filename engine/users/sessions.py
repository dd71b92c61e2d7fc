"""Web sessions kept on the server, password change and deactivation.

The browser's signed cookie carries only a random session id; the ``web_session`` row decides whether
it still opens anything. Logout revokes the row; a password change revokes every other session and API
token of the user; deactivation revokes them all, so nothing issued before it works again after a
reactivation. A session ends ``SESSION_LIFETIME`` after login whatever the activity.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.audit import service as audit
from engine.audit.models import AuditAction
from engine.db import utcnow
from engine.errors import Invalid
from engine.users import service as users
from engine.users.models import ApiToken, User, WebSession

SESSION_LIFETIME = dt.timedelta(hours=12)
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def open_session(session: Session, user: User, lifetime: dt.timedelta = SESSION_LIFETIME) -> str:
    """A new session for ``user``; returns the raw id for the cookie (only its hash is stored)."""
    raw = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(WebSession(user_id=user.id, token_hash=_hash(raw), created_at=now, expires_at=now + lifetime))
    session.flush()
    return raw


def user_for_session(session: Session, raw: str | None) -> User | None:
    """The active user of a live session, else None (unknown, revoked, expired, user deactivated)."""
    if not raw or not isinstance(raw, str):
        return None
    found = session.execute(
        select(WebSession, User)
        .join(User, User.id == WebSession.user_id)
        .where(WebSession.token_hash == _hash(raw))
    ).first()
    if found is None:
        return None
    row, user = found
    if row.revoked_at is not None or row.expires_at <= utcnow() or not user.is_active:
        return None
    return user


def close_session(session: Session, raw: str | None) -> None:
    """Logout: the session id is refused from now on, whoever holds a copy of the cookie."""
    if raw and isinstance(raw, str):
        session.execute(
            update(WebSession)
            .where(WebSession.token_hash == _hash(raw), WebSession.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )


def revoke_all(
    session: Session, user_id: int, *, keep_session: str | None = None, keep_token: str | None = None
) -> dict[str, int]:
    """Revoke every live web session and API token of the user but the ones named to keep."""
    now = utcnow()
    sessions_q = update(WebSession).where(WebSession.user_id == user_id, WebSession.revoked_at.is_(None))
    if keep_session:
        sessions_q = sessions_q.where(WebSession.token_hash != _hash(keep_session))
    tokens_q = update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
    if keep_token:
        tokens_q = tokens_q.where(ApiToken.token_hash != _hash(keep_token))
    ended = session.execute(sessions_q.values(revoked_at=now)).rowcount  # type: ignore[attr-defined]
    revoked = session.execute(tokens_q.values(revoked_at=now)).rowcount  # type: ignore[attr-defined]
    return {"sessions": ended, "tokens": revoked}


def password_problems(new: str, *, current: str | None = None, forbidden: tuple[str, ...] = ()) -> list[str]:
    problems = []
    if len(new) < MIN_PASSWORD_LENGTH:
        problems.append(f"密码至少 {MIN_PASSWORD_LENGTH} 位 / password must have at least 8 characters")
    if len(new) > MAX_PASSWORD_LENGTH:
        problems.append("密码过长 / password too long")
    if current is not None and new == current:
        problems.append("新密码不能与当前密码相同 / the new password must differ from the current one")
    if new in forbidden:
        problems.append("不能使用公开的演示密码 / the published demo password cannot be used")
    return problems


def change_password(
    session: Session,
    user: User,
    current: str,
    new: str,
    *,
    keep_session: str | None = None,
    keep_token: str | None = None,
    forbidden: tuple[str, ...] = (),
) -> dict[str, int]:
    """Check the current password, set the new one and end every other session and token (422 when
    the current password is wrong or the new one unacceptable). Audited without either password."""
    problems: dict[str, list[str]] = {}
    if not users.verify_password(user, current):
        problems["current_password"] = ["当前密码错误 / the current password is wrong"]
    new_problems = password_problems(new, current=current, forbidden=forbidden)
    if new_problems:
        problems["new_password"] = new_problems
    if problems:
        raise Invalid("密码未修改 / password not changed", problems)
    user.password_hash = users.hash_password(new)
    user.must_change_password = False
    ended = revoke_all(session, user.id, keep_session=keep_session, keep_token=keep_token)
    audit.record(
        session, AuditAction.PASSWORD_CHANGED, actor_id=user.id, details={"username": user.username, **ended}
    )
    session.flush()
    return ended


def set_active(
    session: Session, user: User, active: bool, *, actor_id: int | None = None, reason: str | None = None
) -> dict[str, int]:
    """Deactivate (ending every session and token for good) or reactivate a user; audited."""
    ended = {"sessions": 0, "tokens": 0}
    if user.is_active == active:
        return ended
    user.is_active = active
    if not active:
        ended = revoke_all(session, user.id)
    audit.record(
        session,
        AuditAction.USER_REACTIVATED if active else AuditAction.USER_DEACTIVATED,
        actor_id=actor_id,
        details={"username": user.username, **ended, **({"reason": reason} if reason else {})},
    )
    session.flush()
    return ended
