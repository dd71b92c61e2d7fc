"""Helpers of the login and session tests (issue 18): accounts, logins by API and web form from a given
address, the audit events about a user, and a captured session cookie replayed by a second browser."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.extensions import db
from engine.audit.models import AuditEvent
from engine.users import service as users
from tests.web.helpers import Web

PASSWORD = "guard-test-pass-1"


def _user(name: str, password: str = PASSWORD, **kwargs) -> str:
    users.create_user(db.session(), name, password, grants=[("advisor", "310107014")], **kwargs)
    db.session.commit()
    return name


def _api_login(client, username, password=PASSWORD, addr="127.0.0.1"):
    return client.post(
        "/api/v1/auth/token",
        json={"username": username, "password": password},
        environ_base={"REMOTE_ADDR": addr},
    )


def _browser(client) -> Web:
    return Web(client.application.test_client())


def _web_login(browser: Web, username, password=PASSWORD, addr="127.0.0.1"):
    browser.get("/login")
    return browser.post(
        "/login", {"username": username, "password": password}, environ_base={"REMOTE_ADDR": addr}
    )


def _events(engine, action: str, username: str) -> list[dict]:
    """Committed audit events of ``action`` about ``username`` (a connection of its own)."""
    with Session(engine) as s:
        return [
            d
            for d in s.scalars(
                select(AuditEvent.details).where(AuditEvent.action == action).order_by(AuditEvent.id)
            )
            if d.get("username") == username
        ]


def _session_cookie(browser: Web) -> str:
    return browser.client.get_cookie("session").value


def _replay(client, cookie: str):
    """A second browser holding a copy of the cookie (as a thief would)."""
    other = client.application.test_client()
    other.set_cookie("session", cookie)
    return other.get("/")
