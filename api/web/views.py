"""The staff pages. Each view calls the same engine services as the REST API and only lays out results."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Response,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    send_from_directory,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from api import errors
from api.demo import DEMO_PASSWORD
from api.errors import STATUS
from api.extensions import db
from api.security import password_change_pending, password_login
from api.web import NODE_MODULES, bp, csrf, display, formview
from api.web.i18n import LOCALES, locale, pick, t
from engine import privacy, scope
from engine.audit import timeline
from engine.audit.models import AuditAction
from engine.cases import service as case_service
from engine.dashboards import service as dashboards
from engine.db import utcnow
from engine.deadlines import holidays
from engine.deadlines import service as deadlines
from engine.deadlines.calendar import SHANGHAI
from engine.definitions import service as definitions
from engine.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    ServiceError,
    TooManyAttempts,
    Unauthorized,
)
from engine.formversions import service as formversions
from engine.households import service as households
from engine.instances import family, outcome
from engine.instances import service as instances
from engine.notifications import service as notifications
from engine.orgs import service as orgs
from engine.orgs.models import OrgLevel, OrgUnit
from engine.tasks import service as tasks
from engine.tasks.models import HumanTask, TaskStatus
from engine.users import service as users
from engine.users import sessions as web_sessions
from engine.users.models import User

PER_PAGE = 25
TABS = ("mine", "claimable", "overdue")
# Files served from node_modules (installed by `npm ci`), by the short name the pages use.
VENDOR = {
    "bpmn-viewer.js": "bpmn-js/dist/bpmn-navigated-viewer.production.min.js",
    "bpmn-modeler.js": "bpmn-js/dist/bpmn-modeler.production.min.js",
    "bpmn-font.css": "bpmn-js/dist/assets/bpmn-font/css/bpmn-embedded.css",
    "bpmn-js.css": "bpmn-js/dist/assets/bpmn-js.css",
    "diagram-js.css": "bpmn-js/dist/assets/diagram-js.css",
    "htmx.js": "htmx.org/dist/htmx.min.js",
    "chart.js": "chart.js/dist/chart.umd.min.js",
}


def _db():
    return db.session()


def user() -> User:
    return g.web_user


# --- session, CSRF, errors ---------------------------------------------------------------------------


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


@bp.before_request
def _load_user() -> Any:
    _load_user_only()
    if request.method == "POST":
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


@bp.app_context_processor
def _globals() -> dict[str, Any]:
    current = g.get("web_user")
    return {
        "t": t,
        "pick": pick,
        "locale": locale(),
        "current_user": current,
        "unread_count": notifications.unread_count(_db(), current.id) if current else 0,
        "may_dashboard": bool(current and dashboards.may_view(current)),
        "is_admin": bool(current and users.is_admin(current)),
    }


@bp.app_template_filter("localtime")
def _localtime(moment: dt.datetime | None) -> str:
    """A stored UTC time as Shanghai wall-clock time, to the minute."""
    if moment is None:
        return "—"
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


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


# --- assets, language, login ---------------------------------------------------------------------------


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
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    flash(t("logged_out"), "info")
    return redirect(url_for("web.login"))


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


# --- inbox --------------------------------------------------------------------------------------------


def _int_arg(name: str, default: int, low: int = 1, high: int = 100_000) -> int:
    try:
        return min(high, max(low, int(request.args.get(name, default))))
    except ValueError:
        return default


def _unit_options(current: User) -> list[OrgUnit]:
    """The org units the user may filter by: their grants' units and the units directly below."""
    session = _db()
    seen: dict[str, OrgUnit] = {}
    for grant in current.grants:
        unit = orgs.get(session, grant.org_unit_id)
        seen.setdefault(unit.code, unit)
        if unit.level in (OrgLevel.CITY, OrgLevel.DISTRICT):
            for child in orgs.list_units(session, parent_code=unit.code):
                if child.level in (OrgLevel.DISTRICT, OrgLevel.STREET):
                    seen.setdefault(child.code, child)
    return sorted(seen.values(), key=lambda u: u.code)


