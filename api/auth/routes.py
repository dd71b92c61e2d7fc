from __future__ import annotations

from typing import Any

from flask import request
from flask_smorest import Blueprint

from api.auth.schemas import MeSchema, PasswordChangeArgs, TokenArgs, TokenSchema
from api.demo import DEMO_PASSWORD
from api.extensions import db
from api.schemas import ErrorSchema
from api.security import BEARER, bearer_token, current_user, login_required, password_login, token_required
from engine.orgs import service as orgs
from engine.users import service as users
from engine.users import sessions

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="登录 / authentication")


def _grants(user: Any) -> Any:
    session = db.session()
    return [{"role": g.role.value, "org_unit": orgs.get(session, g.org_unit_id).code} for g in user.grants]


@blp.route("/token", methods=["POST"])
@blp.arguments(TokenArgs)
@blp.response(201, TokenSchema)
@blp.alt_response(401, schema=ErrorSchema, description="wrong username or password")
@blp.alt_response(429, schema=ErrorSchema, description="locked out after repeated failures (Retry-After)")
def create_token(args: dict[str, Any]) -> Any:
    """Log in with username and password; returns a Bearer token.

    The login guard is the web login form's too: after ``LOGIN_MAX_FAILURES`` failures of one
    username from one address within ``LOGIN_LOCKOUT_MINUTES`` that pair is refused with 429 and
    Retry-After until the oldest failure leaves the window; one address is refused after
    ``LOGIN_ADDRESS_MAX_FAILURES`` failures over all usernames; past ``LOGIN_ACCOUNT_MAX_FAILURES``
    failures of a username from anywhere, tries are spaced by a backoff capped at
    ``LOGIN_BACKOFF_CAP_SECONDS``. Failures and refusals are audited.
    """
    session = db.session()
    user = password_login(args["username"], args["password"], channel="api")
    raw, token = users.issue_token(session, user)
    return {
        "token": raw,
        "token_type": "Bearer",
        "expires_at": token.expires_at,
        "username": user.username,
        "display_name": user.display_name,
        "roles": _grants(user),
    }


@blp.route("/token", methods=["DELETE"])
@blp.response(204)
@blp.doc(security=[BEARER])
@token_required
def revoke_token() -> Any:
    """Log out: revoke the token used for this request (it is refused with 401 from now on)."""
    users.revoke_token(db.session(), request.headers["Authorization"].partition(" ")[2].strip())


@blp.route("/password", methods=["POST"])
@blp.arguments(PasswordChangeArgs)
@blp.response(204)
@blp.alt_response(422, schema=ErrorSchema, description="current password wrong or new one unacceptable")
@blp.doc(security=[BEARER])
@token_required
def change_password(args: dict[str, Any]) -> Any:
    """Change the caller's password. Every other API token and web session of the user ends; the token
    used for this request stays valid. Users with a published (demo) password must do this first."""
    sessions.change_password(
        db.session(),
        current_user(),
        args["current_password"],
        args["new_password"],
        keep_token=bearer_token(),
        forbidden=(DEMO_PASSWORD,),
    )


@blp.route("/me", methods=["GET"])
@blp.response(200, MeSchema)
@blp.doc(security=[BEARER])
@login_required
def me() -> Any:
    """The logged-in user with their role grants."""
    user = current_user()
    return {"username": user.username, "display_name": user.display_name, "roles": _grants(user)}
