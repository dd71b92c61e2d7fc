"""Trust, second pass (issue 18): one login guard for the web form and the API, no built-in session
secret, server-side sessions (logout, password change, deactivation, absolute lifetime), the forced
change of published passwords, page headers (CSP, no-store) and the client address behind a proxy."""

from __future__ import annotations

import datetime as dt
import os
import re
import stat

import pytest
import time_machine
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import config as app_config
from api.demo import DEMO_PASSWORD
from api.extensions import db
from engine.audit import chain
from engine.users import service as users
from engine.users import sessions
from engine.users.models import LoginFailure
from tests.api.login_helpers import (
    PASSWORD,
    _api_login,
    _browser,
    _events,
    _replay,
    _session_cookie,
    _user,
    _web_login,
)
from tests.conftest import DB_URL
from tests.helpers import assert_error
from tests.web.helpers import Web

NEW_PASSWORD = "a-fresh-passw0rd"


@pytest.fixture()
def web(client):
    """web(username) -> a logged-in web client (as tests/web/conftest.py's)."""

    def _web(username: str | None = None) -> Web:
        one = Web(client.application.test_client())
        return one.login(username) if username else one

    return _web


# --- 1. one login guard, audited, per account and address ---------------------------------------------


def test_web_login_failures_and_lockout_are_audited_and_shared_with_the_api(client, engine):
    name = _user("guard_shared")
    start = dt.datetime.now(dt.UTC)
    with time_machine.travel(start, tick=False):
        browser = _browser(client)
        for _ in range(3):
            assert _web_login(browser, name, "wrong-password").status_code == 401
        for _ in range(2):
            assert_error(_api_login(client, name, "wrong-password"), 401)
        failures = _events(engine, "auth.login_failed", name)
        assert [f["channel"] for f in failures] == ["web"] * 3 + ["api"] * 2
        assert all(f["remote_addr"] == "127.0.0.1" for f in failures)
        # five failures over both channels: the right password is refused on both
        locked_web = _web_login(browser, name)
        assert locked_web.status_code == 429 and 0 < int(locked_web.headers["Retry-After"]) <= 15 * 60 + 1
        assert "登录失败次数过多" in locked_web.get_data(as_text=True)
        assert_error(_api_login(client, name), 429, "too_many_requests")
        locks = _events(engine, "auth.login_locked", name)
        assert [(e["channel"], e["scope"]) for e in locks] == [
            ("web", "account_address"),
            ("api", "account_address"),
        ]
    with time_machine.travel(start + dt.timedelta(minutes=15, seconds=2), tick=False):
        assert _web_login(_browser(client), name).status_code == 302
    with Session(engine) as s:
        assert chain.verify(s).ok


def test_an_attacker_at_one_address_does_not_lock_the_user_out_elsewhere(client):
    name = _user("guard_victim")
    for _ in range(10):
        _api_login(client, name, "wrong-password", addr="203.0.113.9")
    assert_error(_api_login(client, name, addr="203.0.113.9"), 429)
    assert _api_login(client, name, addr="198.51.100.7").status_code == 201
    assert _web_login(_browser(client), name, addr="198.51.100.7").status_code == 302


def test_one_address_guessing_over_many_accounts_is_locked_out(app, client, monkeypatch, engine):
    monkeypatch.setitem(app.config, "LOGIN_ADDRESS_MAX_FAILURES", 6)
    target = _user("guard_spray_target")
    for i in range(6):  # one try per username: no pair reaches its own limit
        assert_error(_api_login(client, f"sprayed_{i}", "wrong-password", addr="203.0.113.50"), 401)
    assert_error(_api_login(client, target, addr="203.0.113.50"), 429)
    assert [e["scope"] for e in _events(engine, "auth.login_locked", target)] == ["address"]
    assert _api_login(client, target, addr="198.51.100.8").status_code == 201


