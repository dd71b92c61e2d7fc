"""Users, password login (argon2), API tokens and permission checks."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session, joinedload

from engine import scope
from engine.audit import service as audit
from engine.audit.models import AuditAction
from engine.db import utcnow
from engine.errors import Invalid, NotFound, Unauthorized
from engine.orgs import service as orgs
from engine.orgs.models import OrgUnit
from engine.users import guard, password_check
from engine.users.models import SUPERVISOR_ROLES, ApiToken, LoginFailure, Role, RoleGrant, User

TOKEN_TTL = dt.timedelta(hours=12)
# Lockout: this many failed logins for one username within the window refuse further tries until the
# oldest of them leaves the window (the caller may pass other figures from its configuration).
LOCKOUT_MAX_FAILURES = 5
LOCKOUT_WINDOW = dt.timedelta(minutes=15)
# argon2id parameters (time cost, memory in KiB, parallelism), chosen by measurement
# (bench/argon2_params.py): OWASP's m=19 MiB, t=2, p=1 costs about 45 ms of one core where the library's
# default (64 MiB, t=3, p=4) costs 270 ms, so two cores check ~45 passwords a second instead of ~7.
# ASSISTFLOW_ARGON2 overrides them; a stored hash made with other parameters is re-made at its next login.
ARGON2_DEFAULT = (2, 19456, 1)
_HASHER = PasswordHasher(*ARGON2_DEFAULT)
# Verifying against this when the user does not exist keeps timing the same for unknown names.
_DUMMY_HASH = _HASHER.hash("assistflow-no-such-user")


def configure_hasher(time_cost: int, memory_kib: int, parallelism: int) -> None:
    """Use these argon2id parameters for new hashes (and the unknown-user check) from now on."""
    global _HASHER, _DUMMY_HASH
    _HASHER = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)
    _DUMMY_HASH = _HASHER.hash("assistflow-no-such-user")


def hasher_params() -> tuple[int, int, int]:
    """The argon2id parameters new hashes are made with: (time cost, memory KiB, parallelism)."""
    return (_HASHER.time_cost, _HASHER.memory_cost, _HASHER.parallelism)


# (stored hash, password) -> (matches, a new hash when the stored one used other parameters)
PasswordCheck = Callable[[str, str], tuple[bool, str | None]]


def check_password(stored: str, password: str) -> tuple[bool, str | None]:
    """The argon2 check in this thread (:data:`PasswordCheck`)."""
    return password_check.check(stored, password, hasher_params())


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def create_user(
    session: Session,
    username: str,
    password: str,
    *,
    display_name: str | None = None,
    grants: Iterable[tuple[Any, ...]] = (),
    actor_id: int | None = None,
    must_change_password: bool = False,
) -> User:
    """Create a user with ``grants`` as (role, org unit code[, procedures[, bound_to]]) tuples:
    ``procedures`` lists process keys or families (``bridge_plan_*``), ``bound_to`` the business keys of
    the projects or pairings an agency is contracted for (engine.scope); ``None`` keeps the default.
    ``must_change_password`` for a published password (the demo users')."""
    problems: dict[str, list[str]] = {}
    if not username or len(username) > 64 or not username.replace("_", "").replace(".", "").isalnum():
        problems["username"] = ["用户名只能包含字母、数字、下划线和点 / letters, digits, '_' and '.' only"]
    if len(password) < 8:
        problems["password"] = ["密码至少 8 位 / password must have at least 8 characters"]
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        problems["username"] = ["用户名已存在 / username already exists"]
    resolved: list[tuple[Role, OrgUnit, list[str] | None, list[str] | None]] = []
    for role, code, *rest in grants:
        procedures, bound_to = (list(rest) + [None, None])[:2]
        for name, values in (("procedures", procedures), ("bound_to", bound_to)):
            if values is not None and (
                not isinstance(values, list | tuple)
                or not values
                or not all(isinstance(v, str) and 0 < len(v) <= 100 for v in values)
            ):
                problems.setdefault("grants", []).append(
                    f"{name} 必须是非空字符串列表 / {name} must be a non-empty list of strings"
                )
        try:
            resolved.append(
                (
                    Role(role),
                    orgs.by_code(session, code),
                    list(procedures) if procedures else None,
                    list(bound_to) if bound_to else None,
                )
            )
        except ValueError:
            problems.setdefault("grants", []).append(f"未知角色 / unknown role '{role}'")
        except NotFound as err:
            problems.setdefault("grants", []).append(err.message)
    if problems:
        raise Invalid("用户信息无效 / invalid user", problems)
    user = User(
        username=username,
        display_name=display_name or username,
        password_hash=hash_password(password),
        must_change_password=must_change_password,
    )
    user.grants = [
        RoleGrant(role=role, org_unit_id=unit.id, procedures=procs, bound_to=bound)
        for role, unit, procs, bound in resolved
    ]
    session.add(user)
    session.flush()
    audit.record(
        session,
        AuditAction.USER_CREATED,
        actor_id=actor_id,
        details={
            "username": username,
            "grants": [[r.value, u.code, *([p, b] if p or b else [])] for r, u, p, b in resolved],
        },
    )
    return user


def _policy(
    policy: guard.LoginPolicy | None, max_failures: int | None, window: dt.timedelta | None
) -> guard.LoginPolicy:
    policy = policy or guard.DEFAULT_POLICY
    if max_failures is not None:
        policy = replace(policy, max_failures=max_failures)
    if window is not None:
        policy = replace(policy, window=window)
    return policy


def check_lockout(
    session: Session,
    username: str,
    *,
    remote_addr: str | None = None,
    max_failures: int | None = None,
    window: dt.timedelta | None = None,
    policy: guard.LoginPolicy | None = None,
) -> None:
    """Refuse (429, :class:`guard.LockedOut`) while the login guard holds this username and address."""
    guard.check(session, username, remote_addr, _policy(policy, max_failures, window))


def authenticate(
    session: Session,
    username: str,
    password: str,
    *,
    remote_addr: str | None = None,
    max_failures: int | None = None,
    window: dt.timedelta | None = None,
    policy: guard.LoginPolicy | None = None,
    check: PasswordCheck | None = None,
) -> User:
    """Check the password (argon2); a locked-out username is refused before the password is looked at.
    ``check`` runs the argon2 check (:func:`check_password` here, or a low-priority process pool:
    engine/users/password_pool.py).

    A failure raises; the caller records it with :func:`record_login_failure` in a transaction of its
    own (the failed request's transaction is rolled back). A success clears the failures of this
    username from this address.
    """
    check_lockout(session, username, remote_addr=remote_addr, policy=_policy(policy, max_failures, window))
    user = session.scalar(select(User).where(User.username == username))
    matches, new_hash = (check or check_password)(user.password_hash if user else _DUMMY_HASH, password)
    if not matches:
        raise Unauthorized("用户名或密码错误 / wrong username or password")
    if user is None or not user.is_active:
        raise Unauthorized("用户名或密码错误 / wrong username or password")
    if new_hash is not None:
        user.password_hash = new_hash
    guard.clear_pair(session, username, remote_addr)
    return user


def verify_password(user: User, password: str) -> bool:
    try:
        return _HASHER.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def record_login_failure(
    session: Session,
    username: str,
    *,
    locked_out: bool = False,
    remote_addr: str | None = None,
    window: dt.timedelta = LOCKOUT_WINDOW,
    scope: str | None = None,
    channel: str | None = None,
) -> None:
    """Count a failed login towards the lockout (not while locked out) and audit it.

    ``scope`` is the limit that refused a locked-out attempt, ``channel`` where the login came from
    ("api" or "web"); both go into the audit event.
    """
    username = username[:64]
    session.execute(delete(LoginFailure).where(LoginFailure.at <= utcnow() - window))
    if not locked_out:
        session.add(LoginFailure(username=username, remote_addr=remote_addr))
    user_id = session.scalar(select(User.id).where(User.username == username))
    details: dict[str, str | None] = {"username": username, "remote_addr": remote_addr}
    if scope:
        details["scope"] = scope
    if channel:
        details["channel"] = channel
    audit.record(
        session,
        AuditAction.LOGIN_LOCKED if locked_out else AuditAction.LOGIN_FAILED,
        actor_id=user_id,
        details=details,
    )
    session.flush()


def _token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def issue_token(session: Session, user: User, ttl: dt.timedelta = TOKEN_TTL) -> tuple[str, ApiToken]:
    raw = secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, token_hash=_token_hash(raw), expires_at=dt.datetime.now(dt.UTC) + ttl)
    session.add(token)
    session.flush()
    return raw, token


