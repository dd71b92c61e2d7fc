"""The claim rules of single sign-on (engine/users/external.py) without a provider: what they accept,
what they refuse at start-up, and each refusal of a login they cannot place."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from engine.errors import Unauthorized
from engine.models import ExternalIdentity, User
from engine.users import external
from engine.users import service as users
from engine.users import sessions as web_sessions

ISSUER = "https://idp.example.test"
RULES = external.ClaimRules.from_mapping(
    {"units": {"PT-CHZ": "310107014"}, "roles": {"zhuanyuan": "street_officer"}, "ignore_roles": ["oa"]}
)


def _claims(**overrides):
    claims = {
        "sub": "subject-1",
        "preferred_username": "sso_rules_user",
        "name": "规则测试",
        "org_unit": "PT-CHZ",
        "roles": "zhuanyuan oa",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def test_rules_load_from_inline_json_or_a_file_and_refuse_mistakes(tmp_path):
    assert external.load_rules("") == external.ClaimRules()
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"roles": {"a": "advisor"}, "link_local_users": True}), encoding="utf-8")
    loaded = external.load_rules(str(path))
    assert loaded.roles == {"a": "advisor"} and loaded.link_local_users
    assert external.load_rules('{"unit_claim": "dept"}').unit_claim == "dept"
    with pytest.raises(ValueError, match="unknown keys"):
        external.load_rules('{"role_claim": "x"}')
    with pytest.raises(ValueError, match="unknown assistflow roles"):
        external.load_rules('{"roles": {"boss": "superuser"}}')


def test_a_bad_rules_file_stops_the_app_at_start():
    """The web layer checks the rules when the app is made (api/web/__init__.py calls this)."""
    from flask import Flask

    from api.web import oidc_pages

    app = Flask(__name__)
    app.config.update(
        OIDC_ISSUER=ISSUER, OIDC_CLIENT_ID="client", OIDC_RULES='{"roles": {"boss": "superuser"}}'
    )
    with pytest.raises(ValueError, match="unknown assistflow roles"):
        oidc_pages.init_app(app)
    app.config["OIDC_ISSUER"] = ""  # off: the rules are not read
    oidc_pages.init_app(app)


@pytest.mark.parametrize(
    ("claims", "reason", "value"),
    [
        (_claims(org_unit=None), "missing_claim", "org_unit"),
        (_claims(sub=None), "missing_claim", "sub"),
        (_claims(org_unit="999"), "unknown_unit", "999"),
        (_claims(roles=["zhuanyuan", "guanliyuan"]), "unknown_role", "guanliyuan"),
        (_claims(roles="oa"), "no_role", ""),
        (_claims(roles=None), "no_role", ""),
        (_claims(preferred_username="bad name!"), "invalid_username", ""),
        (_claims(preferred_username="pt_officer"), "username_taken", "pt_officer"),
    ],
)
def test_each_refusal_names_its_reason_and_grants_nothing(app_ctx, session, claims, reason, value):
    with pytest.raises(external.IdentityRefused) as refused:
        external.login(session, ISSUER, claims, RULES)
    assert (refused.value.reason, refused.value.value) == (reason, value)
    assert refused.value.reason in external.IdentityRefused.REASONS
    session.rollback()
    assert session.scalar(select(ExternalIdentity.id)) is None
    assert session.scalar(select(User.id).where(User.username == "sso_rules_user")) is None


def test_a_role_name_and_a_unit_code_need_no_map_and_a_deactivated_user_is_refused(app_ctx, session):
    user = external.login(session, ISSUER, _claims(org_unit="310107014", roles=["advisor"]), RULES)
    assert [(g.role.value, g.org_unit.code) for g in user.grants] == [("advisor", "310107014")]
    session.commit()
    with pytest.raises(Unauthorized):  # no local password opens it
        users.authenticate(session, "sso_rules_user", "")
    session.rollback()
    web_sessions.set_active(
        session, user, False, actor_id=users.by_username(session, "admin").id, reason="调离岗位"
    )
    session.commit()
    with pytest.raises(external.IdentityRefused) as refused:
        external.login(session, ISSUER, _claims(), RULES)
    assert refused.value.reason == "inactive"