def test_guessing_from_many_addresses_slows_the_account_but_never_locks_it(app, client, monkeypatch, engine):
    monkeypatch.setitem(app.config, "LOGIN_ACCOUNT_MAX_FAILURES", 4)
    monkeypatch.setitem(app.config, "LOGIN_BACKOFF_CAP_SECONDS", 8)
    name = _user("guard_distributed")
    start = dt.datetime.now(dt.UTC)
    moment = start
    with time_machine.travel(start, tick=False) as clock:
        for i in range(4):  # under the account-wide limit: no delay
            assert_error(_api_login(client, name, "wrong-password", addr=f"192.0.2.{i + 1}"), 401)
        # now each try waits 2 ** excess seconds after the last failure, capped at 8 s
        refused = _api_login(client, name, addr="192.0.2.100")
        assert_error(refused, 429)
        assert int(refused.headers["Retry-After"]) <= 2
        for i in range(10):  # the attacker keeps going from fresh addresses, as fast as allowed
            moment += dt.timedelta(seconds=9)
            clock.move_to(moment)
            assert_error(_api_login(client, name, "wrong-password", addr=f"192.0.2.{i + 10}"), 401)
        # the delay stays capped: the owner waits at most 8 s after the attacker's latest try
        late = _api_login(client, name, addr="192.0.2.200")
        assert_error(late, 429)
        assert 0 < int(late.headers["Retry-After"]) <= 9
        clock.move_to(moment + dt.timedelta(seconds=9))
        assert _api_login(client, name, addr="192.0.2.200").status_code == 201
    assert {e["scope"] for e in _events(engine, "auth.login_locked", name)} == {"account"}


def test_a_refused_attempt_is_not_counted(app, client):
    """Waiting always ends a refusal: tries while locked out do not extend the lockout."""
    name = _user("guard_wait")
    start = dt.datetime.now(dt.UTC)
    with time_machine.travel(start, tick=False):
        for _ in range(5):
            _api_login(client, name, "wrong-password")
    with time_machine.travel(start + dt.timedelta(minutes=14), tick=False):
        for _ in range(20):
            assert_error(_api_login(client, name, "wrong-password"), 429)
    with time_machine.travel(start + dt.timedelta(minutes=15, seconds=2), tick=False):
        assert _api_login(client, name).status_code == 201
    assert db.session.scalar(select(LoginFailure.id).where(LoginFailure.username == name)) is None


# --- 2. no built-in session secret --------------------------------------------------------------------


def test_no_session_secret_outside_the_local_demo_refuses_to_start(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", DB_URL)
    monkeypatch.delenv("ASSISTFLOW_SECRET_KEY")
    with pytest.raises(app_config.SecretKeyNotConfigured, match="ASSISTFLOW_SECRET_KEY"):
        app_config.load_config()
    for weak in ("dev-only-change-me", "short-secret"):
        monkeypatch.setenv("ASSISTFLOW_SECRET_KEY", weak)
        with pytest.raises(app_config.SecretKeyNotConfigured, match="too weak"):
            app_config.load_config()


def test_the_local_demo_makes_its_own_secret_once(monkeypatch, tmp_path):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("ASSISTFLOW_SECRET_KEY")
    monkeypatch.setattr(app_config, "LOCAL_SECRET", tmp_path / "instance" / "session-secret.env")
    first = app_config.load_config({"SQLALCHEMY_DATABASE_URI": "sqlite://"})["SECRET_KEY"]
    assert len(first) >= app_config.MIN_SECRET_LENGTH and first != "dev-only-change-me"
    assert stat.S_IMODE(os.stat(app_config.LOCAL_SECRET).st_mode) == 0o600
    assert app_config.load_config({"SQLALCHEMY_DATABASE_URI": "sqlite://"})["SECRET_KEY"] == first


def test_a_cookie_forged_with_the_old_built_in_key_opens_nothing(app, client):
    forger = Flask("forger")
    forger.secret_key = "dev-only-change-me"
    admin_id = users.by_username(db.session(), "admin").id
    forged = forger.session_interface.get_signing_serializer(forger).dumps({"uid": admin_id})
    browser = client.application.test_client()
    browser.set_cookie("session", forged)
    assert browser.get("/admin/processes").status_code == 302
    # nor one signed with the real key but carrying only a user id (the old cookie format)
    real = app.session_interface.get_signing_serializer(app).dumps({"uid": admin_id})
    browser.set_cookie("session", real)
    response = browser.get("/admin/processes")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


# --- 3. server-side sessions -----------------------------------------------------------------------------


def test_a_cookie_captured_before_logout_no_longer_works(client):
    name = _user("session_logout")
    browser = _browser(client)
    assert _web_login(browser, name).status_code == 302
    browser.get("/")
    captured = _session_cookie(browser)
    assert _replay(client, captured).status_code == 200
    assert browser.post("/logout").status_code == 302
    assert _replay(client, captured).status_code == 302


def test_a_session_ends_at_a_fixed_time_after_login_whatever_the_activity(client):
    name = _user("session_lifetime")
    start = dt.datetime.now(dt.UTC)
    with time_machine.travel(start, tick=False) as clock:
        browser = _browser(client)
        assert _web_login(browser, name).status_code == 302
        for hours in (4, 8, 11):
            clock.move_to(start + dt.timedelta(hours=hours))
            assert browser.get("/").status_code == 200
        latest = _session_cookie(browser)
        clock.move_to(start + sessions.SESSION_LIFETIME - dt.timedelta(seconds=5))
        assert _replay(client, latest).status_code == 200
        clock.move_to(start + sessions.SESSION_LIFETIME + dt.timedelta(seconds=1))
        assert _replay(client, latest).status_code == 302


def test_password_change_on_the_web_ends_every_other_session_and_token(client):
    name = _user("session_pwchange")
    other_browser = _browser(client)
    assert _web_login(other_browser, name).status_code == 302
    token = _api_login(client, name).json["token"]
    browser = _browser(client)
    assert _web_login(browser, name).status_code == 302
    page = browser.get("/password")
    assert page.status_code == 200 and "修改密码" in page.get_data(as_text=True)
    refused = browser.post(
        "/password",
        {"current_password": "not-it-at-all", "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
    )
    assert refused.status_code == 422 and "当前密码错误" in refused.get_data(as_text=True)
    changed = browser.post(
        "/password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
    )
    assert changed.status_code == 302
    assert browser.get("/").status_code == 200  # this browser goes on, with a new session id
    assert other_browser.get("/").status_code == 302
    assert_error(client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}), 401)
    assert_error(_api_login(client, name), 401)
    assert _api_login(client, name, NEW_PASSWORD).status_code == 201
    events = _events(db.engine, "auth.password_changed", name)
    assert len(events) == 1 and events[0]["sessions"] >= 2 and events[0]["tokens"] == 1
    assert PASSWORD not in str(events) and NEW_PASSWORD not in str(events)


