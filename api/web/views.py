"""The staff pages. Each view calls the same engine services as the REST API and only lays out results."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from collections.abc import Callable
from functools import wraps
from typing import Any

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

from api.errors import STATUS
from api.extensions import db
from api.web import NODE_MODULES, bp, csrf, formview
from api.web.i18n import LOCALES, locale, pick, t
from engine import privacy
from engine.audit import service as audit
from engine.dashboards import service as dashboards
from engine.db import utcnow
from engine.deadlines import holidays
from engine.deadlines import service as deadlines
from engine.deadlines.calendar import SHANGHAI
from engine.definitions import service as definitions
from engine.errors import Conflict, Forbidden, Invalid, NotFound, ServiceError, Unauthorized
from engine.formversions import service as formversions
from engine.instances import service as instances
from engine.notifications import service as notifications
from engine.orgs import service as orgs
from engine.orgs.models import OrgLevel, OrgUnit
from engine.tasks import service as tasks
from engine.tasks.models import HumanTask, TaskStatus
from engine.users import service as users
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


@bp.before_request
def _load_user() -> None:
    g.web_user = None
    uid = session.get("uid")
    if uid is not None:
        found = _db().get(User, uid)
        if found is not None and found.is_active:
            g.web_user = found
        else:
            session.clear()
    if request.method == "POST":
        csrf.protect()


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


def _error_page(status: int, message: str) -> tuple[str, int]:
    return render_template("error.html", status=status, message=message), status


@bp.errorhandler(ServiceError)
def _service_error(err: ServiceError) -> Any:
    if isinstance(err, Unauthorized):
        return redirect(url_for("web.login"))
    status = next((s for cls, s in STATUS.items() if isinstance(err, cls)), 400)
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
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("web.inbox")


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
            found = users.authenticate(_db(), username, request.form.get("password", ""))
        except Unauthorized:
            error, status = t("login_failed"), 401
        else:
            lang = session.get("lang")
            session.clear()  # a new session for the logged-in user (no fixation)
            session["uid"] = found.id
            session["lang"] = lang or (found.locale if found.locale in LOCALES else "zh")
            session.permanent = True
            return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html", error=error), status


@bp.post("/logout")
def logout() -> Any:
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    flash(t("logged_out"), "info")
    return redirect(url_for("web.login"))


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


def _summary(instance: Any, rows: list[HumanTask]) -> dict[str, list[tuple[str, str]]]:
    """Case data as (label, text): fields of the case's forms first, the rest apart; ID and phone numbers
    masked (full values only through the audited reveal)."""
    described = formview.describe(locale(), _forms_of(rows))
    data = privacy.for_viewer(user(), instance.data or {})
    hidden = {"excluded_users", "near_relative_staff"}
    out: dict[str, list[tuple[str, str]]] = {"fields": [], "other": []}
    for key, value in data.items():
        if key in hidden or key.startswith("_"):
            continue
        label, choices = described.get(key, (key, {}))
        out["fields" if key in described else "other"].append(
            (label, formview.display(value, choices, t("yes"), t("no")))
        )
    return out


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
    for definition, meta, units in definitions.startable(_db(), user()):
        if definition.key == key:
            return definition, meta, units
    raise NotFound(f"没有可发起的流程 / no procedure '{key}' you may start")


@bp.get("/start")
@login_required
def start_list() -> Any:
    return render_template("start_list.html", items=definitions.startable(_db(), user()))


@bp.route("/start/<key>", methods=["GET", "POST"])
@login_required
def start_form(key: str) -> Any:
    session = _db()
    definition, meta, units = _startable(key)
    form = formversions.current(session, meta.form_key)[0] if meta.form_key else None
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
            instance = instances.start(session, user(), key, unit_code, business_key=business_key)
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
    ), status


# --- case page --------------------------------------------------------------------------------------------


EVENT_NAMES = {
    "instance.started": ("发起流程", "Procedure started"),
    "instance.completed": ("流程办结", "Procedure completed"),
    "task.created": ("任务生成", "Task created"),
    "task.claimed": ("认领任务", "Task claimed"),
    "task.unclaimed": ("退回任务", "Task unclaimed"),
    "task.assigned": ("改派任务", "Task assigned"),
    "task.completed": ("完成任务", "Task completed"),
    "task.cancelled": ("任务取消", "Task cancelled"),
    "task.draft_saved": ("保存草稿", "Draft saved"),
    "task.deadline_changed": ("调整期限", "Deadline changed"),
    "task.reminded": ("黄色预警提醒", "Yellow reminder"),
    "task.overdue": ("橙色预警：逾期", "Orange: overdue"),
    "task.escalated": ("红色预警：升级", "Red: escalated"),
    "timer.fired": ("定时器触发", "Timer fired"),
    "personal_data.read": ("查看完整证件号", "Full ID numbers read"),
}


@bp.get("/cases/<int:instance_id>")
@login_required
def case_page(instance_id: int) -> Any:
    session = _db()
    instance = instances.get_visible(session, user(), instance_id)
    open_rows = tasks.open_tasks_of(session, instance.id)
    history = tasks.history_of(session, instance.id)
    events = audit.instance_events(session, instance.id, limit=500)
    task_names = {r.id: r.name for r in [*history, *open_rows]}
    names = users.display_names(
        session, [e.actor_id for e in events] + [r.assignee_id for r in open_rows] + [instance.started_by_id]
    )
    en = locale() == "en"
    system = "System" if en else "系统"
    timeline = [
        {
            "at": e.at,
            "who": names.get(e.actor_id, system) if e.actor_id else system,
            "what": EVENT_NAMES.get(e.action, (e.action, e.action))[en],
            "task": task_names.get(e.task_id) if e.task_id else None,
        }
        for e in events
    ]
    diagram = {
        "xml_url": url_for("web.case_diagram", instance_id=instance.id),
        "completed": sorted({h.bpmn_id for h in history if h.state == TaskStatus.COMPLETED}),
        "current": sorted({r.bpmn_id for r in open_rows}),
    }
    return render_template(
        "case.html",
        instance=instance,
        open_rows=[(r, deadlines.colour(r)) for r in open_rows],
        history=history,
        names=names,
        timeline=timeline,
        diagram=diagram,
        summary=_summary(instance, [*history, *open_rows]),
        may_reveal=privacy.may_see_id_numbers(user()),
    )


@bp.post("/cases/<int:instance_id>/personal-data")
@login_required
def case_personal_data(instance_id: int) -> Any:
    """显示完整证件号 / reveal: the case's full ID and phone numbers (an audited read), as an htmx fragment."""
    session = _db()
    instance = instances.get_visible(session, user(), instance_id)
    values = privacy.reveal(session, user(), instance, channel="web")
    return render_template("_personal_data.html", values=values)


@bp.get("/cases/<int:instance_id>/diagram.bpmn")
@login_required
def case_diagram(instance_id: int) -> Any:
    instance = instances.get_visible(_db(), user(), instance_id)
    xml = definitions.bpmn_xml(_db(), instance.definition_id)
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


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return t("ok") if value else t("not_ok")
    return value


def _table(viewer: User, name: str) -> list[dict[str, Any]]:
    rows = dashboards.table(_db(), viewer, name)
    if name == "sla":  # colour keys shown by their names
        rows = [{**r, "sla": t(f"sla_{r['sla']}")} for r in rows]
    if name == "by_step":  # procedure keys shown by their names
        names = {d.key: d.name for d, _n in definitions.list_latest(_db())}
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
        tables={n: [[_cell(row[k]) for k, _l in COLUMNS[n]] for row in rows] for n, rows in tables.items()},
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
    rows = [[_cell(row[k]) for k, _l in COLUMNS[name]] for row in _table(viewer, name)]
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
