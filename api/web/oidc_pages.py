"""Single sign-on with the city's identity provider: OpenID Connect, authorization code with PKCE (Authlib).

Off unless ``ASSISTFLOW_OIDC_ISSUER`` and ``ASSISTFLOW_OIDC_CLIENT_ID`` are set (docs/DEPLOY.md). The
provider's metadata is read from its discovery document at the first login. ``/login/oidc`` sends the
browser to the provider (state, nonce and the PKCE verifier kept in the session); ``/login/oidc/callback``
exchanges the code, checks the ID token, reads the userinfo and hands the claims to
engine/users/external.py, which places them by the claim rules or refuses them: a refusal is a page saying
why (Chinese first), audited, with nothing granted. Logout ends the local session and, when the provider
advertises an ``end_session_endpoint``, the provider's session too. Local accounts keep working.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.flask_client import OAuth
from flask import Flask, abort, current_app, redirect, render_template, request, session, url_for
from joserfc.errors import JoseError

from api.web import bp
from api.web.common import _db, _safe_next
from api.web.i18n import LOCALES, MESSAGES, t
from engine.users import external
from engine.users import sessions as web_sessions

EXTENSION = "assistflow_oidc"
# The ID token of the login, for the provider's logout (id_token_hint); absent after a password login.
ID_TOKEN_KEY = "oidc_id_token"
NEXT_KEY = "oidc_next"

MESSAGES.update(
    {
        "oidc_login": ("使用统一身份认证登录", "Log in with the city identity provider"),
        "oidc_or": ("或使用本系统账号登录", "or log in with a local account"),
        "oidc_refused_title": ("统一身份认证登录未成功", "Single sign-on refused"),
        "oidc_refused_unknown_unit": (
            "您在统一身份认证中的单位“{value}”不在本系统的单位名录中，系统没有为您开通任何权限。"
            "请联系系统管理员核对单位对应规则。",
            "Your unit “{value}” at the identity provider is not one of this system's org units: no access "
            "was granted. Ask an administrator to check the unit mapping.",
        ),
        "oidc_refused_unknown_role": (
            "您在统一身份认证中的角色“{value}”不是本系统的角色，系统没有为您开通任何权限。"
            "请联系系统管理员核对角色对应规则。",
            "Your role “{value}” at the identity provider is not a role of this system: no access was "
            "granted. Ask an administrator to check the role mapping.",
        ),
        "oidc_refused_no_role": (
            "统一身份认证没有给出您在本系统的任何角色，系统没有为您开通任何权限。",
            "The identity provider gave you no role in this system: no access was granted.",
        ),
        "oidc_refused_missing_claim": (
            "统一身份认证没有提供登录所需的信息（{value}），系统没有为您开通任何权限。",
            "The identity provider did not send what the login needs ({value}): no access was granted.",
        ),
        "oidc_refused_username_taken": (
            "本系统已有同名账号“{value}”，且未允许与统一身份认证关联。请联系系统管理员。",
            "A local account “{value}” already exists and may not be linked to single sign-on. Ask an "
            "administrator.",
        ),
        "oidc_refused_invalid_username": (
            "统一身份认证提供的用户名不符合本系统的要求（字母、数字、下划线、点、连字符，至多 64 个字符）。",
            "The username from the identity provider does not fit this system (letters, digits, '_', '.', "
            "'-', at most 64 characters).",
        ),
        "oidc_refused_inactive": ("您的账号已停用。", "Your account is deactivated."),
        "oidc_refused_provider_error": (
            "统一身份认证未完成登录，请重试。",
            "The identity provider did not complete the login: try again.",
        ),
        "oidc_refused_local": (
            "如有本系统账号，仍可使用用户名和密码登录。",
            "With a local account you can still log in with username and password.",
        ),
        "oidc_try_again": ("返回登录页", "Back to the login page"),
    }
)


def configured(app: Flask) -> bool:
    return bool(app.config.get("OIDC_ISSUER") and app.config.get("OIDC_CLIENT_ID"))


def init_app(app: Flask) -> None:
    """Check the claim rules at start-up (a wrong rules file stops the app, not the first login)."""
    if configured(app):
        external.load_rules(app.config.get("OIDC_RULES", ""))


def _client() -> tuple[Any, external.ClaimRules] | None:
    """The Authlib client and the claim rules for the current configuration (made at first use)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if not configured(app):
        return None
    config = app.config
    key = tuple(
        config.get(name, "")
        for name in ("OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET", "OIDC_SCOPES", "OIDC_RULES")
    )
    cached = app.extensions.get(EXTENSION)
    if cached is None or cached[0] != key:
        oauth = OAuth(app)
        client = oauth.register(
            "city",
            client_id=config["OIDC_CLIENT_ID"],
            client_secret=config.get("OIDC_CLIENT_SECRET") or None,
            server_metadata_url=f"{config['OIDC_ISSUER']}/.well-known/openid-configuration",
            client_kwargs={"scope": config.get("OIDC_SCOPES") or "openid", "code_challenge_method": "S256"},
        )
        cached = (key, client, external.load_rules(config.get("OIDC_RULES", "")))
        app.extensions[EXTENSION] = cached
    return cached[1], cached[2]


