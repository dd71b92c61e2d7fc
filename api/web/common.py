"""What every staff page shares: the logged-in user and the database session, login and CSRF checks
before each request, the template globals, the error pages, and the form and case-data helpers the
task, start and case pages have in common."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import Response, flash, g, has_app_context, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError
from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from api import errors
from api.errors import STATUS
from api.extensions import db
from api.security import password_change_pending
from api.web import bp, csrf, display
from api.web.i18n import locale, pick, t
from engine.dashboards import service as dashboards
from engine.db import transient_conflict
from engine.errors import Forbidden, Invalid, NotFound, ServiceError, Unauthorized
from engine.formversions import service as formversions
from engine.notifications import service as notifications
from engine.orgs.models import OrgLevel, OrgUnit
from engine.tasks import history as task_history
from engine.tasks import names as task_names
from engine.tasks import service as tasks
from engine.tasks.names import StepNames
from engine.users import service as users
from engine.users import sessions as web_sessions
from engine.users.models import User


def _db() -> Session:
    return db.session()


def user() -> User:
    return g.web_user


# Endpoints a user with a published (demo) password may still reach: everything else sends them to
# the password change first (outside the local demo).
_OPEN_WHILE_CHANGE_PENDING = {
    "web.change_password",
    "web.logout",
    "web.set_language",
    "web.vendor",
    "web.static",
}


def _load_user_only() -> None:
    g.web_user = None
    sid = session.get("sid")
    if sid is not None:
        found = web_sessions.user_for_session(_db(), sid)
        if found is not None:
            g.web_user = found
        else:  # logged out, expired, revoked or deactivated elsewhere: the cookie opens nothing
            lang = session.get("lang")
            session.clear()
            if lang:
                session["lang"] = lang
    elif "uid" in session:  # a cookie from before server-side sessions: never trusted on its own
        session.clear()


# Uploads whose body is read as a stream: Flask-WTF would parse (and spool) the multipart body looking for
# a token field, so their token comes in the X-CSRFToken header, checked by the view itself.
STREAMED_UPLOADS = frozenset({"web.upload_material"})


@bp.before_request
def _load_user() -> Any:
    _load_user_only()
    if request.method == "POST" and request.endpoint not in STREAMED_UPLOADS:
        csrf.protect()
    if (
        g.web_user is not None
        and password_change_pending(g.web_user)
        and request.endpoint not in _OPEN_WHILE_CHANGE_PENDING
    ):
        if request.headers.get("HX-Request"):
            return Response(status=403, headers={"HX-Redirect": url_for("web.change_password")})
        flash(t("password_change_required"), "info")
        return redirect(url_for("web.change_password"))
    return None


def login_required(fn: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if g.web_user is None:
            target = url_for("web.login", next=request.full_path.rstrip("?"))
            if request.headers.get("HX-Request"):
                return Response(status=401, headers={"HX-Redirect": target})
            flash(t("please_login"), "info")
            return redirect(target)
        return fn(*args, **kwargs)

    return wrapper


def step_names() -> StepNames:
    """Steps' names in the page's language (engine.tasks.names), one per request."""
    found: StepNames | None = request.environ.get("assistflow.step_names")
    if found is None:
        found = request.environ["assistflow.step_names"] = task_names.step_names(_db(), locale())
    return found


@bp.app_context_processor
def _globals() -> dict[str, Any]:
    current = g.get("web_user")
    return {
        "t": t,
        "pick": pick,
        "step_name": step_names(),
        "locale": locale(),
        "current_user": current,
        "unread_count": notifications.unread_count(_db(), current.id) if current else 0,
        "may_dashboard": bool(current and dashboards.may_view(current)),
        "is_admin": bool(current and users.is_admin(current)),
    }


@bp.app_template_filter("localtime")
def _localtime(moment: dt.datetime | None) -> str:
    """A stored UTC time as Shanghai wall-clock time, to the minute, in the staff pages' one date format
    (``2026年6月8日 09:30``; English ``8 Jun 2026 09:30``)."""
    if moment is None:
        return "—"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return _dates().datetime(moment)


def _dates() -> display.Formatter:
    """The request's formatter for dates and times (a page writes hundreds of them)."""
    fmt = g.get("dates")
    if fmt is None:
        fmt = g.dates = display.Formatter(locale())
    return fmt


