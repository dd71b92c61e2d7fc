"""What admins do to other users' accounts: see who the login guard is holding, lift a lockout, and
deactivate or reactivate an account. Admins only; every change is audited with its reason.

Unlocking deletes the user's counted failures (``login_failure`` rows) from every address, so the
three limits of ``engine.users.guard`` stop holding the account at once. A lockout of an address over
many accounts (password spraying) is not lifted by unlocking one user: it holds only that address and
ends with the window. Deactivation ends every session and API token of the user
(``engine.users.sessions.set_active``); none of them works again after a reactivation.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from engine.audit import service as audit
from engine.audit.models import AuditAction
from engine.db import utcnow
from engine.errors import Conflict, Forbidden, Invalid, NotFound
from engine.users import guard, sessions
from engine.users import service as users
from engine.users.models import LoginFailure, User

MAX_REASON = 500
_ADMINS_ONLY = "只有管理员可以管理用户账号 / only admins may manage user accounts"


@dataclass(frozen=True)
class AccountView:
    """One row of the admin's list of accounts."""

    username: str
    display_name: str
    is_active: bool
    failures: int  # failed logins inside the guard's window, from any address
    last_failure_at: dt.datetime | None
    locked: bool  # would the guard refuse the next try from the address of the latest failure


def _require_admin(actor: User) -> None:
    if not users.is_admin(actor):
        raise Forbidden(_ADMINS_ONLY)


def _reason(reason: object) -> str:
    text = reason.strip() if isinstance(reason, str) else ""
    if not text:
        raise Invalid.on("reason", "请填写操作原因 / a reason is required")
    if len(text) > MAX_REASON:
        raise Invalid.on("reason", f"原因过长（最多 {MAX_REASON} 字）/ reason too long (max {MAX_REASON})")
    return text


def _target(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"用户不存在 / user '{username[:64]}' not found")
    return user


def _held(session: Session, username: str, addr: str | None, policy: guard.LoginPolicy) -> bool:
    try:
        guard.check(session, username, addr, policy)
    except guard.LockedOut:
        return True
    return False


def accounts(
    session: Session, actor: User, policy: guard.LoginPolicy = guard.DEFAULT_POLICY
) -> list[AccountView]:
    """Every account with its failed logins in the window, the ones with failures first."""
    _require_admin(actor)
    since = utcnow() - policy.window
    counted = {
        name: (count, last)
        for name, count, last in session.execute(
            select(LoginFailure.username, func.count(), func.max(LoginFailure.at))
            .where(LoginFailure.at > since)
            .group_by(LoginFailure.username)
        )
    }
    rows = []
    for user in session.scalars(select(User).order_by(User.username)):
        count, last = counted.get(user.username, (0, None))
        locked = False
        if count:
            addr = session.scalar(
                select(LoginFailure.remote_addr)
                .where(LoginFailure.username == user.username, LoginFailure.at > since)
                .order_by(LoginFailure.at.desc(), LoginFailure.id.desc())
                .limit(1)
            )
            locked = _held(session, user.username, addr, policy)
        rows.append(AccountView(user.username, user.display_name, user.is_active, count, last, locked))
    return sorted(rows, key=lambda r: (r.failures == 0, r.username))


def unlock(session: Session, actor: User, username: str, reason: object) -> int:
    """Lift the login guard's hold on ``username``: delete its failed logins from every address.
    Returns how many were cleared; audited (409 when there is nothing to clear)."""
    _require_admin(actor)
    text = _reason(reason)
    target = _target(session, username)
    gone = delete(LoginFailure).where(LoginFailure.username == target.username)
    cleared = session.execute(gone).rowcount  # type: ignore[attr-defined]
    if not cleared:
        raise Conflict("该用户没有登录失败记录，无需解锁 / this user has no failed logins to clear")
    audit.record(
        session,
        AuditAction.LOGIN_UNLOCKED,
        actor_id=actor.id,
        details={"username": target.username, "cleared": cleared, "reason": text},
    )
    session.flush()
    return int(cleared)


def set_active(session: Session, actor: User, username: str, active: bool, reason: object) -> dict[str, int]:
    """Deactivate (every session and token ends for good) or reactivate an account; audited with the
    reason. An admin cannot deactivate their own account (409); no change is a 409 too."""
    _require_admin(actor)
    text = _reason(reason)
    target = _target(session, username)
    if target.is_active == active:
        raise Conflict(
            "该用户已是启用状态 / the user is already active"
            if active
            else "该用户已停用 / the user is already deactivated"
        )
    if not active and target.id == actor.id:
        raise Conflict("不能停用自己的账号 / you cannot deactivate your own account")
    return sessions.set_active(session, target, active, actor_id=actor.id, reason=text)