@bp.context_processor
def _oidc_context() -> dict[str, Any]:
    return {"oidc_enabled": configured(current_app)}


@bp.get("/login/oidc")
def oidc_login() -> Any:
    found = _client()
    if found is None:
        abort(404)
    session[NEXT_KEY] = _safe_next(request.args.get("next"))
    return found[0].authorize_redirect(url_for("web.oidc_callback", _external=True))


def _refused(reason: str, value: str = "", status: int = 403) -> Any:
    return render_template("oidc_refused.html", message=t(f"oidc_refused_{reason}", value=value)), status


@bp.get("/login/oidc/callback")
def oidc_callback() -> Any:
    found = _client()
    if found is None:
        abort(404)
    client, rules = found
    if request.args.get("error"):
        return _refused("provider_error", status=400)
    try:
        token = client.authorize_access_token()
        claims = dict(token.get("userinfo") or {})
        info = client.userinfo(token=token)
    except (AuthlibBaseError, JoseError, requests.RequestException, KeyError, ValueError):
        return _refused("provider_error", status=400)
    if info.get("sub") != claims.get("sub"):
        return _refused("provider_error", status=400)
    claims.update(info)
    issuer = str(client.load_server_metadata().get("issuer") or current_app.config["OIDC_ISSUER"])
    db = _db()
    try:
        user = external.login(db, issuer, claims, rules)
    except external.IdentityRefused as err:
        db.rollback()
        external.record_refusal(db, issuer, err)
        return _refused(err.reason, err.value)
    lang, target = session.get("lang"), session.get(NEXT_KEY)
    session.clear()  # a new session for the logged-in user (no fixation)
    session["sid"] = web_sessions.open_session(db, user)
    session["lang"] = lang or (user.locale if user.locale in LOCALES else "zh")
    if token.get("id_token"):
        session[ID_TOKEN_KEY] = token["id_token"]
    session.permanent = True
    return redirect(_safe_next(target))


def logout_target(id_token: str | None) -> str | None:
    """The provider's logout URL after an OIDC login, when it advertises one (else None): it ends the
    provider's session and comes back to the login page."""
    if not id_token:
        return None
    found = _client()
    if found is None:
        return None
    try:
        endpoint = found[0].load_server_metadata().get("end_session_endpoint")
    except (requests.RequestException, ValueError):
        return None
    if not endpoint:
        return None
    query = urlencode(
        {
            "id_token_hint": id_token,
            "post_logout_redirect_uri": url_for("web.login", _external=True),
            "client_id": current_app.config["OIDC_CLIENT_ID"],
        }
    )
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"
