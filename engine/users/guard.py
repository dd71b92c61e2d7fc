"""The login guard shared by the REST API's token endpoint and the web login form.

Three limits, each over the failures of the last ``window`` (failures are rows of ``login_failure``;
a refused attempt is audited but not counted, so waiting always ends a refusal):

* **account and address pair**: ``max_failures`` failures of one username from one address lock that
  pair until the oldest leaves the window. Someone guessing a known user's password from one place
  locks out only themselves: the user, from any other address, still logs in.
* **address**: ``address_max_failures`` failures from one address, whatever the usernames, lock the
  address (password spraying over many accounts).
* **account, from anywhere**: past ``account_max_failures`` failures of one username from any
  addresses (a distributed guess), each further try waits ``2 ** (excess)`` seconds after the last
  failure, capped at ``backoff_cap``. The account is slowed, never locked: the owner is refused at most
  ``backoff_cap`` after an attacker's latest try, and an attacker gets at most one guess per cap.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.orm import Session

from engine.db import utcnow
from engine.errors import TooManyAttempts
from engine.users.models import LoginFailure


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int = 5
    window: dt.timedelta = dt.timedelta(minutes=15)
    address_max_failures: int = 30
    account_max_failures: int = 20
    backoff_cap: dt.timedelta = dt.timedelta(seconds=60)


DEFAULT_POLICY = LoginPolicy()


class LockedOut(TooManyAttempts):
    """Refused by the guard; ``scope`` names the limit that refused ("account_address", "address",
    "account")."""

    def __init__(self, scope: str, retry_after: int):
        minutes = -(-retry_after // 60)
        super().__init__(
            f"登录失败次数过多，请 {minutes} 分钟后再试 / too many failed logins, "
            f"try again in {minutes} minute(s)",
            retry_after,
        )
        self.scope = scope


def _seconds_until(moment: dt.datetime, now: dt.datetime) -> int:
    return max(1, int((moment - now).total_seconds()) + 1)


def _same_addr(remote_addr: str | None) -> ColumnElement[bool]:
    return (
        LoginFailure.remote_addr.is_(None) if remote_addr is None else LoginFailure.remote_addr == remote_addr
    )


def check(
    session: Session, username: str, remote_addr: str | None, policy: LoginPolicy = DEFAULT_POLICY
) -> None:
    """Raise :class:`LockedOut` (429) when any of the three limits refuses this attempt."""
    now = utcnow()
    since = now - policy.window
    recent = LoginFailure.at > since
    count, oldest = session.execute(
        select(func.count(), func.min(LoginFailure.at)).where(
            LoginFailure.username == username, _same_addr(remote_addr), recent
        )
    ).one()
    if count >= policy.max_failures:
        raise LockedOut("account_address", _seconds_until(oldest + policy.window, now))
    if remote_addr is not None:
        count, oldest = session.execute(
            select(func.count(), func.min(LoginFailure.at)).where(
                LoginFailure.remote_addr == remote_addr, recent
            )
        ).one()
        if count >= policy.address_max_failures:
            raise LockedOut("address", _seconds_until(oldest + policy.window, now))
    count, latest = session.execute(
        select(func.count(), func.max(LoginFailure.at)).where(LoginFailure.username == username, recent)
    ).one()
    if count >= policy.account_max_failures:
        excess = count - policy.account_max_failures
        delay = min(policy.backoff_cap.total_seconds(), 2.0 ** min(excess, 30))
        until = latest + dt.timedelta(seconds=delay)
        if until > now:
            raise LockedOut("account", _seconds_until(until, now))


def clear_pair(session: Session, username: str, remote_addr: str | None) -> None:
    """After a successful login: the pair's failures no longer count (other addresses' still do)."""
    session.execute(delete(LoginFailure).where(LoginFailure.username == username, _same_addr(remote_addr)))
