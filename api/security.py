"""Bearer-token authentication for the REST API."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import g, request

from api.extensions import db
from engine.errors import Unauthorized
from engine.users import service as users
from engine.users.models import User

BEARER = {"bearerAuth": []}


def current_user() -> User:
    return g.current_user


def login_required(fn: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        header = request.headers.get("Authorization", "")
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise Unauthorized("需要登录：请提供 Bearer 令牌 / authentication required: send a Bearer token")
        g.current_user = users.user_for_token(db.session(), raw.strip())
        return fn(*args, **kwargs)

    return wrapper
