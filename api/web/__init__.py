"""Staff web app: server-rendered pages (Jinja, htmx) over the same engine services as the REST API.

Login is a Flask session cookie (HttpOnly, SameSite=Lax, ``Secure`` when SESSION_COOKIE_SECURE) that
carries the id of a server-side session (revoked on logout, password change, deactivation); every
POST of these pages carries a CSRF token (Flask-WTF). The REST API keeps its Bearer tokens and is not
CSRF-checked: the check runs only for this blueprint.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from flask import Blueprint, Flask
from flask_wtf.csrf import CSRFProtect

ROOT = Path(__file__).resolve().parent.parent.parent
NODE_MODULES = ROOT / "node_modules"

bp = Blueprint(
    "web", __name__, template_folder="templates", static_folder="static", static_url_path="/static/web"
)
csrf = CSRFProtect()


def init_app(app: Flask) -> None:
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)  # checked in the blueprint, not for the API
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # the token lives as long as the session
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    # The cookie's own lifetime; the server-side session row (engine/users/sessions.py) ends at the same
    # fixed time after login, and the cookie is not re-sent on every request (its expiry does not slide).
    app.config["PERMANENT_SESSION_LIFETIME"] = dt.timedelta(hours=12)
    app.config["SESSION_REFRESH_EACH_REQUEST"] = False
    csrf.init_app(app)
    from api.web import (  # noqa: F401  (register the routes on ``bp``)
        admin_calendar,
        admin_decisions,
        admin_forms,
        admin_instances,
        admin_modeler,
        admin_policy,
        admin_processes,
        admin_serviceorgs,
        admin_system,
        admin_templates,
        admin_users,
        case_page,
        cases,
        dashboard,
        document_pages,
        inbox,
        incidents,
        login_pages,
        materials_pages,
        notification_pages,
        oidc_pages,
        records_views,
        report_pages,
        task_pages,
        views,
    )

    oidc_pages.init_app(app)
    app.register_blueprint(bp)
