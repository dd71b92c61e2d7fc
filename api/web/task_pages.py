"""A task's page (fill in, save a draft, submit, assign) and starting a procedure."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for

from api.web import bp, formview, registers
from api.web.case_page import procedure_label
from api.web.common import _db, _field_errors, _history, _summary, login_required, user
from api.web.i18n import MESSAGES, locale, t
from api.web.materials_pages import checklist_context
from engine import scope
from engine.bpmn.dmn_task import SUGGESTED_KEY
from engine.cases import service as case_service
from engine.deadlines import service as deadlines
from engine.errors import Conflict, Invalid, NotFound
from engine.forms import validate_submission
from engine.forms.model import _text
from engine.formversions import service as formversions
from engine.households import service as households
from engine.instances import rehearsal
from engine.instances import service as instances
from engine.orgs.models import OrgUnit
from engine.tasks import service as tasks
from engine.tasks.models import HumanTask, TaskStatus
from engine.users import service as users

MESSAGES["started_submit_first"] = (
    "已创建案件 {key}：请核对首个环节的内容后提交",
    "Case {key} opened: check its first step, then submit it",
)


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
            if draft is None and form is not None:
                draft = _suggested(instance, form)
        values = formview.values_for_display(draft)
    if form is not None and row.state != TaskStatus.COMPLETED:
        # read-only fields show what the case holds (e.g. a report's figures)
        held = instance.data if isinstance(instance.data, dict) else {}
        shown = {
            f.name: held[f.name]
            for f in form.fields
            if f.readonly and held.get(f.name) is not None and values.get(f.name) in (None, "")
        }
        values = {**values, **formview.values_for_display(shown)}
    done, history, history_page = _history(instance.id)
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
        case_name=procedure_label(
            row.process_key, tasks.cases_of(session, [row]).get(row.instance_id, (None, row.process_key))[1]
        ),
        form_title=formview.title_of(form, locale()),
        fields=formview.fields_of(form, locale(), registers.entries(session, form, instance.district_id)),
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
        summary=_summary(instance, [*done.forms, row]),
        history=history,
        history_page=history_page,
        names=names,
        materials=checklist_context(row) if form is not None and form.file_fields else None,
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


def _suggested(instance: Any, form: Any) -> dict[str, Any] | None:
    """What a decision table suggested for this form's fields (e.g. the 3A tier from the needs), to be
    confirmed or changed: the fields it fills are named in a notice."""
    held = instance.data.get(SUGGESTED_KEY) if isinstance(instance.data, dict) else None
    if not isinstance(held, dict):
        return None
    filled = {
        f.name: held[f.name] for f in form.fields if held.get(f.name) not in (None, "") and not f.readonly
    }
    if not filled:
        return None
    labels = [_text(f.label, locale()) or f.name for f in form.fields if f.name in filled]
    flash(t("decision_prefilled", fields="、".join(labels)), "info")
    return filled


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


def needs_materials(form: Any) -> bool:
    return form is not None and any(f.required or f.required_if for f in form.file_fields)


def _check_without_files(form: Any, data: dict[str, Any]) -> None:
    """Check the first form without its files (a refusal leaves nothing)."""
    _clean, errors = validate_submission(form, data)
    if errors:
        raise Invalid("表单校验失败 / form validation failed", errors)


def _open_with_draft(
    session: Any,
    key: str,
    unit_code: str,
    placed: dict[str, Any],
    meta: Any,
    form: Any,
    data: dict[str, Any],
    message: str = "started_add_materials",
) -> Any:
    """Open the case, keep the first form (checked first: a refusal leaves nothing) as its first task's
    draft and go to that task's page (to add the materials, or just to submit it)."""
    if form is not None:
        _check_without_files(form, data)  # before anything is written (its rules: expressions)
    instance = case_service.start_case(session, user(), key, unit_code, **placed)
    first = next((r for r in tasks.open_tasks_of(session, instance.id) if r.bpmn_id == meta.bpmn_id), None)
    if first is None:
        raise Conflict("流程没有停在第一步 / the procedure did not stop at its first step")
    tasks.save_draft(session, user(), first.id, data)
    flash(t(message, key=placed["business_key"] or f"#{instance.id}"), "info")
    return redirect(url_for("web.task_page", task_id=first.id))


def _one(values: set[Any]) -> Any:
    return next(iter(values)) if len(values) == 1 else None


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
            placed: dict[str, Any] = {
                "household_id": applicant.household_id if applicant else None,
                "applicant_person_id": applicant.id if applicant else None,
                "business_key": business_key,
            }
            if needs_materials(form):
                # the first step takes documents: the case is opened with the form kept as a draft, and
                # its task page (checklist, drop zone, camera) takes the files before it is submitted
                return _open_with_draft(session, key, unit_code, placed, meta, form, data)
            try:
                instance = case_service.start_with_first_step(
                    session, user(), key, unit_code, meta.bpmn_id, data, **placed
                )
            except rehearsal.TooMuchToRehearse:
                # more to work out before the write lock than a start can learn (engine.instances.
                # rehearsal): the same as with materials, the first step then submitted on its own page
                session.rollback()
                return _open_with_draft(
                    session, key, unit_code, placed, meta, form, data, "started_submit_first"
                )
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
        # a register's entries for the district the case will be in (when the units offered share one)
        fields=formview.fields_of(
            form, locale(), registers.entries(session, form, _one({u.district_id for u in units}))
        ),
        values=values,
        errors=errors,
        applicant=applicant,
    ), status