def _escape(text: str) -> str:
    # the same entities as markupsafe's escape (what ``{{ cell }}`` writes)
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&#34;")
        .replace("'", "&#39;")
    )


def _table(fmt: display.Formatter, f: Any, value: Any) -> dict[str, Any]:
    """``fmt.table(f, value)``, once a request for equal values of one form field: the side summary and
    the 办理记录 show the same step's tables (a project's candidates, calls and households, hundreds of
    rows each), the summary from the case data and the record, which are equal unless corrected."""
    memo = g.setdefault("formatted_tables", {})
    held = memo.setdefault((id(f), fmt.locale), [])
    for field, rows, table in held:
        if field is f and (rows is value or rows == value):
            return table
    table = fmt.table(f, value)
    held.append((f, value, table))
    return table


@bp.app_template_filter("table_rows")
def _table_rows(rows: list[list[Any]]) -> Markup:
    """A table's body rows, ``<tr><td>…</td>…</tr>``, each cell escaped: the same HTML as a loop over
    the cells in the template, escaped in one pass (a project's lists run to thousands of cells); once a
    request for a table shown twice (:func:`_table`)."""
    if not has_app_context():
        return _table_rows_html(rows)
    memo = g.setdefault("table_html", {})
    found = memo.get(id(rows))
    if found is not None and found[0] is rows:
        return found[1]
    html = _table_rows_html(rows)
    memo[id(rows)] = (rows, html)
    return html


def _table_rows_html(rows: list[list[Any]]) -> Markup:
    cells = [c for row in rows for c in row]
    text = "\x00".join(map(str, cells))
    if any(hasattr(c, "__html__") for c in cells) or text.count("\x00") != max(len(cells) - 1, 0):
        escaped = [str(escape(c)) for c in cells]  # markup inside, or the separator in a value
    else:
        escaped = _escape(text).split("\x00") if cells else []
    out, at = [], 0
    for row in rows:
        n = len(row)
        out.append("<tr><td>" + "</td><td>".join(escaped[at : at + n]) + "</td></tr>" if n else "<tr></tr>")
        at += n
    return Markup("".join(out))


@bp.app_template_filter("day")
def _day(value: dt.date | str | None) -> str:
    """A date in the staff pages' one date format (``2026年6月8日``; English ``8 Jun 2026``)."""
    if value is None or value == "":
        return "—"
    return _dates().date(value)


ERROR_MESSAGES = {
    400: "bad_request",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    500: "internal_error",
}


def _error_page(status: int, message: str) -> tuple[str, int]:
    if "web_user" not in g:  # outside the blueprint's routes (an unknown URL): who is logged in
        _load_user_only()
    return render_template("error.html", status=status, message=message), status


def html_error(status: int) -> tuple[str, int]:
    """The staff app's error page for a browser that asked for a URL outside the API."""
    if status >= 500:
        g.web_user = None  # the database may be what failed: the page does not read it
    return _error_page(status, t(ERROR_MESSAGES.get(status, "error")))


errors.HTML_ERROR_PAGE[:] = [html_error]


@bp.errorhandler(ServiceError)
def _service_error(err: ServiceError) -> Any:
    if isinstance(err, Unauthorized):
        return redirect(url_for("web.login"))
    status = next((s for cls, s in STATUS.items() if isinstance(err, cls)), 400)
    if isinstance(err, NotFound | Forbidden) and request.view_args:
        # a case or task that is not there or not the user's reads the same (WORDS.md), in staff words
        if "instance_id" in request.view_args:
            return _error_page(status, t("case_not_found"))
        if "task_id" in request.view_args:
            return _error_page(status, t("task_not_found"))
    return _error_page(status, pick(err.message))


@bp.errorhandler(CSRFError)
def _csrf_error(_err: CSRFError) -> Any:
    return _error_page(400, t("csrf_failed"))


@bp.errorhandler(IntegrityError)
@bp.errorhandler(StaleDataError)
def _conflict(_err: Exception) -> Any:
    return _error_page(409, t("conflict"))


@bp.errorhandler(OperationalError)
@bp.errorhandler(InterfaceError)
def _database(err: Exception) -> Any:
    """A page whose transaction the database ended: a deadlock its attempts did not get past (409), or a
    lost connection (503); nothing of it was kept either way."""
    _db().rollback()
    if transient_conflict(err):
        return _error_page(409, t("conflict"))
    g.web_user = None  # the database is what failed: the page does not read it
    page, status = _error_page(503, t("db_unavailable"))
    return page, status, {"Retry-After": "1"}


