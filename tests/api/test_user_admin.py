"""Admins manage accounts (issue 18, second pass): lifting a login lockout and deactivating /
reactivating a user, through the REST API and the admin web page; admins only, reason required, audited.
That tokens from before a deactivation stay dead after a reactivation is tested in
tests/api/test_trust_sessions.py::test_deactivation_ends_sessions_and_tokens_for_good (engine call)
and here through the API."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.extensions import db
from engine.audit import chain
from engine.users.models import LoginFailure
from tests.api.login_helpers import (
    _api_login,
    _browser,
    _events,
    _replay,
    _session_cookie,
    _user,
    _web_login,
)
from tests.helpers import assert_error
from tests.web.helpers import Web

WRONG = "wrong-password"


def _lock_out(client, name: str, addr: str = "127.0.0.1") -> None:
    for _ in range(5):
        assert_error(_api_login(client, name, WRONG, addr=addr), 401)
    assert_error(_api_login(client, name, addr=addr), 429, "too_many_requests")


def _failures(engine, name: str) -> int:
    with Session(engine) as s:
        return (
            s.scalar(select(func.count()).select_from(LoginFailure).where(LoginFailure.username == name)) or 0
        )


def test_an_admin_unlocks_a_locked_out_user_through_the_api(client, login, engine):
    name = _user("unlock_api")
    _lock_out(client, name)
    _lock_out(client, name, addr="10.0.0.7")  # locked from a second address too: both are cleared
    listed = client.get("/api/v1/users", headers=login("admin"))
    assert listed.status_code == 200
    row = next(r for r in listed.json["items"] if r["username"] == name)
    assert row["locked"] is True and row["failures"] == 10 and row["is_active"] is True
    response = client.post(
        f"/api/v1/users/{name}/unlock", json={"reason": "用户来电核实身份"}, headers=login("admin")
    )
    assert response.status_code == 200 and response.json == {"username": name, "cleared": 10}
    assert _failures(engine, name) == 0
    assert _api_login(client, name).status_code == 201
    assert _api_login(client, name, addr="10.0.0.7").status_code == 201
    [event] = _events(engine, "auth.login_unlocked", name)
    assert event == {"username": name, "cleared": 10, "reason": "用户来电核实身份"}
    with Session(engine) as s:
        assert chain.verify(s).ok


def test_unlocking_is_for_admins_with_a_reason_and_something_to_clear(client, login, engine):
    name = _user("unlock_refused")
    _lock_out(client, name)
    for who in ("pt_district", "city", "pt_advisor"):
        assert_error(
            client.post(f"/api/v1/users/{name}/unlock", json={"reason": "x"}, headers=login(who)), 403
        )
        assert_error(client.get("/api/v1/users", headers=login(who)), 403)
    assert _failures(engine, name) == 5
    assert_error(client.post(f"/api/v1/users/{name}/unlock", json={}, headers=login("admin")), 422)
    assert_error(
        client.post(f"/api/v1/users/{name}/unlock", json={"reason": "  "}, headers=login("admin")), 422
    )
    assert_error(
        client.post("/api/v1/users/nobody_here/unlock", json={"reason": "x"}, headers=login("admin")), 404
    )
    assert _failures(engine, name) == 5
    ok = client.post(f"/api/v1/users/{name}/unlock", json={"reason": "核实"}, headers=login("admin"))
    assert ok.status_code == 200
    assert_error(
        client.post(f"/api/v1/users/{name}/unlock", json={"reason": "核实"}, headers=login("admin")), 409
    )
    assert len(_events(engine, "auth.login_unlocked", name)) == 1


def test_an_admin_deactivates_and_reactivates_through_the_api(client, login, engine):
    name = _user("deactivate_api")
    browser = _browser(client)
    assert _web_login(browser, name).status_code == 302
    cookie = _session_cookie(browser)
    old = {"Authorization": f"Bearer {_api_login(client, name).json['token']}"}
    off = client.post(f"/api/v1/users/{name}/deactivate", json={"reason": "调离岗位"}, headers=login("admin"))
    assert off.status_code == 200
    assert off.json == {"username": name, "is_active": False, "sessions_ended": 1, "tokens_ended": 1}
    assert_error(client.get("/api/v1/auth/me", headers=old), 401)
    assert _replay(client, cookie).status_code == 302  # the web session ended too: back to the login page
    assert_error(_api_login(client, name), 401)  # a deactivated user cannot log in
    again = client.post(f"/api/v1/users/{name}/deactivate", json={"reason": "再次"}, headers=login("admin"))
    assert_error(again, 409)
    on = client.post(f"/api/v1/users/{name}/reactivate", json={"reason": "返回岗位"}, headers=login("admin"))
    assert on.status_code == 200 and on.json["is_active"] is True
    assert_error(client.get("/api/v1/auth/me", headers=old), 401)  # stays dead after reactivation
    assert _replay(client, cookie).status_code == 302
    assert _api_login(client, name).status_code == 201
    assert [e["reason"] for e in _events(engine, "user.deactivated", name)] == ["调离岗位"]
    assert [e["reason"] for e in _events(engine, "user.reactivated", name)] == ["返回岗位"]


def test_deactivation_is_for_admins_and_never_of_oneself(client, login):
    name = _user("deactivate_refused")
    token = {"Authorization": f"Bearer {_api_login(client, name).json['token']}"}
    for who in ("pt_district", "pt_head"):
        response = client.post(f"/api/v1/users/{name}/deactivate", json={"reason": "x"}, headers=login(who))
        assert_error(response, 403)
    assert client.get("/api/v1/auth/me", headers=token).status_code == 200
    assert_error(
        client.post("/api/v1/users/admin/deactivate", json={"reason": "x"}, headers=login("admin")), 409
    )
    assert client.get("/api/v1/auth/me", headers=login("admin")).status_code == 200
    response = client.post(
        f"/api/v1/users/{name}/deactivate", json={"reason": "x" * 501}, headers=login("admin")
    )
    assert_error(response, 422)


def test_the_admin_page_unlocks_deactivates_and_reactivates(client, engine):
    name = _user("unlock_web")
    _lock_out(client, name)
    admin = Web(client.application.test_client()).login("admin")
    page = admin.get("/admin/users")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'data-username="{name}"' in html and "已锁定" in html
    refused = admin.post(f"/admin/users/{name}/unlock", {"reason": ""}, follow_redirects=True)
    assert "请填写操作原因" in refused.get_data(as_text=True)
    assert _failures(engine, name) == 5
    done = admin.post(f"/admin/users/{name}/unlock", {"reason": "核实身份"}, follow_redirects=True)
    assert "已解锁" in done.get_data(as_text=True) and _failures(engine, name) == 0
    assert _api_login(client, name).status_code == 201
    off = admin.post(f"/admin/users/{name}/active", {"active": "0", "reason": "调离"}, follow_redirects=True)
    assert "已停用" in off.get_data(as_text=True)
    assert_error(_api_login(client, name), 401)
    on = admin.post(f"/admin/users/{name}/active", {"active": "1", "reason": "返回"}, follow_redirects=True)
    assert "已重新启用" in on.get_data(as_text=True)
    assert _api_login(client, name).status_code == 201
    assert [
        len(_events(engine, a, name)) for a in ("auth.login_unlocked", "user.deactivated", "user.reactivated")
    ] == [1, 1, 1]
    db.session.remove()


def test_the_admin_page_is_for_admins_only(client):
    other = Web(client.application.test_client()).login("pt_district")
    assert other.get("/admin/users").status_code == 403
    assert other.post("/admin/users/pt_advisor/active", {"active": "0", "reason": "x"}).status_code == 403
    assert Web(client.application.test_client()).get("/admin/users").status_code == 302