def _waiting(row: HumanTask, now: dt.datetime) -> str:
    hours = max(0, int((now - row.created_at).total_seconds() // 3600))
    days, rest = divmod(hours, 24)
    return t("days_hours", d=days, h=rest) if days else t("hours", h=rest)


def _row_view(row: HumanTask, cases: dict[int, tuple[str | None, str]], now: dt.datetime) -> dict[str, Any]:
    key, name = cases.get(row.instance_id, (None, row.process_key))
    return {
        "task": row,
        "case_key": key or f"#{row.instance_id}",
        "procedure": name,
        "colour": deadlines.colour(row, now),
        "waiting": _waiting(row, now),
        "mine": row.assignee_id == user().id,
        "can_claim": row.state == TaskStatus.READY and tasks.can_claim(_db(), user(), row),
        "can_unclaim": row.state == TaskStatus.CLAIMED
        and (row.assignee_id == user().id or users.supervises(_db(), user(), row)),
    }


@bp.get("/")
@login_required
def inbox() -> Any:
    session = _db()
    tab = request.args.get("tab", "mine")
    tab = tab if tab in TABS else "mine"
    sla = request.args.get("sla") or None
    sla = sla if sla in tasks.SLA_COLOURS else None
    process_key = (request.args.get("process") or "")[:100] or None
    unit_options = _unit_options(user())
    unit_code = request.args.get("unit") or None
    if unit_code not in {u.code for u in unit_options}:
        unit_code = None
    page = _int_arg("page", 1)
    args: dict[str, Any] = {"scope": "all", "overdue": True} if tab == "overdue" else {"scope": tab}
    rows, total = tasks.inbox(
        session,
        user(),
        sla=sla,
        process_key=process_key,
        org_unit_code=unit_code,
        sort="due",
        page=page,
        per_page=PER_PAGE,
        **args,
    )
    now = utcnow()
    cases = tasks.cases_of(session, rows)
    filters = {"tab": tab, "sla": sla or "", "process": process_key or "", "unit": unit_code or ""}
    return render_template(
        "inbox.html",
        rows=[_row_view(r, cases, now) for r in rows],
        total=total,
        page=page,
        pages=max(1, math.ceil(total / PER_PAGE)),
        filters=filters,
        procedures=[(d.key, d.name) for d, _n in definitions.list_latest(session)],
        units=unit_options,
        sla_colours=tasks.SLA_COLOURS,
    )


def _after_action(task_id: int, message: str) -> Any:
    """htmx: the task's row redrawn in place; a plain form post: back where the user was."""
    row = tasks.get_visible(_db(), user(), task_id)
    if request.headers.get("HX-Request"):
        view = _row_view(row, tasks.cases_of(_db(), [row]), utcnow())
        return render_template("_task_row.html", r=view, message=message)
    flash(message, "success")
    return redirect(_safe_next(request.form.get("next")))


@bp.post("/tasks/<int:task_id>/claim")
@login_required
def claim(task_id: int) -> Any:
    tasks.claim(_db(), user(), task_id)
    return _after_action(task_id, t("claimed"))


@bp.post("/tasks/<int:task_id>/unclaim")
@login_required
def unclaim(task_id: int) -> Any:
    tasks.unclaim(_db(), user(), task_id)
    return _after_action(task_id, t("unclaimed"))


# --- task page ------------------------------------------------------------------------------------------


def _forms_of(rows: list[HumanTask]) -> list[Any]:
    """The forms of the case's tasks, each in the version its task was created with."""
    keys = dict.fromkeys((r.form_key, r.form_version) for r in rows if r.form_key)
    found = (formversions.form_at(_db(), key, version) for key, version in keys)
    return [f for f in found if f is not None]


def _formatter() -> display.Formatter:
    """Values in the user's language; street codes read as their names."""
    lang = locale()
    names = {
        u.code: (u.name_en if lang == "en" else u.name_zh) for u in orgs.list_units(_db(), OrgLevel.STREET)
    }
    return display.Formatter(lang, unit_names=names)


def _editable_fields(instance: Any) -> dict[str, display.EditableField]:
    """The labelled items of the case an operator may correct from the case page."""
    session = _db()
    rows = [*tasks.history_of(session, instance.id), *tasks.open_tasks_of(session, instance.id)]
    return display.editable_fields(_forms_of(rows), instance.data or {}, _formatter())


def _summary(instance: Any, rows: list[HumanTask]) -> dict[str, list[dict[str, Any]]]:
    """Case data as labelled items: each step's values from its record, labelled from its form (loops:
    the latest run and how many); labelled process variables apart, unlabelled engine variables left
    out; ID and phone numbers masked (full values only through the audited reveal)."""
    from api.web.case_summary import summary

    hidden = frozenset({"excluded_users", "near_relative_staff", "outcome", "notice_to_applicant"})
    return summary(_db(), user(), instance, _forms_of(rows), _formatter(), hidden=hidden)


def _render_task(
    row: HumanTask,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
) -> Any:
    session = _db()
    instance = instances.get_visible(session, user(), row.instance_id)
    form = tasks.form_of(row)
    if values is None:
        draft = tasks.draft_of(session, user(), row) if row.state != TaskStatus.COMPLETED else None
        if draft:
            flash(t("draft_loaded"), "info")
        elif row.state != TaskStatus.COMPLETED:
            from api.web.records_views import prefill

            draft = prefill(row)  # a step sent back for correction starts from its last record
        values = formview.values_for_display(draft)
    history = tasks.history_of(session, instance.id)
    names = users.display_names(session, [h.completed_by_id for h in history] + [row.assignee_id])
    supervisor = users.supervises(session, user(), row)
    candidates = (
        deadlines.role_holders(session, row.candidate_role, row)
        if supervisor and row.state in (TaskStatus.READY, TaskStatus.CLAIMED)
        else []
    )
    return render_template(
        "task.html",
        task=row,
        instance=instance,
        case_name=tasks.cases_of(session, [row]).get(row.instance_id, (None, row.process_key))[1],
        form_title=formview.title_of(form, locale()),
        fields=formview.fields_of(form, locale()),
        values=values,
        errors=errors or {},
        may_work=tasks.may_work_on(session, user(), row),
        can_claim=row.state == TaskStatus.READY and tasks.can_claim(session, user(), row),
        can_unclaim=row.state == TaskStatus.CLAIMED
        and (row.assignee_id == user().id or users.supervises(session, user(), row)),
        is_open=row.state in (TaskStatus.READY, TaskStatus.CLAIMED),
        supervisor=supervisor,
        candidates=candidates,
        colour=deadlines.colour(row),
        summary=_summary(instance, [*history, row]),
        history=history,
        names=names,
    ), status


@bp.get("/tasks/<int:task_id>")
@login_required
def task_page(task_id: int) -> Any:
    done = tasks.get(_db(), task_id)
    if done.state == TaskStatus.COMPLETED:  # its record, read-only, for everyone who sees the case
        from api.web.records_views import done_page

        return done_page(done)
    return _render_task(tasks.get_visible(_db(), user(), task_id))


@bp.post("/tasks/<int:task_id>/complete")
@login_required
def complete(task_id: int) -> Any:
    session = _db()
    row = tasks.get_visible(session, user(), task_id)
    data = formview.submission(tasks.form_of(row), request.form)
    try:
        done = tasks.complete(session, user(), task_id, data)
    except Invalid as err:
        session.rollback()
        row = tasks.get_visible(session, user(), task_id)
        flash(t("form_errors"), "error")
        return _render_task(
            row, values=formview.values_for_display(data), errors=_field_errors(err), status=422
        )
    flash(t("completed_ok", name=done.name), "success")
    return redirect(url_for("web.case_page", instance_id=done.instance_id))


def _field_errors(err: Invalid) -> dict[str, list[str]]:
    errors = {k: [pick(m) for m in v] for k, v in err.fields.items()}
    if not errors:
        errors["_form"] = [pick(err.message)]
    return errors


@bp.post("/tasks/<int:task_id>/draft")
@login_required
def save_draft(task_id: int) -> Any:
    row = tasks.get_visible(_db(), user(), task_id)
    tasks.save_draft(_db(), user(), task_id, formview.submission(tasks.form_of(row), request.form))
    flash(t("draft_saved"), "success")
    return redirect(url_for("web.task_page", task_id=task_id))


@bp.post("/tasks/<int:task_id>/assign")
@login_required
def assign(task_id: int) -> Any:
    username = request.form.get("username", "").strip()[:64]
    try:
        tasks.assign(_db(), user(), task_id, username)
    except Invalid as err:
        _db().rollback()
        flash("；".join(m for ms in _field_errors(err).values() for m in ms), "error")
    else:
        flash(t("assigned", user=username), "success")
    return redirect(url_for("web.task_page", task_id=task_id))


# --- starting a procedure -----------------------------------------------------------------------------


def _startable(key: str) -> tuple[Any, Any, list[OrgUnit]]:
    for definition, meta, units in scope.startable(_db(), user()):
        if definition.key == key:
            return definition, meta, units
    raise NotFound(f"没有可发起的流程 / no procedure '{key}' you may start")


@bp.get("/start")
@login_required
def start_list() -> Any:
    return render_template("start_list.html", items=scope.startable(_db(), user()))


@bp.route("/start/<key>", methods=["GET", "POST"])
@login_required
def start_form(key: str) -> Any:
    session = _db()
    definition, meta, units = _startable(key)
    form = formversions.current(session, meta.form_key)[0] if meta.form_key else None
    applicant_id = request.values.get("applicant", type=int)  # started from a household's page
    applicant = households.get_person(session, user(), applicant_id) if applicant_id else None
    values: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        data = formview.submission(form, request.form)
        unit_code = request.form.get("org_unit", "")
        business_key = request.form.get("business_key", "").strip() or None
        values = {**formview.values_for_display(data), "org_unit": unit_code, "business_key": business_key}
        try:
            if unit_code not in {u.code for u in units}:
                raise Invalid(
                    "请选择机构 / choose an org unit", {"org_unit": ["请选择机构 / choose an org unit"]}
                )
            if business_key and len(business_key) > 100:
                raise Invalid(
                    "业务编号过长 / too long", {"business_key": ["最多 100 字 / at most 100 characters"]}
                )
            instance = case_service.start_case(
                session,
                user(),
                key,
                unit_code,
                household_id=applicant.household_id if applicant else None,
                applicant_person_id=applicant.id if applicant else None,
                business_key=business_key,
            )
            first = next(
                (r for r in tasks.open_tasks_of(session, instance.id) if r.bpmn_id == meta.bpmn_id), None
            )
            if first is None:
                raise Conflict("流程没有停在第一步 / the procedure did not stop at its first step")
            tasks.complete(session, user(), first.id, data)
        except Invalid as err:
            session.rollback()  # nothing is kept of a start whose first form was refused
            errors, status = _field_errors(err), 422
            flash(t("form_errors"), "error")
        else:
            flash(t("started", key=business_key or f"#{instance.id}"), "success")
            return redirect(url_for("web.case_page", instance_id=instance.id))
    return render_template(
        "start_form.html",
        definition=definition,
        meta=meta,
        units=units,
        form_title=formview.title_of(form, locale()),
        fields=formview.fields_of(form, locale()),
        values=values,
        errors=errors,
        applicant=applicant,
    ), status


# --- case page --------------------------------------------------------------------------------------------


EVENT_NAMES = {
    "instance.started": ("新建案件", "Case opened"),
    "instance.completed": ("案件结束", "Case ended"),
    "instance.suspended": ("挂起案件", "Case suspended"),
    "instance.resumed": ("恢复办理", "Case resumed"),
    "instance.terminated": ("终止案件", "Case terminated"),
    "instance.moved_back": ("退回至前序环节", "Moved back to an earlier step"),
    "instance.data_edited": ("更正案件数据", "Case data corrected"),
    "instance.migrated": ("迁移版本", "Moved to a new procedure version"),
    "case.transferred": ("案件移交", "Case transferred"),
    "task.created": ("新待办", "New task"),
    "task.claimed": ("认领", "Claimed"),
    "task.unclaimed": ("放回待认领", "Put back to be claimed"),
    "task.sent_back": ("退回补正", "Sent back for correction"),
    "task.assigned": ("指派", "Assigned"),
    "task.reassigned": ("改派", "Reassigned"),
    "task.completed": ("提交", "Submitted"),
    "task.cancelled": ("待办取消", "Task cancelled"),
    "task.draft_saved": ("保存草稿", "Draft saved"),
    "task.deadline_changed": ("调整办理期限", "Deadline changed"),
    "task.reminded": ("即将到期提醒", "Due-soon reminder"),
    "task.overdue": ("已逾期", "Overdue"),
    "task.escalated": ("已升级", "Escalated"),
    "timer.fired": ("系统自动处理", "Handled automatically"),
    "personal_data.read": ("查看完整证件号", "Full ID numbers read"),
}
TIMELINE_PER_PAGE = 20


def case_outcome(instance: Any) -> dict[str, Any]:
    """How the case stands or ended, for staff: 办理中 … 已办结 / 不予受理 / 不予批准 / 已撤回 / 已终止, with
    the refusal's reason and notice or the termination's reason."""
    ended = outcome.outcome_of(instance.status, instance.data)
    data = instance.data or {}
    view: dict[str, Any] = {"key": ended.value, "label": t(f"outcome_{ended.value}"), "details": []}
    if ended in (outcome.Outcome.NOT_ACCEPTED, outcome.Outcome.NOT_APPROVED):
        if data.get("rejection_reason"):
            view["details"].append((t("outcome_reason"), str(data["rejection_reason"])))
        if ended == outcome.Outcome.NOT_APPROVED and data.get("notice_to_applicant"):
            view["details"].append((t("notice_not_approved"), str(data["notice_to_applicant"])))
        else:
            view["details"].append((t(f"notice_{ended.value}"), t("notice_issued")))
    elif ended == outcome.Outcome.TERMINATED:
        event = timeline.latest(_db(), instance.id, AuditAction.INSTANCE_TERMINATED)
        reason = (event.details or {}).get("reason") if event is not None else None
        view["details"].append((t("outcome_reason"), str(reason) if reason else "—"))
    return view


def case_parent(instance: Any) -> Any:
    """The case this one was opened from (a household case's Bridge Plan project), if visible."""
    return family.parent_of(_db(), user(), instance)


def _children(instance: Any) -> dict[str, Any] | None:
    """The cases opened from this one (a project's household cases) as a table: case, household,
    status, visits, budget share."""
    rows = family.children_of(_db(), user(), instance)
    if not rows:
        return None
    fmt = _formatter()
    columns = [
        k for k in ("household_ref", "visit_count", "budget_share") if any(k in (r.data or {}) for r in rows)
    ]
    headers = [t("case"), *[fmt.word(*display.VARIABLES[k][:2]) for k in columns], t("status")]
    body = []
    for r in rows:
        data = r.data or {}
        cells = [
            display.variable_item(k, data.get(k), {}, fmt)["text"]  # type: ignore[index]
            for k in columns
        ]
        body.append(
            {
                "id": r.id,
                "key": r.business_key or f"#{r.id}",
                "cells": cells,
                "status": case_outcome(r)["label"],
            }
        )
    return {"headers": headers, "rows": body}


def procedure_name(definition: Any) -> str:
    """A procedure's name in the user's language (the English half of its pool name when it has one)."""
    if locale() == "en":
        english = display.english_name(definition.id, lambda: definition.bpmn_xml)
        if english:
            return english
    return str(definition.name)


@bp.app_context_processor
def _case_helpers() -> dict[str, Any]:
    return {"case_outcome": case_outcome, "case_parent": case_parent, "procedure_name": procedure_name}


def _element_name(instance: Any, bpmn_id: str | None) -> str | None:
    """The name a BPMN element (a timer, say 发放后30天) has in the case's own version."""
    if not bpmn_id:
        return None
    compiled = instances.load_spec(_db(), instance)
    for spec in (compiled.spec, *compiled.subprocess_specs.values()):
        found = spec.task_specs.get(bpmn_id)
        if found is not None:
            return getattr(found, "bpmn_name", None) or None
    return None


@bp.get("/cases/<int:instance_id>")
@login_required
def case_page(instance_id: int) -> Any:
    session = _db()
    instance = instances.get_visible(session, user(), instance_id)
    open_rows = tasks.open_tasks_of(session, instance.id)
    history = tasks.history_of(session, instance.id)
    tpage = _int_arg("tpage", 1)
    events, total_events = timeline.page(session, instance.id, page=tpage, per_page=TIMELINE_PER_PAGE)
    task_names = {r.id: r.name for r in [*history, *open_rows]}
    names = users.display_names(
        session, [e.actor_id for e in events] + [r.assignee_id for r in open_rows] + [instance.started_by_id]
    )
    en = locale() == "en"
    system = "System" if en else "系统"
    ended = t(f"outcome_{outcome.outcome_of(instance.status, instance.data).value}")
    rows = []
    for e in events:
        what = EVENT_NAMES.get(e.action, ("其他操作", "Other action"))[en]
        if e.action == "instance.completed":
            what = f"{what}{t('colon')}{ended}"
        elif e.action == "timer.fired":
            step = _element_name(instance, (e.details or {}).get("bpmn_id"))
            what = f"{what}{t('colon')}{step}" if step else what
        rows.append(
            {
                "at": e.at,
                "who": names.get(e.actor_id, system) if e.actor_id else system,
                "what": what,
                "task": task_names.get(e.task_id) if e.task_id else None,
            }
        )
    diagram = {
        "xml_url": url_for("web.case_diagram", instance_id=instance.id, lang=locale()),
        "completed": sorted({h.bpmn_id for h in history if h.state == TaskStatus.COMPLETED}),
        "current": sorted({r.bpmn_id for r in open_rows}),
    }
    return render_template(
        "case.html",
        instance=instance,
        open_rows=[(r, deadlines.colour(r)) for r in open_rows],
        history=history,
        names=names,
        timeline=rows,
        timeline_page={
            "page": tpage,
            "pages": max(1, math.ceil(total_events / TIMELINE_PER_PAGE)),
            "total": total_events,
        },
        diagram=diagram,
        children=_children(instance),
        summary=_summary(instance, [*history, *open_rows]),
        may_reveal=privacy.may_reveal(_db(), user(), instance),
    )


@bp.post("/cases/<int:instance_id>/personal-data")
@login_required
def case_personal_data(instance_id: int) -> Any:
    """显示完整证件号 / reveal: the case's full ID and phone numbers (an audited read), as an htmx fragment."""
    session = _db()
    instance = instances.get_visible(session, user(), instance_id)
    values = privacy.reveal(session, user(), instance, channel="web")
    rows = [*tasks.history_of(session, instance.id), *tasks.open_tasks_of(session, instance.id)]
    fields = display.field_index(_forms_of(rows))
    fmt = _formatter()
    labelled = [(display.path_label(path, fields, fmt), value) for path, value in values.items()]
    return render_template("_personal_data.html", values=labelled)


@bp.get("/cases/<int:instance_id>/diagram.bpmn")
@login_required
def case_diagram(instance_id: int) -> Any:
    instance = instances.get_visible(_db(), user(), instance_id)
    xml = display.localize_diagram(definitions.bpmn_xml(_db(), instance.definition_id), locale())
    return Response(xml, mimetype="application/xml", headers={"Cache-Control": "private, max-age=3600"})


# --- dashboards -----------------------------------------------------------------------------------------

# table -> its columns (row key, label key)
COLUMNS: dict[str, list[tuple[str, str]]] = {
    "sla": [("sla", "sla_colour"), ("count", "open_count")],
    "by_district": [("district", "district"), ("open", "open_count"), ("overdue", "overdue_count")],
    "by_step": [
        ("process_key", "procedure"),
        ("step", "step"),
        ("open", "open_count"),
        ("overdue", "overdue_count"),
    ],
    "ca_disbursements": [("month", "month"), ("count", "count"), ("total", "total")],
    "bridge": [
        ("district", "district"),
        ("year", "year"),
        ("households", "households"),
        ("visits_per_household", "visits_per_household"),
        ("budget_used", "budget_used"),
        ("budget_per_household", "budget_per_household"),
        ("within_budget", "budget_ok"),
    ],
    "twinning": [
        ("pairing", "pairing"),
        ("year", "working_year"),
        ("workers", "workers"),
        ("working_days", "working_days"),
        ("workers_ok", "workers_ok"),
        ("days_ok", "days_ok"),
    ],
}


def _dashboard_user() -> User:
    if not dashboards.may_view(user()):
        raise Forbidden("无权查看统计看板 / you may not see the dashboards")
    return user()


# columns holding amounts of money, and columns whose empty value means "not started yet"
MONEY_COLUMNS = frozenset({"total", "budget_used", "budget_per_household"})
NOT_STARTED_COLUMNS = frozenset({"year"})


def _cell(value: Any, column: str = "", *, page: bool = True) -> Any:
    """One figure as the page shows it (money as ``6,000.00 元``), or as an export holds it (amounts as
    numbers a spreadsheet can add up); never a bare ``None``."""
    if isinstance(value, bool):
        return t("ok") if value else t("not_ok")
    if value is None or value == "":
        return t("not_started") if column in NOT_STARTED_COLUMNS else "—"
    if column in MONEY_COLUMNS:
        if page:
            return display.Formatter(locale()).money(value)
        amount = display.to_decimal(value)
        return value if amount is None else amount
    return value


def _district_names() -> dict[str, str]:
    """District names as the engine writes them (Chinese) → in the user's language."""
    en = locale() == "en"
    names = {u.name_zh: (u.name_en if en else u.name_zh) for u in orgs.list_units(_db(), OrgLevel.DISTRICT)}
    return {**names, "市级": t("city_level")}


# A text cell starting with one of these is read as a formula by Excel, LibreOffice and Sheets (a business
# key ``=HYPERLINK(…)``); exports prefix such text with an apostrophe so it stays text (OWASP's advice).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """A cell for a CSV or Excel export: text that a spreadsheet would run as a formula is escaped."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _table(viewer: User, name: str) -> list[dict[str, Any]]:
    rows = dashboards.table(_db(), viewer, name)
    if rows and "district" in rows[0]:
        districts = _district_names()
        rows = [{**r, "district": districts.get(r["district"], r["district"])} for r in rows]
    if name == "sla":  # colour keys shown by their names
        rows = [{**r, "sla": t(f"sla_{r['sla']}")} for r in rows]
    if name == "by_step":  # procedure keys shown by their names
        names = {d.key: procedure_name(d) for d, _n in definitions.list_latest(_db())}
        rows = [{**r, "process_key": names.get(r["process_key"], r["process_key"])} for r in rows]
    return rows


@bp.get("/dashboard")
@login_required
def dashboard() -> Any:
    viewer = _dashboard_user()
    tables = {name: _table(viewer, name) for name in COLUMNS}
    charts = {
        "by_district": {
            "labels": [r["district"] for r in tables["by_district"]],
            "series": [
                {"label": t("open_count"), "data": [r["open"] for r in tables["by_district"]]},
                {"label": t("overdue_count"), "data": [r["overdue"] for r in tables["by_district"]]},
            ],
        },
        "by_step": {
            "labels": [r["step"] for r in tables["by_step"][:15]],
            "series": [
                {"label": t("open_count"), "data": [r["open"] for r in tables["by_step"][:15]]},
                {"label": t("overdue_count"), "data": [r["overdue"] for r in tables["by_step"][:15]]},
            ],
        },
        "ca_disbursements": {
            "labels": [r["month"] for r in tables["ca_disbursements"]],
            "series": [
                {"label": t("total"), "data": [float(r["total"]) for r in tables["ca_disbursements"]]}
            ],
        },
    }
    return render_template(
        "dashboard.html",
        tables={
            n: [[_cell(row[k], k) for k, _l in COLUMNS[n]] for row in rows] for n, rows in tables.items()
        },
        headers={n: [t(label) for _k, label in cols] for n, cols in COLUMNS.items()},
        charts=charts,
        missing=holidays.missing_years(_db(), utcnow()),
    )


@bp.get("/dashboard/<name>.<fmt>")
@login_required
def dashboard_export(name: str, fmt: str) -> Any:
    viewer = _dashboard_user()
    if name not in COLUMNS or fmt not in ("csv", "xlsx"):
        abort(404)
    headers = [t(label) for _k, label in COLUMNS[name]]
    rows = [
        [spreadsheet_safe(_cell(row[k], k, page=False)) for k, _l in COLUMNS[name]]
        for row in _table(viewer, name)
    ]
    filename = f"{name}-{utcnow().astimezone(dt.UTC).strftime('%Y%m%d')}.{fmt}"
    disposition = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(headers)
        writer.writerows(rows)
        # With a BOM, Excel opens the UTF-8 Chinese text correctly.
        return Response("\ufeff" + out.getvalue(), mimetype="text/csv; charset=utf-8", headers=disposition)
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = name[:31]
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    for cells in sheet.iter_rows(min_row=2):
        for cell in cells:  # text is text, even when an escaped value still looked like a formula
            if isinstance(cell.value, str):
                cell.data_type = "s"
    data = io.BytesIO()
    book.save(data)
    return Response(
        data.getvalue(),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers=disposition,
    )


# --- notifications ----------------------------------------------------------------------------------------


@bp.get("/notifications")
@login_required
def notification_list() -> Any:
    rows, total, unread = notifications.list_mine(_db(), user().id, page=_int_arg("page", 1), per_page=50)
    return render_template("notifications.html", rows=rows, total=total, unread=unread)


@bp.post("/notifications/<int:notification_id>/read")
@login_required
def notification_read(notification_id: int) -> Any:
    row = notifications.mark_read(_db(), user().id, notification_id)
    if row.task_id and request.form.get("open"):
        return redirect(url_for("web.task_page", task_id=row.task_id))
    return redirect(url_for("web.notification_list"))


@bp.post("/notifications/read-all")
@login_required
def notification_read_all() -> Any:
    notifications.mark_all_read(_db(), user().id)
    return redirect(url_for("web.notification_list"))