def test_password_change_through_the_api_keeps_the_calling_token_only(client):
    name = _user("session_api_pw")
    other = {"Authorization": f"Bearer {_api_login(client, name).json['token']}"}
    mine = {"Authorization": f"Bearer {_api_login(client, name).json['token']}"}
    body = assert_error(
        client.post(
            "/api/v1/auth/password",
            json={"current_password": "wrong-one", "new_password": "short"},
            headers=mine,
        ),
        422,
    )
    assert set(body["fields"]) == {"current_password", "new_password"}
    ok = client.post(
        "/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=mine,
    )
    assert ok.status_code == 204
    assert client.get("/api/v1/auth/me", headers=mine).status_code == 200
    assert_error(client.get("/api/v1/auth/me", headers=other), 401)


def test_deactivation_ends_sessions_and_tokens_for_good(client):
    name = _user("session_deactivated")
    browser = _browser(client)
    assert _web_login(browser, name).status_code == 302
    cookie = _session_cookie(browser)
    old = {"Authorization": f"Bearer {_api_login(client, name).json['token']}"}
    session = db.session()
    ended = sessions.set_active(session, users.by_username(session, name), False)
    session.commit()
    assert ended == {"sessions": 1, "tokens": 1}
    assert_error(client.get("/api/v1/auth/me", headers=old), 401)
    assert _replay(client, cookie).status_code == 302
    sessions.set_active(session, users.by_username(session, name), True)
    session.commit()
    assert_error(client.get("/api/v1/auth/me", headers=old), 401)  # stays dead after reactivation
    assert _replay(client, cookie).status_code == 302
    assert _api_login(client, name).status_code == 201
    assert [len(_events(db.engine, a, name)) for a in ("user.deactivated", "user.reactivated")] == [1, 1]


def test_the_users_cli_deactivates(app, client):
    name = _user("session_cli")
    token = {"Authorization": f"Bearer {_api_login(client, name).json['token']}"}
    result = app.test_cli_runner().invoke(args=["users", "deactivate", name])
    assert result.exit_code == 0 and "1 tokens ended" in result.output
    db.session.expire_all()
    assert_error(client.get("/api/v1/auth/me", headers=token), 401)
    assert app.test_cli_runner().invoke(args=["users", "activate", name]).exit_code == 0
    assert_error(client.get("/api/v1/auth/me", headers=token), 401)


