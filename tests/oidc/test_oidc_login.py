"""Single sign-on end to end against a real OpenID Connect provider (oidc-provider under node on the
loopback): authorization code with PKCE, the claims mapped to the user, unit and roles by the claim rules,
refusals of an unknown unit or role with a page saying why, and a logout that ends both sessions."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from engine.models import AuditEvent, ExternalIdentity, OrgUnit, RoleGrant, User
from tests.conftest import PASSWORD
from tests.oidc.helpers import RULES, SsoPerson
from tests.web.helpers import Web


@pytest.fixture()
def person(sso_app, client):
    made: list[SsoPerson] = []

    def _person(account: str) -> SsoPerson:
        made.append(SsoPerson(client, account))
        return made[-1]

    yield _person
    for one in made:
        one.close()


def _grants(session, username):
    return sorted(
        (grant.role.value, unit)
        for grant, unit in session.execute(
            select(RoleGrant, OrgUnit.code)
            .join(User, User.id == RoleGrant.user_id)
            .join(OrgUnit, OrgUnit.id == RoleGrant.org_unit_id)
            .where(User.username == username)
        )
    )


def _actions(session, since: int) -> list[str]:
    return list(
        session.scalars(select(AuditEvent.action).where(AuditEvent.id > since).order_by(AuditEvent.id))
    )


def _last_event_id(session) -> int:
    return session.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1)) or 0


def test_the_login_page_offers_single_sign_on_only_when_configured(app, client, sso_app, monkeypatch):
    page = client.get("/login").get_data(as_text=True)
    assert "使用统一身份认证登录" in page and 'name="password"' in page  # local accounts remain
    monkeypatch.setitem(app.config, "OIDC_ISSUER", "")
    page = client.get("/login").get_data(as_text=True)
    assert "使用统一身份认证登录" not in page
    assert client.get("/login/oidc").status_code == 404


def test_login_provisions_the_user_in_its_unit_with_its_roles(person, session):
    since = _last_event_id(session)
    officer = person("sso-officer-1")
    to_provider = officer.start()
    query = parse_qs(urlsplit(to_provider.headers["Location"]).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]  # PKCE
    assert query["response_type"] == ["code"] and "nonce" in query

    landed = officer.login()
    assert landed.status_code == 302 and landed.headers["Location"] == "/", landed.get_data(as_text=True)[
        :2000
    ]
    assert officer.pages_seen == ["login", "consent"]
    inbox = officer.web.get("/")
    assert inbox.status_code == 200 and "统一认证测试专员" in inbox.get_data(as_text=True)

    user = session.scalar(select(User).where(User.username == "sso_officer"))
    assert user is not None and user.display_name == "统一认证测试专员"
    # the provider's unit SH-PT-CHZ is 310107014 by the rules; its group oa-user is ignored
    assert _grants(session, "sso_officer") == [("street_officer", "310107014")]
    identity = session.scalar(select(ExternalIdentity).where(ExternalIdentity.user_id == user.id))
    assert identity.subject == "sso-officer-1" and identity.issuer.startswith("http://127.0.0.1:")
    assert _actions(session, since) == ["user.created", "user.identity_linked", "user.grants_synced"]

    # a later login (new browser) opens the same user; nothing provisioned again
    since = _last_event_id(session)
    again = person("sso-officer-1")
    assert again.login().status_code == 302
    assert session.scalar(select(User.id).where(User.username == "sso_officer")) == user.id
    assert _actions(session, since) == []
    # no local password opens the provisioned account
    assert (
        Web(again.web.client).post("/login", {"username": "sso_officer", "password": PASSWORD}).status_code
        == 401
    )


@pytest.mark.parametrize(
    ("account", "shown", "reason", "value"),
    [
        ("sso-nounit-1", "单位“SH-XX-999”不在本系统的单位名录中", "unknown_unit", "SH-XX-999"),
        ("sso-norole-1", "角色“caiwu-zongjian”不是本系统的角色", "unknown_role", "caiwu-zongjian"),
    ],
)
def test_an_unknown_unit_or_role_is_refused_with_a_page_and_nothing_granted(
    person, session, account, shown, reason, value
):
    since = _last_event_id(session)
    someone = person(account)
    refused = someone.login()
    page = refused.get_data(as_text=True)
    assert refused.status_code == 403
    assert "统一身份认证登录未成功" in page and shown in page and "没有为您开通任何权限" in page
    username = {"sso-nounit-1": "sso_nounit", "sso-norole-1": "sso_norole"}[account]
    assert session.scalar(select(User.id).where(User.username == username)) is None
    assert session.scalar(select(ExternalIdentity.id).where(ExternalIdentity.subject == account)) is None
    assert _actions(session, since) == ["auth.login_refused_external"]
    event = session.scalar(select(AuditEvent).where(AuditEvent.id > since))
    assert event.details["reason"] == reason and event.details["value"] == value
    # not logged in
    assert someone.web.get("/").status_code == 302


def test_logout_ends_the_local_session_and_the_providers(person, session):
    officer = person("sso-officer-1")
    assert officer.login().status_code == 302
    assert officer.web.get("/").status_code == 200
    # while the provider's session lives, a new login passes without its login form
    officer.pages_seen.clear()
    assert officer.login().status_code == 302
    assert "login" not in officer.pages_seen

    out = officer.web.post("/logout")
    assert out.status_code == 302
    to_provider = out.headers["Location"]
    query = parse_qs(urlsplit(to_provider).query)
    assert to_provider.startswith(officer.web.client.application.config["OIDC_ISSUER"])
    assert query["post_logout_redirect_uri"] == ["http://localhost/login"] and query["id_token_hint"][0]
    assert officer.web.get("/").status_code == 302  # the local session ended at once
    officer.pages_seen.clear()
    assert officer.at_provider(to_provider) == "http://localhost/login"
    assert officer.pages_seen == ["logout"]

    # the provider's session ended: the next login asks for the account again
    officer.pages_seen.clear()
    assert officer.login().status_code == 302
    assert officer.pages_seen[0] == "login"


def test_a_local_user_of_the_same_name_is_linked_only_when_the_rules_allow(
    sso_app, person, session, monkeypatch
):
    from engine.users import service as users

    local = users.create_user(session, "sso_advisor", "local-pass-2026", grants=[("finance", "310107014")])
    session.commit()
    refused = person("sso-advisor-1").login()
    assert refused.status_code == 403 and "本系统已有同名账号“sso_advisor”" in refused.get_data(as_text=True)

    monkeypatch.setitem(sso_app.config, "OIDC_RULES", json.dumps({**RULES, "link_local_users": True}))
    since = _last_event_id(session)
    assert person("sso-advisor-1").login().status_code == 302
    session.expire_all()
    assert (
        session.scalar(select(ExternalIdentity.user_id).where(ExternalIdentity.subject == "sso-advisor-1"))
        == local.id
    )
    # the grants are the claims' now: the provider is the source of truth for the unit and roles
    assert _grants(session, "sso_advisor") == [("advisor", "310107014")]
    assert _actions(session, since) == ["user.identity_linked", "user.grants_synced"]
    # the break-glass local password still works
    assert Web(sso_app.test_client()).login("sso_advisor", "local-pass-2026")


def test_the_refusal_reads_in_english_too(person):
    someone = person("sso-nounit-1")
    someone.web.get("/lang/en")
    page = someone.login().get_data(as_text=True)
    assert "Single sign-on refused" in page and "Your unit “SH-XX-999”" in page
    assert "统一身份认证登录未成功" not in page