@bp.errorhandler(403)
def _forbidden(_err: Exception) -> Any:
    return _error_page(403, t("forbidden"))


@bp.errorhandler(404)
def _not_found(_err: Exception) -> Any:
    return _error_page(404, t("not_found"))


def _safe_next(target: str | None) -> str:
    """``target`` if it is a path on this site, else the inbox.

    Browsers drop tabs and line breaks from a URL and read a backslash as ``/``, so ``/%09/evil.example``
    or ``/%5C/evil.example`` would leave the site: any control character, whitespace or backslash refuses
    the target, as does anything with a scheme or host of its own.
    """
    if (
        not target
        or len(target) > 2000
        or not target.startswith("/")
        or target.startswith("//")
        or any(ch <= " " or ch == "\x7f" or ch == "\\" for ch in target)
    ):
        return url_for("web.inbox")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return url_for("web.inbox")
    return target


def _int_arg(name: str, default: int, low: int = 1, high: int = 100_000) -> int:
    try:
        return min(high, max(low, int(request.args.get(name, default))))
    except ValueError:
        return default


def _forms_of(rows: Sequence[Any]) -> list[Any]:
    """The forms of the case's tasks, each in the version its task was created with."""
    keys = dict.fromkeys((r.form_key, r.form_version) for r in rows if r.form_key)
    found = (formversions.form_at(_db(), key, version) for key, version in keys)
    return [f for f in found if f is not None]


def _formatter() -> display.Formatter:
    """Values in the user's language; street codes read as their names."""
    lang = locale()
    cached = g.get("street_names")  # once a request: a page formats in several places
    if cached is None or cached[0] != lang:
        cached = g.street_names = (lang, _StreetNames(lang))
    return display.Formatter(lang, unit_names=cached[1])


class _StreetNames(dict[str, str]):
    """Street code -> name in one language, read (code and name only) the first time a page writes a
    street: most pages show none."""

    def __init__(self, lang: str) -> None:
        super().__init__()
        self.lang, self.loaded = lang, False

    def get(self, code: str, default: Any = None) -> Any:
        if not self.loaded:
            name = OrgUnit.name_en if self.lang == "en" else OrgUnit.name_zh
            found = _db().execute(select(OrgUnit.code, name).where(OrgUnit.level == OrgLevel.STREET))
            self.update((code, text) for code, text in found)
            self.loaded = True
        return super().get(code, default)


def _editable_fields(instance: Any) -> dict[str, display.EditableField]:
    """The labelled items of the case an operator may correct from the case page."""
    session = _db()
    rows = [*task_history.finished_rows(session, instance.id), *tasks.open_tasks_of(session, instance.id)]
    return display.editable_fields(_forms_of(rows), instance.data or {}, _formatter())


HISTORY_PER_PAGE = 20


def _history(instance_id: int) -> tuple[task_history.Done, list[task_history.Finished], dict[str, int]]:
    """The case's finished tasks for the case and task pages: what all of them together tell (steps done,
    form versions, how many), and one page of them for 已办环节 (``hpage``), the latest first, paged as the
    timeline is (a Bridge Plan household with hundreds of visits has hundreds of them)."""
    done = task_history.done_summary(_db(), instance_id)
    pages = max(1, -(-done.total // HISTORY_PER_PAGE))
    page = min(_int_arg("hpage", 1), pages)
    rows = task_history.finished_page(_db(), instance_id, page=page, per_page=HISTORY_PER_PAGE)
    return done, rows, {"page": page, "pages": pages, "total": done.total}


def _summary(
    instance: Any, rows: Sequence[Any], latest: list[tuple[Any, int]] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Case data as labelled items: each step's values from its record, labelled from its form (loops:
    the latest run and how many); labelled process variables apart, unlabelled engine variables left
    out; ID and phone numbers masked (full values only through the audited reveal)."""
    from api.web.case_summary import summary

    hidden = frozenset({"excluded_users", "near_relative_staff", "outcome", "notice_to_applicant"})
    return summary(_db(), user(), instance, _forms_of(rows), _formatter(), hidden=hidden, latest=latest)


def _field_errors(err: Invalid) -> dict[str, list[str]]:
    errors = {k: [pick(m) for m in v] for k, v in err.fields.items()}
    if not errors:
        errors["_form"] = [pick(err.message)]
    return errors