# Token, user and grants (with their org units) in one round trip: this runs on every API request, so
# the statement is built once (building and cache-keying it cost as much as running it).
_TOKEN_USER = (
    select(ApiToken, User)
    .join(User, User.id == ApiToken.user_id)
    .where(ApiToken.token_hash == bindparam("token_hash"))
    .options(joinedload(User.grants))  # each grant's org unit is joined in too (lazy="joined")
)


def user_for_token(session: Session, raw: str) -> User:
    found = session.execute(_TOKEN_USER, {"token_hash": _token_hash(raw)}).unique().first()
    now = dt.datetime.now(dt.UTC)
    if found is None:
        raise Unauthorized("令牌无效或已过期 / token invalid or expired")
    token, user = found
    if token.revoked_at is not None or token.expires_at <= now or not user.is_active:
        raise Unauthorized("令牌无效或已过期 / token invalid or expired")
    return user


def revoke_token(session: Session, raw: str) -> None:
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == _token_hash(raw)))
    if token is not None and token.revoked_at is None:
        token.revoked_at = dt.datetime.now(dt.UTC)
        audit.record(
            session, AuditAction.TOKEN_REVOKED, actor_id=token.user_id, details={"token_id": token.id}
        )


def by_username(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"用户不存在 / user '{username}' not found")
    return user


# --- permissions -------------------------------------------------------------------------------


def _units(session: Session, user: User) -> list[tuple[Role, OrgUnit]]:
    return [(g.role, g.org_unit) for g in user.grants]


def is_admin(user: User) -> bool:
    return any(g.role == Role.ADMIN for g in user.grants)


def holds(session: Session, user: User, role: str, target: orgs.Scoped) -> bool:
    """Does ``user`` hold ``role`` by a grant that covers ``target`` (its unit, procedure and contract)?"""
    return any(g.role.value == role and scope.grant_covers(session, g, target) for g in user.grants)


def supervises(session: Session, user: User, target: orgs.Scoped) -> bool:
    return any(g.role in SUPERVISOR_ROLES and scope.grant_covers(session, g, target) for g in user.grants)


def in_scope(session: Session, user: User, target: orgs.Scoped) -> bool:
    """Does any of the user's grants cover ``target`` (its unit, procedure and contract)?"""
    return any(scope.grant_covers(session, g, target) for g in user.grants)


def display_names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    """Display names of the given users, in one query (for timelines and task lists)."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(session.execute(select(User.id, User.display_name).where(User.id.in_(wanted))).all())
