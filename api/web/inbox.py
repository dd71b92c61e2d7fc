"""待办 (the inbox): the user's tasks by tab and filter; claim and unclaim from the list."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from flask import flash, redirect, render_template, request

from api.web import bp
from api.web.case_page import procedure_label, procedure_name
from api.web.common import _db, _int_arg, _safe_next, login_required, user
from api.web.i18n import t
from engine.db import utcnow
from engine.deadlines import service as deadlines
from engine.definitions import service as definitions
from engine.orgs import service as orgs
from engine.orgs.models import OrgLevel, OrgUnit
from engine.tasks import service as tasks
from engine.tasks.models import HumanTask, TaskStatus
from engine.users import service as users
from engine.users.models import User

PER_PAGE = 25


TABS = ("mine", "claimable", "overdue")


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
        "procedure": procedure_label(row.process_key, name),
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
        procedures=[(d.key, procedure_name(d)) for d, _n in definitions.list_latest(session)],
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
