"""Login hardening: failures audited though the request fails, lockout, token revocation and expiry, headers."""

from __future__ import annotations

import datetime as dt

import time_machine
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.extensions import db
from engine.audit import chain
from engine.audit.models import AuditEvent
from engine.users import service as users
from tests.helpers import assert_error

PASSWORD = "lock-test-pass-1"


def _user(name: str) -> str:
    users.create_user(db.session(), name, PASSWORD, grants=[("advisor", "310107014")])
    db.session.commit()
    return name


def _login(client, username, password=PASSWORD):
    return client.post("/api/v1/auth/token", json={"username": username, "password": password})


def _audited(engine, action: str, username: str) -> int:
    """Counted through a connection of its own: only what was committed."""
    with Session(engine) as s:
        return len(
            [
                d
                for d in s.scalars(select(AuditEvent.details).where(AuditEvent.action == action))
                if d.get("username") == username
            ]
        )


def test_failed_logins_are_audited_although_the_request_fails(client, engine):
    name = _user("audit_me")
    assert_error(_login(client, name, "wrong-password"), 401)
    assert_error(_login(client, "nobody_here", "wrong-password"), 401)
    assert _audited(engine, "auth.login_failed", name) == 1
    assert _audited(engine, "auth.login_failed", "nobody_here") == 1
    with Session(engine) as s:
        assert chain.verify(s).ok


def test_lockout_after_five_failures_then_retry_after_the_window(client, engine):
    name = _user("lock_me")
    start = dt.datetime.now(dt.UTC)
    with time_machine.travel(start, tick=False):
        for _ in range(5):
            assert_error(_login(client, name, "wrong-password"), 401)
        locked = _login(client, name)  # even the right password is refused now
        body = assert_error(locked, 429, "too_many_requests")
        assert (
            body["message"].startswith("登录失败次数过多") and "/ too many failed logins" in body["message"]
        )
        assert 0 < int(locked.headers["Retry-After"]) <= 15 * 60 + 1
        assert _audited(engine, "auth.login_locked", name) == 1
    with time_machine.travel(start + dt.timedelta(minutes=10), tick=False):
        assert_error(_login(client, name), 429)
    with time_machine.travel(start + dt.timedelta(minutes=15, seconds=2), tick=False):
        assert _login(client, name).status_code == 201
        for _ in range(4):  # the success cleared the count: four more failures do not lock
            assert_error(_login(client, name, "wrong-password"), 401)
        assert _login(client, name).status_code == 201


def test_lockout_is_per_username(client):
    locked, other = _user("lock_one"), _user("lock_two")
    for _ in range(5):
        _login(client, locked, "wrong-password")
    assert_error(_login(client, locked), 429)
    assert _login(client, other).status_code == 201


def test_logout_revokes_and_expired_tokens_are_refused(client):
    name = _user("token_user")
    token = _login(client, name).json["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    assert client.delete("/api/v1/auth/token", headers=headers).status_code == 204
    assert_error(client.get("/api/v1/auth/me", headers=headers), 401)
    assert_error(client.delete("/api/v1/auth/token", headers=headers), 401)

    fresh = {"Authorization": f"Bearer {_login(client, name).json['token']}"}
    assert client.get("/api/v1/auth/me", headers=fresh).status_code == 200
    with time_machine.travel(dt.datetime.now(dt.UTC) + users.TOKEN_TTL + dt.timedelta(seconds=1)):
        body = assert_error(client.get("/api/v1/auth/me", headers=fresh), 401)
        assert "过期" in body["message"]


def test_security_headers_on_every_response(client, login):
    responses = [
        client.get("/api/v1/health"),
        client.get("/api/v1/tasks"),  # 401
        client.get("/api/v1/tasks", headers=login("pt_advisor")),
        client.get("/api/v1/nowhere"),  # 404
        client.get("/api/openapi.json"),
    ]
    for response in responses:
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["Cache-Control"] == "no-store"
    page = client.get("/somewhere-else")
    assert page.headers["X-Frame-Options"] == "DENY"
    # an unknown URL outside the API is the staff app's HTML error page: it carries the pages' policy
    # (scripts from this site only), not the API's
    from api.hardening import PAGE_CONTENT_SECURITY_POLICY

    assert page.mimetype == "text/html" and page.status_code == 404
    assert page.headers["Content-Security-Policy"] == PAGE_CONTENT_SECURITY_POLICY
