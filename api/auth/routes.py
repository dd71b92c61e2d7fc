from __future__ import annotations

from flask import request
from flask_smorest import Blueprint

from api.auth.schemas import MeSchema, TokenArgs, TokenSchema
from api.extensions import db
from api.security import BEARER, current_user, login_required
from engine.orgs import service as orgs
from engine.users import service as users

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="登录 / authentication")


def _grants(user):
    session = db.session()
    return [{"role": g.role.value, "org_unit": orgs.get(session, g.org_unit_id).code} for g in user.grants]


@blp.route("/token", methods=["POST"])
@blp.arguments(TokenArgs)
@blp.response(201, TokenSchema)
def create_token(args):
    """Log in with username and password; returns a Bearer token."""
    session = db.session()
    user = users.authenticate(session, args["username"], args["password"])
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


@blp.route("/me", methods=["GET"])
@blp.response(200, MeSchema)
@blp.doc(security=[BEARER])
@login_required
def me():
    """The logged-in user with their role grants."""
    user = current_user()
    return {"username": user.username, "display_name": user.display_name, "roles": _grants(user)}
