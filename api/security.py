"""Bearer-token authentication for the REST API, and the password login both the API and the web use."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from flask import current_app, g, request

from api.demo import DEMO_PASSWORD
from api.extensions import db
from engine.errors import Forbidden, TooManyAttempts, Unauthorized, Unavailable
from engine.users import service as users
from engine.users.guard import LockedOut, LoginPolicy
from engine.users.models import User
from engine.users.password_pool import PasswordPool, PasswordPoolBusy

BEARER: dict[str, list[str]] = {"bearerAuth": []}
P = ParamSpec("P")
R = TypeVar("R")


class PasswordChangeRequired(Forbidden):
    code = "password_change_required"


def current_user() -> User:
    return g.current_user


def bearer_token() -> str:
    return request.headers.get("Authorization", "").partition(" ")[2].strip()


def login_policy() -> LoginPolicy:
    config = current_app.config
    return LoginPolicy(
        max_failures=config["LOGIN_MAX_FAILURES"],
        window=dt.timedelta(minutes=config["LOGIN_LOCKOUT_MINUTES"]),
        address_max_failures=config["LOGIN_ADDRESS_MAX_FAILURES"],
        account_max_failures=config["LOGIN_ACCOUNT_MAX_FAILURES"],
        backoff_cap=dt.timedelta(seconds=config["LOGIN_BACKOFF_CAP_SECONDS"]),
    )


class LoginBusy(Unavailable):
    """Every password-check slot stayed busy for the wait allowed: answered 503 with ``Retry-After``
    (not a failed login: nothing is recorded against the account or the address)."""

    code = "login_busy"

    def __init__(self, retry_after: int = 1):
        super().__init__(
            "登录人数较多，请稍后再试 / too many logins at once, retry in a moment",
        )
        self.retry_after = retry_after


class PasswordSlots:
    """At most ``size`` argon2 checks at once in this process, so a burst of logins cannot take every
    worker thread and core from task completions; a login waits up to ``wait`` seconds for a slot."""

    def __init__(self, size: int, wait: float):
        self.size, self.wait = size, wait
        self._slots = threading.BoundedSemaphore(size)

    def __enter__(self) -> PasswordSlots:
        from engine.system import metrics

        if not self._slots.acquire(timeout=self.wait):
            metrics.LOGIN_REFUSED_BUSY.inc()
            raise LoginBusy()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self._slots.release()


def password_slots() -> PasswordSlots:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    slots = app.extensions.get("assistflow_password_slots")
    if slots is None:
        slots = PasswordSlots(app.config["LOGIN_CONCURRENCY"], app.config["LOGIN_SLOT_WAIT_SECONDS"])
        app.extensions["assistflow_password_slots"] = slots
    return slots


def password_pool() -> PasswordPool | None:
    """This process's pool of low-priority password-check processes (None when LOGIN_PROCESSES is 0)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if app.config.get("LOGIN_PROCESSES", 0) <= 0:
        return None
    pool = app.extensions.get("assistflow_password_pool")
    if pool is None:
        config = app.config
        pool = PasswordPool(
            config["LOGIN_PROCESSES"],
            config["LOGIN_NICE"],
            config["LOGIN_CHECK_TIMEOUT_SECONDS"],
            config["LOGIN_CPUS"],
        )
        app.extensions["assistflow_password_pool"] = pool
    return pool


def _pooled_check(pool: PasswordPool) -> users.PasswordCheck:
    def check(stored: str, password: str) -> tuple[bool, str | None]:
        try:
            return pool.check(stored, password, users.hasher_params())
        except PasswordPoolBusy:
            from engine.system import metrics

            metrics.LOGIN_REFUSED_BUSY.inc()
            raise LoginBusy() from None

    return check


def password_login(username: str, password: str, *, channel: str) -> User:
    """The one password check of the API's token endpoint and the web login form: the login guard
    (per account and address, per address, account-wide backoff) and argon2, holding one of the
    process's password-check slots (:class:`PasswordSlots`; :class:`LoginBusy` when none frees up);
    argon2 itself runs in the low-priority process pool (:func:`password_pool`) unless it is off.
    A failure or a refusal is recorded and audited in a transaction of its own (the request's is
    rolled back) and re-raised."""
    with password_slots():
        return _password_login(username, password, channel=channel)


def _password_login(username: str, password: str, *, channel: str) -> User:
    session = db.session()
    policy = login_policy()
    pool = password_pool()
    try:
        user = users.authenticate(
            session,
            username,
            password,
            remote_addr=request.remote_addr,
            policy=policy,
            check=_pooled_check(pool) if pool is not None else None,
        )
        if password == DEMO_PASSWORD:
            # the published password, however the account got it (a database made before the mark)
            user.must_change_password = True
        return user
    except (Unauthorized, TooManyAttempts) as err:
        session.rollback()
        users.record_login_failure(
            session,
            username,
            locked_out=isinstance(err, TooManyAttempts),
            remote_addr=request.remote_addr,
            window=policy.window,
            scope=err.scope if isinstance(err, LockedOut) else None,
            channel=channel,
        )
        session.commit()
        raise


def password_change_pending(user: User) -> bool:
    """A published (demo) password that must be changed before anything else, outside the local demo."""
    return bool(user.must_change_password) and not current_app.config.get("LOCAL_DEMO", False)


def _authenticate_bearer() -> User:
    header = request.headers.get("Authorization", "")
    scheme, _, raw = header.partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise Unauthorized("需要登录：请提供 Bearer 令牌 / authentication required: send a Bearer token")
    return users.user_for_token(db.session(), raw.strip())


def login_required(fn: Callable[P, R]) -> Callable[P, R]:
    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        g.current_user = _authenticate_bearer()
        if password_change_pending(g.current_user):
            raise PasswordChangeRequired(
                "请先修改密码（POST /api/v1/auth/password）/ change your password first "
                "(POST /api/v1/auth/password)"
            )
        return fn(*args, **kwargs)

    return wrapper


def token_required(fn: Callable[P, R]) -> Callable[P, R]:
    """A valid token, even one whose user still has to change a published password (the change itself)."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        g.current_user = _authenticate_bearer()
        return fn(*args, **kwargs)

    return wrapper