def test_published_demo_passwords_must_be_changed_outside_the_demo(app, client, monkeypatch):
    name = _user("demo_like", DEMO_PASSWORD, must_change_password=True)
    token = {"Authorization": f"Bearer {_api_login(client, name, DEMO_PASSWORD).json['token']}"}
    assert client.get("/api/v1/tasks", headers=token).status_code == 200  # the local demo: usable
    monkeypatch.setitem(app.config, "LOCAL_DEMO", False)
    assert_error(client.get("/api/v1/tasks", headers=token), 403, "password_change_required")
    browser = _browser(client)
    assert _web_login(browser, name, DEMO_PASSWORD).status_code == 302
    response = browser.get("/")
    assert response.status_code == 302 and response.headers["Location"] == "/password"
    assert browser.get("/password").status_code == 200
    same = browser.post(
        "/password",
        {"current_password": DEMO_PASSWORD, "new_password": DEMO_PASSWORD, "confirm_password": DEMO_PASSWORD},
    )
    assert same.status_code == 422 and "演示密码" in same.get_data(as_text=True)
    assert (
        client.post(
            "/api/v1/auth/password",
            json={"current_password": DEMO_PASSWORD, "new_password": NEW_PASSWORD},
            headers=token,
        ).status_code
        == 204
    )
    assert client.get("/api/v1/tasks", headers=token).status_code == 200
    assert _web_login(_browser(client), name, NEW_PASSWORD).status_code == 302


def test_any_account_logging_in_with_the_demo_password_must_change_it(app, client, monkeypatch):
    """Also accounts made before demo users were marked (an upgraded database)."""
    name = _user("demo_unmarked", DEMO_PASSWORD)
    monkeypatch.setitem(app.config, "LOCAL_DEMO", False)
    token = {"Authorization": f"Bearer {_api_login(client, name, DEMO_PASSWORD).json['token']}"}
    assert_error(client.get("/api/v1/auth/me", headers=token), 403, "password_change_required")


def test_the_demo_loader_marks_its_users(client, monkeypatch):
    from api import demo
    from tests.conftest import ROOT

    monkeypatch.setattr(demo, "_demo_cases", lambda _session: [])  # the users are what is looked at
    session = db.session()
    demo.load_demo(session, str(ROOT / "processes"))
    session.commit()
    demo_user = users.by_username(session, "gansu_officer")  # a demo-only name (not one of the tests')
    assert demo_user.must_change_password and users.verify_password(demo_user, DEMO_PASSWORD)


# --- 18. headers and the address behind a proxy ----------------------------------------------------------


def test_pages_send_a_content_security_policy_and_have_no_inline_script(client, web):
    advisor = web("pt_advisor")
    instance_id = advisor.start_ca(business_key="CSP-CASE-1")
    for url in ("/login", "/", f"/cases/{instance_id}", "/start"):
        response = (advisor if url != "/login" else web()).get(url)
        assert response.status_code == 200, url
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "'unsafe-eval'" not in policy
        assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
        for tag in re.findall(r"<script\b[^>]*>", response.get_data(as_text=True)):
            assert "src=" in tag or 'type="application/json"' in tag, (url, tag)
    api_policy = client.get("/api/v1/health").headers["Content-Security-Policy"]
    assert api_policy.startswith("default-src 'none'")  # JSON keeps the stricter policy


def test_case_pages_and_the_reveal_are_not_cached(web):
    advisor = web("pt_advisor")
    instance_id = advisor.start_ca(business_key="NOSTORE-1")
    district = web("pt_district")
    assert district.get(f"/cases/{instance_id}").headers["Cache-Control"] == "no-store"
    revealed = district.post(f"/cases/{instance_id}/personal-data", {}, headers={"HX-Request": "true"})
    assert revealed.status_code == 200 and revealed.headers["Cache-Control"] == "no-store"
    vendor = district.get("/vendor/htmx.js")
    vendor.close()
    assert "no-store" not in vendor.headers.get("Cache-Control", "")


@pytest.mark.parametrize("hops", [0, 1])
def test_the_client_address_behind_a_trusted_proxy(client, hops, monkeypatch):
    from api import create_app

    monkeypatch.setenv("ASSISTFLOW_TRUSTED_PROXIES", str(hops))
    proxied = create_app({"SQLALCHEMY_DATABASE_URI": DB_URL, "TESTING": True})
    name = f"proxied_{hops}"
    with proxied.app_context():
        _user(name)
        response = proxied.test_client().post(
            "/api/v1/auth/token",
            json={"username": name, "password": "wrong-password"},
            headers={"X-Forwarded-For": "203.0.113.77"},
            environ_base={"REMOTE_ADDR": "10.0.0.5"},
        )
        assert response.status_code == 401
        db.session.remove()
        db.engine.dispose()  # this app's own connection pool: closed now, not by the garbage collector
    with Session(db.engine) as s:
        addr = s.scalar(select(LoginFailure.remote_addr).where(LoginFailure.username == name))
    assert addr == ("203.0.113.77" if hops else "10.0.0.5")
