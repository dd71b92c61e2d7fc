"""Admins manage accounts: the login guard's holds (unlock) and deactivation / reactivation."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from api.extensions import db
from api.schemas import ErrorSchema
from api.security import BEARER, current_user, login_policy, login_required
from api.users.schemas import AccountListSchema, AccountReasonArgs, ActivationSchema, UnlockSchema
from engine.users import admin

blp = Blueprint(
    "users",
    __name__,
    url_prefix="/api/v1/users",
    description="用户账号管理 / user accounts (admins)",
)


@blp.route("", methods=["GET"])
@blp.response(200, AccountListSchema)
@blp.doc(security=[BEARER])
@login_required
def list_accounts() -> Any:
    """Every account, whether it is active, and its failed logins inside the lockout window (the ones
    with failures first); admins only."""
    return {"items": admin.accounts(db.session(), current_user(), login_policy())}


@blp.route("/<string:username>/unlock", methods=["POST"])
@blp.arguments(AccountReasonArgs)
@blp.response(200, UnlockSchema)
@blp.alt_response(409, schema=ErrorSchema, description="the user has no failed logins to clear")
@blp.doc(security=[BEARER])
@login_required
def unlock(args: dict[str, Any], username: str) -> Any:
    """Lift a login lockout: the user's failed logins from every address are cleared (audited)."""
    cleared = admin.unlock(db.session(), current_user(), username, args["reason"])
    return {"username": username, "cleared": cleared}


def _activation(username: str, active: bool, reason: str) -> dict[str, Any]:
    ended = admin.set_active(db.session(), current_user(), username, active, reason)
    return {
        "username": username,
        "is_active": active,
        "sessions_ended": ended["sessions"],
        "tokens_ended": ended["tokens"],
    }


@blp.route("/<string:username>/deactivate", methods=["POST"])
@blp.arguments(AccountReasonArgs)
@blp.response(200, ActivationSchema)
@blp.alt_response(409, schema=ErrorSchema, description="already deactivated, or the admin's own account")
@blp.doc(security=[BEARER])
@login_required
def deactivate(args: dict[str, Any], username: str) -> Any:
    """Deactivate an account: every web session and API token of the user ends for good (audited)."""
    return _activation(username, False, args["reason"])


@blp.route("/<string:username>/reactivate", methods=["POST"])
@blp.arguments(AccountReasonArgs)
@blp.response(200, ActivationSchema)
@blp.alt_response(409, schema=ErrorSchema, description="already active")
@blp.doc(security=[BEARER])
@login_required
def reactivate(args: dict[str, Any], username: str) -> Any:
    """Reactivate an account; sessions and tokens from before the deactivation stay dead (audited)."""
    return _activation(username, True, args["reason"])
