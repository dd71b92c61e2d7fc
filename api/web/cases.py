"""案件 and 家庭 pages: the case list with search (``/cases``), a household's page (``/households/<id>``),
the header at the top of every case page (``_case_header.html``) and the applicant's name in task rows."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import redirect, render_template, request, url_for
from sqlalchemy import select

from api.web import bp, display, views
from api.web.common import step_names
from api.web.i18n import MESSAGES, locale, pick, t
from api.web.views import EVENT_NAMES, _db, login_required, user
from engine import scope
from engine.cases import service as cases
from engine.db import utcnow
from engine.deadlines.calendar import local_day, working_days_between
from engine.definitions import service as definitions
from engine.errors import Invalid, NotFound
from engine.households import service as households
from engine.instances import startdata
from engine.instances.models import ProcessInstance
from engine.privacy import mask_id_number
from engine.tasks import service as tasks
from engine.tasks.models import HumanTask
from engine.users import service as users

PER_PAGE = 25
SEARCH_FIELDS = ("id_number", "id_tail", "name", "phone", "case_number")

MESSAGES.update(
    {
        "cases": ("案件", "Cases"),
        "cases_mine": ("我的案件", "My cases"),
        "cases_units": ("本单位案件", "Cases of my units"),
        "cases_search": ("查找", "Search"),
        "cases_none": ("没有符合条件的案件", "No cases match"),
        "case_number": ("案件编号", "Case number"),
        "applicant": ("申请人", "Applicant"),
        "household": ("家庭", "Household"),
        "address": ("居住地址", "Residence address"),
        "registered_address": ("户籍地址", "Registered address"),
        "current_step": ("当前环节", "Current step"),
        "holder": ("办理人", "Held by"),
        "remaining_days": ("剩余工作日", "Working days left"),
        "days_left": ("{n} 个工作日", "{n} working days"),
        "days_overdue": ("已逾期 {n} 个工作日", "Overdue by {n} working days"),
        "due_today": ("今日到期", "Due today"),
        "waiting_claim": ("待认领（{role}）", "To be claimed ({role})"),
        "search_id_number": ("身份证号", "Resident ID number"),
        "search_id_tail": ("身份证号后 4–6 位", "Last 4–6 of ID number"),
        "search_name": ("姓名", "Name"),
        "search_phone": ("手机号", "Mobile phone"),
        "search_case_number": ("案件编号", "Case number"),
        "search_hint": (
            "按证件号后几位查找时请同时填写姓名；按身份证号查找会记入审计日志。",
            "Give a name with the last digits of an ID number; a search by ID number is recorded in the audit log.",
        ),
        "step": ("环节", "Step"),
        "started_from": ("发起日期自", "Started from"),
        "started_to": ("至", "to"),
        "started_at": ("发起时间", "Started"),
        "case_status_active": ("办理中", "In progress"),
        "case_status_closed": ("已办结", "Closed"),
        "case_status_refused": ("不予受理", "Refused"),
        "case_status_terminated": ("已终止", "Terminated"),
        "household_page": ("家庭档案", "Household"),
        "household_members": ("家庭成员", "Members"),
        "household_cases": ("本户案件", "Cases of this household"),
        "relation": ("与户主关系", "Relation to the head"),
        "id_number": ("身份证号", "ID number"),
        "phone": ("手机号", "Phone"),
        "birth_date": ("出生日期", "Born"),
        "hardship": ("困难类别", "Hardship category"),
        "bank_account": ("收款账户", "Payment account"),
        "separated": ("人户分离", "Registered elsewhere"),
        "yes": ("是", "Yes"),
        "no": ("否", "No"),
        "more": ("更多", "More"),
        "no_household": ("未登记", "Not registered"),
        "household_start": ("为本户新建申请", "Start a case for this household"),
        "household_start_go": ("填写申请", "Fill in the application"),
    }
)
EVENT_NAMES.update(
    {
        "household.created": ("登记家庭", "Household registered"),
        "household.updated": ("修改家庭信息", "Household changed"),
        "household.person_added": ("登记家庭成员", "Member registered"),
        "household.person_updated": ("修改成员信息", "Member changed"),
        "case.household_linked": ("登记申请家庭", "Household named"),
        "case.searched": ("按证件号查找", "Searched by ID number"),
    }
)


def _role(name: str | None) -> str:
    return display.role_name(name, locale()) if name else "—"


def _remaining(due: dt.datetime | None) -> str | None:
    if due is None:
        return None
    today, day = local_day(utcnow()), local_day(due)
    if day == today:
        return t("due_today")
    if day > today:
        return t("days_left", n=working_days_between(today, day))
    return t("days_overdue", n=max(1, working_days_between(day, today)))


def _asks_for_applicant(instance: ProcessInstance) -> bool:
    """Does the procedure's start form ask for a person's ID number (a case about a person)?"""
    try:
        form = startdata.start_form(instance.definition)
    except Invalid:
        return True
    return form is not None and any(f.type == "id_number" for f in form.fields)


def case_header(instance: ProcessInstance, open_rows: list[HumanTask] | None = None) -> dict[str, Any]:
    """What the top of a case page shows: applicant, household, address, procedure, step, holder, days
    (``open_rows``: the case's open tasks, if the page read them already)."""
    session = _db()
    household, applicant = households.parties_of(session, instance.id) or (None, None)
    if open_rows is None:
        open_rows = tasks.open_tasks_of(session, instance.id)
    names = users.display_names(session, [r.assignee_id for r in open_rows])
    due = min((r.due_at for r in open_rows if r.due_at), default=None)
    address = None
    if household is not None:
        street = household.org_unit.name(locale())
        address = " ".join(x for x in (street, household.residence_address) if x)
    return {
        # a project, a report or a pairing names no applicant: the lines are left out, not "未登记"
        "has_applicant": household is not None or _asks_for_applicant(instance),
        "applicant": applicant.name if applicant else None,
        "applicant_id": mask_id_number(applicant.id_number) if applicant and applicant.id_number else None,
        "household": household,
        "address": address,
        "procedure": views.procedure_name(instance.definition),
        "steps": [step_names().task(r) for r in open_rows],
        "holders": [
            names.get(r.assignee_id, "—")
            if r.assignee_id
            else t("waiting_claim", role=_role(r.candidate_role))
            for r in open_rows
        ],
        "remaining": _remaining(due),
        # how the case ended, told apart as on the rest of the page (不予受理 / 不予批准 / 已撤回 …)
        "status": views.case_outcome(instance)["label"],
    }


def applicants_among(views: list[dict[str, Any]]) -> dict[int, str]:
    """Applicant names of an inbox page's tasks, in one query."""
    return households.applicant_names(_db(), {v["task"].instance_id for v in views})


@bp.app_context_processor
def _case_globals() -> dict[str, Any]:
    return {"case_header": case_header, "applicants_among": applicants_among}


FILTERS = ("scope", "process", "status", "step", "from", "to", *SEARCH_FIELDS)


def _shown(args: Any) -> dict[str, str]:
    """The page's filters as the form shows them."""
    return {k: (args.get(k) or "").strip()[:100] for k in FILTERS}


def _query(shown: dict[str, str]) -> cases.Query:
    """The filters as a service query (empty fields left out)."""
    problems: dict[str, list[str]] = {}

    def day(key: str) -> dt.date | None:
        if not shown[key]:
            return None
        try:
            return dt.date.fromisoformat(shown[key])
        except ValueError:
            problems[key] = [t("search_date_bad")]
            return None

    q = cases.Query(
        mine=shown["scope"] == "mine",
        process_key=shown["process"] or None,
        status=shown["status"] or None,
        step=shown["step"] or None,
        started_from=day("from"),
        started_to=day("to"),
        **{k: shown[k] or None for k in SEARCH_FIELDS},
    )
    if problems:
        raise Invalid("查找条件有误 / invalid search", problems)
    return q


MESSAGES["search_date_bad"] = ("日期格式应为 2026-12-03", "Dates read 2026-12-03")
# service field -> the page's field
_FIELD_OF = {"started_to": "to", "started_from": "from", "process_key": "process"}


@bp.get("/cases")
@login_required
def case_list() -> Any:
    session = _db()
    page = max(1, min(100_000, request.args.get("page", 1, type=int) or 1))
    errors: dict[str, list[str]] = {}
    rows: list[dict[str, Any]] = []
    more = False
    shown = _shown(request.args)
    try:
        found, more = cases.search(
            session, user(), _query(shown), page=page, per_page=PER_PAGE, channel="web"
        )
        rows = cases.rows_view(session, found, locale(), step_names().task)
    except Invalid as err:
        errors = {_FIELD_OF.get(k, k): [pick(m) for m in v] for k, v in err.fields.items()}
    procedures = [(d.key, views.procedure_name(d)) for d, _n in definitions.list_latest(session)]
    steps = sorted(
        {
            (r.bpmn_id, step_names().task(r))
            for r in session.execute(
                select(HumanTask.bpmn_id, HumanTask.name, HumanTask.form_key, HumanTask.process_key)
                .where(HumanTask.process_key == shown["process"])
                .distinct()
                .limit(200)
            )
        }
        if shown.get("process")
        else set(),
        key=lambda kv: kv[1],
    )
    return render_template(
        "cases.html",
        rows=rows,
        more=more,
        page=page,
        shown=shown,
        errors=errors,
        procedures=procedures,
        steps=steps,
        statuses=[s.value for s in cases.CaseStatus],
        search_fields=SEARCH_FIELDS,
    ), (422 if errors else 200)


@bp.get("/households/<int:household_id>")
@login_required
def household_page(household_id: int) -> Any:
    session = _db()
    household = households.get(session, user(), household_id)
    view = households.household_view(session, household, locale())
    found = households.cases_of(session, user(), household.id)
    startable = [(d.key, d.name) for d, _meta, _units in scope.startable(session, user())]
    return render_template(
        "household.html",
        household=view,
        rows=cases.rows_view(session, found, locale(), step_names().task),
        startable=startable,
    )


@bp.get("/households/<int:household_id>/start")
@login_required
def household_start(household_id: int) -> Any:
    """新建申请 for a member of the household: the procedure's start page with the applicant named."""
    household = households.get(_db(), user(), household_id)
    applicant = request.args.get("applicant", type=int)
    if applicant not in {m.id for m in household.members}:
        raise NotFound("申请人不是该家庭的成员 / the applicant is not a member of this household")
    key = (request.args.get("process") or "")[:100]
    return redirect(url_for("web.start_form", key=key, applicant=applicant))
