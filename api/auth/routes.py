from __future__ import annotations

import datetime as dt

from flask import current_app, request
from flask_smorest import Blueprint

from api.auth.schemas import MeSchema, TokenArgs, TokenSchema
from api.extensions import db
from api.schemas import ErrorSchema
from api.security import BEARER, current_user, login_required
from engine.errors import TooManyAttempts, Unauthorized
from engine.orgs import service as orgs
from engine.users import service as users

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="登录 / authentication")


def _grants(user):
    session = db.session()
    return [{"role": g.role.value, "org_unit": orgs.get(session, g.org_unit_id).code} for g in user.grants]


@blp.route("/token", methods=["POST"])
@blp.arguments(TokenArgs)
@blp.response(201, TokenSchema)
@blp.alt_response(401, schema=ErrorSchema, description="wrong username or password")
@blp.alt_response(429, schema=ErrorSchema, description="locked out after repeated failures (Retry-After)")
def create_token(args):
    """Log in with username and password; returns a Bearer token.

    After ``LOGIN_MAX_FAILURES`` failures for one username within ``LOGIN_LOCKOUT_MINUTES`` the
    username is refused with 429 and Retry-After until the oldest failure leaves the window.
    """
    session = db.session()
    config = current_app.config
    window = dt.timedelta(minutes=config["LOGIN_LOCKOUT_MINUTES"])
    try:
        user = users.authenticate(
            session,
            args["username"],
            args["password"],
            max_failures=config["LOGIN_MAX_FAILURES"],
            window=window,
        )
    except (Unauthorized, TooManyAttempts) as err:
        # The request's transaction is rolled back with the error; the failure is kept in its own.
        session.rollback()
        users.record_login_failure(
            session,
            args["username"],
            locked_out=isinstance(err, TooManyAttempts),
            remote_addr=request.remote_addr,
            window=window,
        )
        session.commit()
        raise
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
@login_required
def revoke_token():
    """Log out: revoke the token used for this request."""
    users.revoke_token(db.session(), request.headers["Authorization"].partition(" ")[2].strip())


@blp.route("/logout", methods=["POST"])
@blp.response(204)
@blp.doc(security=[BEARER])
@login_required
def logout():
    """Log out: revoke the token used for this request (it is refused with 401 from now on)."""
    users.revoke_token(db.session(), request.headers["Authorization"].partition(" ")[2].strip())


@blp.route("/me", methods=["GET"])
@blp.response(200, MeSchema)
@blp.doc(security=[BEARER])
@login_required
def me():
    """The logged-in user with their role grants."""
    user = current_user()
    return {"username": user.username, "display_name": user.display_name, "roles": _grants(user)}
