"""Logins cannot starve the workers (issue 20): password checks hold one of a bounded number of slots;
with every slot busy a login waits briefly, then is answered 503 with Retry-After — through the API
and the login page — and is not counted as a failed login. The argon2 parameters are configurable.
(The login storm against task completions is measured by bench/login_storm.py, not asserted here.)"""

from __future__ import annotations

import threading

import pytest
from argon2 import PasswordHasher
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from api import configure_argon2
from api.security import PasswordSlots
from engine.users import service as users
from engine.users.models import LoginFailure
from tests.conftest import PASSWORD
from tests.web.helpers import Web


@pytest.fixture()
def one_slot(app):
    slots = PasswordSlots(1, 0.05)
    previous = app.extensions.get("assistflow_password_slots")
    app.extensions["assistflow_password_slots"] = slots
    yield slots
    app.extensions["assistflow_password_slots"] = previous


def _hold(slots):
    held, release = threading.Event(), threading.Event()

    def worker():
        with slots:
            held.set()
            release.wait(30)

    thread = threading.Thread(target=worker)
    thread.start()
    assert held.wait(10)
    return release, thread


def test_a_login_with_every_slot_busy_is_answered_503_and_not_counted(client, one_slot, session):
    busy_before = REGISTRY.get_sample_value("assistflow_login_busy_total") or 0
    release, thread = _hold(one_slot)
    try:
        answer = client.post("/api/v1/auth/token", json={"username": "pt_officer", "password": PASSWORD})
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "1"
        assert answer.json["error"] == "login_busy" and "稍后再试" in answer.json["message"]
        page = Web(client)
        page.get("/login")
        refused = page.post("/login", {"username": "pt_officer", "password": PASSWORD})
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
        assert "登录人数较多" in refused.get_data(as_text=True)
    finally:
        release.set()
        thread.join(10)
    assert session.scalar(select(func.count()).select_from(LoginFailure)) == 0  # not a failed login
    assert (REGISTRY.get_sample_value("assistflow_login_busy_total") or 0) == busy_before + 2
    answer = client.post("/api/v1/auth/token", json={"username": "pt_officer", "password": PASSWORD})
    assert answer.status_code == 201  # the slot is free again


def test_a_slot_is_given_back_after_a_failed_check(client, one_slot):
    for _ in range(3):
        wrong = client.post("/api/v1/auth/token", json={"username": "pt_officer", "password": "wrong-1"})
        assert wrong.status_code == 401
    assert (
        client.post("/api/v1/auth/token", json={"username": "pt_officer", "password": PASSWORD}).status_code
        == 201
    )


def test_argon2_parameters_are_configurable_and_old_hashes_still_verify():
    old = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4).hash("a-password-1")
    try:
        configure_argon2("1,8192,1")
        made = users.hash_password("a-password-1")
        assert "m=8192,t=1,p=1" in made
        assert users._HASHER.verify(old, "a-password-1")
        with pytest.raises(ValueError, match="time_cost,memory_kib,parallelism"):
            configure_argon2("fast")
    finally:
        users.configure_hasher(*users.ARGON2_DEFAULT)
    assert "m=19456,t=2,p=1" in users.hash_password("x-password-1")


def test_password_checks_run_in_a_low_priority_process_and_old_hashes_are_remade(app, client, session):
    """The API's login checks the password in the pool's process (niced), not the web thread; a hash
    made with other parameters is re-made there at the login."""
    import os

    from engine.users.models import User

    old = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=2).hash(PASSWORD)
    user = session.scalar(select(User).where(User.username == "pt_advisor"))
    user.password_hash = old
    session.commit()
    answer = client.post("/api/v1/auth/token", json={"username": "pt_advisor", "password": PASSWORD})
    assert answer.status_code == 201
    pool = app.extensions["assistflow_password_pool"]
    child = pool._pool().submit(os.getpid).result(10)
    assert child != os.getpid()
    assert pool._pool().submit(os.nice, 0).result(10) >= os.nice(0) + app.config["LOGIN_NICE"]
    session.expire_all()
    remade = session.scalar(select(User.password_hash).where(User.username == "pt_advisor"))
    assert remade != old and "m=19456,t=2,p=1" in remade
    wrong = client.post("/api/v1/auth/token", json={"username": "pt_advisor", "password": "wrong-pass-1"})
    assert wrong.status_code == 401


def test_the_pool_can_run_its_checks_in_the_idle_class():
    """``ASSISTFLOW_LOGIN_NICE=idle``: the pool's process runs in SCHED_IDLE (CPU time nothing else
    wants) and still checks passwords; a value that is neither a number nor ``idle`` stops the start."""
    import os

    from api.config import _niceness
    from engine.users import password_check
    from engine.users.password_pool import PasswordPool

    assert _niceness("idle") == "idle" and _niceness(" 7 ") == 7
    with pytest.raises(RuntimeError, match="ASSISTFLOW_LOGIN_NICE"):
        _niceness("low")
    pool = PasswordPool(1, "idle", 30)
    try:
        assert pool._pool().submit(os.sched_getscheduler, 0).result(30) == os.SCHED_IDLE
        assert pool._pool().submit(os.sched_getaffinity, 0).result(30) == os.sched_getaffinity(0)  # any core
        params = (1, 8, 1)
        stored = password_check.hasher(params).hash("right-pass-1")
        assert pool.check(stored, "right-pass-1", params) == (True, None)
        assert pool.check(stored, "wrong-pass-1", params) == (False, None)
    finally:
        pool.shutdown()


def test_the_pool_runs_on_the_last_core_by_default(app):
    """``ASSISTFLOW_LOGIN_CPUS`` (default ``last``): every web process's password checks run on the
    machine's last core, leaving the others to task completions; ``any`` or a list of cores may be set."""
    import os

    from api.config import _cpus
    from engine.users.password_pool import PasswordPool

    last = max(os.sched_getaffinity(0))
    assert app.config["LOGIN_CPUS"] == frozenset({last})
    assert _cpus("any") is None and _cpus("") is None and _cpus("0, 1") == frozenset({0, 1})
    with pytest.raises(RuntimeError, match="ASSISTFLOW_LOGIN_CPUS"):
        _cpus("the fast one")
    pool = PasswordPool(1, 10, 30, app.config["LOGIN_CPUS"])
    try:
        assert pool._pool().submit(os.sched_getaffinity, 0).result(30) == {last}
    finally:
        pool.shutdown()


def test_a_check_the_pool_does_not_answer_in_time_is_a_503(app, client, session):
    from engine.users.password_pool import PasswordPool

    slow = PasswordPool(1, 0, 0.0001)  # no process can start, let alone answer, in 0.1 ms
    previous = app.extensions.get("assistflow_password_pool")
    app.extensions["assistflow_password_pool"] = slow
    try:
        answer = client.post("/api/v1/auth/token", json={"username": "pt_officer", "password": PASSWORD})
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "1"
        assert answer.json["error"] == "login_busy"
    finally:
        app.extensions["assistflow_password_pool"] = previous
        slow.shutdown()
    assert session.scalar(select(func.count()).select_from(LoginFailure)) == 0  # not a failed login
