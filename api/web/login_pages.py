"""Session pages: log in and out, change one's password, pick the language; the vendored scripts."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, send_from_directory, session, url_for

from api.demo import DEMO_PASSWORD
from api.security import LoginBusy, password_login
from api.web import NODE_MODULES, bp, oidc_pages
from api.web.common import _db, _safe_next, login_required, user
from api.web.i18n import LOCALES, MESSAGES, pick, t
from engine.errors import Invalid, TooManyAttempts, Unauthorized
from engine.users import sessions as web_sessions

MESSAGES.update(
    {
        "login_busy": (
            "登录人数较多，请稍候几秒再试。",
            "Many people are logging in right now: try again in a few seconds.",
        )
    }
)

# Files served from node_modules (installed by `npm ci`), by the short name the pages use.
VENDOR = {
    "bpmn-viewer.js": "bpmn-js/dist/bpmn-navigated-viewer.production.min.js",
    "bpmn-modeler.js": "bpmn-js/dist/bpmn-modeler.production.min.js",
    "bpmn-font.css": "bpmn-js/dist/assets/bpmn-font/css/bpmn-embedded.css",
    "bpmn-js.css": "bpmn-js/dist/assets/bpmn-js.css",
    "diagram-js.css": "bpmn-js/dist/assets/diagram-js.css",
    "dmn-modeler.js": "dmn-js/dist/dmn-modeler.production.min.js",
    "dmn-diagram-js.css": "dmn-js/dist/assets/diagram-js.css",
    "dmn-js-shared.css": "dmn-js/dist/assets/dmn-js-shared.css",
    "dmn-js-drd.css": "dmn-js/dist/assets/dmn-js-drd.css",
    "dmn-js-decision-table.css": "dmn-js/dist/assets/dmn-js-decision-table.css",
    "dmn-js-decision-table-controls.css": "dmn-js/dist/assets/dmn-js-decision-table-controls.css",
    "dmn-js-literal-expression.css": "dmn-js/dist/assets/dmn-js-literal-expression.css",
    "dmn-font.css": "dmn-js/dist/assets/dmn-font/css/dmn-embedded.css",
    "htmx.js": "htmx.org/dist/htmx.min.js",
    "chart.js": "chart.js/dist/chart.umd.min.js",
}


@bp.get("/vendor/<name>")
def vendor(name: str) -> Any:
    path = VENDOR.get(name)
    if path is None or not (NODE_MODULES / path).is_file():
        abort(404)
    return send_from_directory(NODE_MODULES, path, max_age=3600)


@bp.get("/lang/<code>")
def set_language(code: str) -> Any:
    if code in LOCALES:
        session["lang"] = code
    return redirect(_safe_next(request.args.get("next")))


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    error = None
    status = 200
    if request.method == "POST":
        username = request.form.get("username", "").strip()[:64]
        try:
            found = password_login(username, request.form.get("password", "")[:256], channel="web")
        except LoginBusy as err:
            response = render_template("login.html", error=t("login_busy"))
            return response, 503, {"Retry-After": str(err.retry_after)}
        except TooManyAttempts as err:
            minutes = -(-err.retry_after // 60)
            response = render_template("login.html", error=t("login_locked", n=minutes))
            return response, 429, {"Retry-After": str(err.retry_after)}
        except Unauthorized:
            error, status = t("login_failed"), 401
        else:
            lang = session.get("lang")
            session.clear()  # a new session for the logged-in user (no fixation)
            session["sid"] = web_sessions.open_session(_db(), found)
            session["lang"] = lang or (found.locale if found.locale in LOCALES else "zh")
            session.permanent = True
            return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html", error=error), status


@bp.post("/logout")
def logout() -> Any:
    web_sessions.close_session(_db(), session.get("sid"))
    lang, id_token = session.get("lang"), session.get(oidc_pages.ID_TOKEN_KEY)
    session.clear()
    if lang:
        session["lang"] = lang
    flash(t("logged_out"), "info")
    # after a single sign-on login, the identity provider's session ends too (when it offers that)
    return redirect(oidc_pages.logout_target(id_token) or url_for("web.login"))


@bp.route("/password", methods=["GET", "POST"])
@login_required
def change_password() -> Any:
    """Change one's own password; every other session and API token of the user ends, and this browser
    gets a new session id."""
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        new = request.form.get("new_password", "")
        if new != request.form.get("confirm_password", ""):
            errors["confirm_password"] = [t("password_mismatch")]
        else:
            try:
                web_sessions.change_password(
                    _db(),
                    user(),
                    request.form.get("current_password", "")[:256],
                    new[:257],
                    forbidden=(DEMO_PASSWORD,),
                )
            except Invalid as err:
                errors = {k: [pick(m) for m in v] for k, v in err.fields.items()}
            else:
                session["sid"] = web_sessions.open_session(_db(), user())
                flash(t("password_changed"), "info")
                return redirect(url_for("web.inbox"))
    status = 422 if errors else 200
    return render_template("password.html", errors=errors), status
