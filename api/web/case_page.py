"""A case's page: its outcome, timeline, diagram, data summary and the audited reveal of ID numbers."""

from __future__ import annotations

import math
from typing import Any

from flask import Response, render_template, request, url_for
from markupsafe import Markup, escape

from api.web import bp, display
from api.web.common import (
    _db,
    _formatter,
    _forms_of,
    _history,
    _int_arg,
    _summary,
    login_required,
    step_names,
    user,
)
from api.web.document_pages import case_documents
from api.web.i18n import locale, t
from api.web.materials_pages import case_materials
from api.web.report_pages import case_reports
from engine import crypto, privacy
from engine.audit import timeline
from engine.audit.models import AuditAction
from engine.deadlines import service as deadlines
from engine.definitions import service as definitions
from engine.instances import called as called_steps
from engine.instances import family, outcome
from engine.instances import service as instances
from engine.messages import service as messages
from engine.records import service as records
from engine.tasks import history as task_history
from engine.tasks import service as tasks
from engine.tasks.names import bilingual
from engine.users import service as users

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
    "attachment.uploaded": ("上传材料", "Material uploaded"),
    "attachment.downloaded": ("下载材料", "Material downloaded"),
    "document.generated": ("生成文书", "Document generated"),
    "attachment.removed": ("移除材料", "Material removed"),
    "message.sent": ("发送消息", "Message sent"),
    "message.received": ("收到消息", "Message received"),
    "message.buffered": ("消息暂存待接收", "Message kept until its case waits"),
    "message.expired": ("暂存消息已过期", "Kept message expired"),
    "message.refused": ("消息未投递：案件已结束", "Message not delivered: the case has ended"),
    "signal.sent": ("发出信号", "Signal sent"),
    "signal.received": ("收到信号", "Signal received"),
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
    status, visits, budget share. The body is written here in one pass (a project lists hundreds of
    households; the same HTML as a loop over the cells in the template), each distinct value formatted
    once (budget shares and visit counts repeat down the list)."""
    shown = ("household_ref", "visit_count", "budget_share")
    rows = family.children_of(_db(), user(), instance, keys=(*shown, *outcome.OUTCOME_KEYS))
    if not rows:
        return None
    fmt = _formatter()
    columns = [k for k in shown if any(k in (r.data or {}) for r in rows)]
    headers = [t("case"), *[fmt.word(*display.VARIABLES[k][:2]) for k in columns], t("status")]
    # one URL built, the others by its pattern
    link = str(escape(url_for("web.case_page", instance_id=987654321)))
    texts: dict[tuple[str, type, Any], str] = {}
    plan = [(k, display.VARIABLES[k][2] in ("text", "integer", "year")) for k in columns]
    statuses: dict[outcome.Outcome, str] = {}
    body = []
    for r in rows:
        data = r.data or {}
        cells = []
        for k, plain in plan:
            value = data.get(k)
            if plain and (type(value) is str or type(value) is int) and value != "":
                cells.append(str(escape(value)))  # as variable_item writes a text or a count
                continue
            memo = (k, type(value), value) if value is None or isinstance(value, (str, int, float)) else None
            text = texts.get(memo) if memo is not None else None
            if text is None:
                text = str(escape(display.variable_item(k, value, {}, fmt)["text"]))  # type: ignore[index]
                if memo is not None:
                    texts[memo] = text
            cells.append(text)
        ended = outcome.outcome_of(r.status, data)
        status = statuses.get(ended)
        if status is None:
            status = statuses[ended] = str(escape(t(f"outcome_{ended.value}")))
        key = escape(r.business_key or f"#{r.id}")
        href = link.replace("987654321", str(r.id))
        body.append(
            f'<tr><td><a href="{href}">{key}</a></td>'
            + "".join(f"<td>{c}</td>" for c in cells)
            + f"<td>{status}</td></tr>"
        )
    return {"headers": headers, "count": len(rows), "body": Markup("".join(body))}


def _called(instance: Any) -> list[dict[str, Any]] | None:
    """The sub-procedures the case's call activities run (their steps are this case's tasks): step,
    procedure, 办理中 / 已完成 and the steps waiting for a person. Read from the case's live state, only
    for a procedure that has call activities."""
    compiled = instances.load_spec(_db(), instance)
    if not called_steps.has_calls(compiled) or not instance.state:
        return None
    rows = called_steps.called_of(instances.load(_db(), instance).wf)
    step_name, key, english = step_names(), instance.definition.key, _english_names(instance)

    def named(name: str, bpmn_id: str) -> str:
        meta = compiled.task_meta(bpmn_id)
        return step_name(name, meta.form_key if meta else None, key, bpmn_id)

    return [
        {
            "step": english.get(c.bpmn_id) or step_name(c.step),
            "procedure": procedure_label(c.procedure_key, c.procedure),
            "status": t("sub_running") if c.running else t("sub_done"),
            "open": t("list_sep").join(dict.fromkeys(named(n, b) for n, b in c.open_steps)),
        }
        for c in rows
    ] or None


def _own_english(definition: Any) -> str | None:
    """The English half of this version's pool name, else of its process's name (a procedure drawn
    without a pool), if it has one."""
    pool = display.english_name(definition.sha256, lambda: definition.bpmn_xml)
    halves = bilingual(str(definition.name)) if pool is None else None
    return pool or (halves[1] if halves else None)


def _chinese(name: str) -> str:
    """A procedure's name on Chinese pages: the Chinese half of a name written "中文 English"."""
    halves = bilingual(name)
    return halves[0] if halves else name


def _latest_english() -> dict[str, str]:
    """The English names of the procedures' latest versions, by key; read once per request (kept in the
    request's environ: an app context, and ``g`` with it, may outlive a request)."""
    found: dict[str, str] | None = request.environ.get("assistflow.procedure_names")
    if found is None:
        found = {}
        for d, _n in definitions.list_latest(_db()):
            english = _own_english(d)
            if english:
                found[d.key] = english
        request.environ["assistflow.procedure_names"] = found
    return found


def procedure_name(definition: Any) -> str:
    """A procedure's name in the user's language (the English half of its pool name when it has one; a
    version without one takes the latest version's: a case started before the name was given)."""
    if locale() == "en":
        english = _own_english(definition) or _latest_english().get(definition.key)
        if english:
            return english
    return _chinese(str(definition.name))


def procedure_label(key: str, name: str) -> str:
    """Procedure ``key`` known by its (Chinese) ``name`` only, as a task list holds it: in English, its
    latest version's English name (or the English half of a name written "中文 English")."""
    if locale() == "en":
        halves = bilingual(name)
        return _latest_english().get(key) or (halves[1] if halves else name)
    return _chinese(name)


@bp.app_context_processor
def _case_helpers() -> dict[str, Any]:
    return {"case_outcome": case_outcome, "case_parent": case_parent, "procedure_name": procedure_name}


def _english_names(instance: Any) -> dict[str, str]:
    """On English pages, the English names of the elements of the case's own version (id ->
    ``nameEn``: engine/bpmn/element_names.py), an element its version leaves unnamed in English taking
    the latest version's (a case started before the names were given); nothing on Chinese pages."""
    if locale() != "en":
        return {}
    own = instance.definition
    kept: dict[int, dict[str, str]] = request.environ.setdefault("assistflow.element_names", {})
    if own.id not in kept:  # once per request (a timeline page may name many fired timers)
        found = display.element_english(own.sha256, lambda: own.bpmn_xml)
        newest = definitions.latest(_db(), own.key)
        if newest is not None and newest.id != own.id:
            found = display.element_english(newest.sha256, lambda: newest.bpmn_xml) | found
        kept[own.id] = found
    return kept[own.id]


def _element_name(instance: Any, bpmn_id: str | None) -> str | None:
    """The name a BPMN element (a timer, say 发放后30天) has in the case's own version, in the page's
    language."""
    if not bpmn_id:
        return None
    compiled = instances.load_spec(_db(), instance)
    for spec in (compiled.spec, *compiled.subprocess_specs.values()):
        found = spec.task_specs.get(bpmn_id)
        if found is not None:
            name = getattr(found, "bpmn_name", None) or None
            return _english_names(instance).get(bpmn_id, name) if name else None
    return None


@bp.get("/cases/<int:instance_id>")
@login_required
def case_page(instance_id: int) -> Any:
    # the page shows ID and phone numbers masked: read them masked, nothing decrypted (the full values
    # only through the audited reveal below)
    with crypto.masked_reads():
        return _case_page(instance_id)


def _case_page(instance_id: int) -> Any:
    session = _db()
    instance = instances.get_visible(session, user(), instance_id)
    open_rows = tasks.open_tasks_of(session, instance.id)
    waiting = messages.waiting_of(session, instance.id) if instance.status.value == "running" else []
    done, history, history_page = _history(instance.id)
    # each step's latest record, held for the whole request: the 办理记录 section reads most of the same
    # records and finds them in the session instead of reading (and parsing) them again
    latest = records.latest_per_step(session, instance.id)
    tpage = _int_arg("tpage", 1)
    events, total_events = timeline.page(
        session, instance.id, page=tpage, per_page=TIMELINE_PER_PAGE, detail_keys=("bpmn_id",)
    )
    from api.web.records_views import step_records_page  # (records_views imports views, which imports us)

    records_read = step_records_page(instance, latest)  # 办理记录's page: its users named with the rest
    step_name = step_names()
    task_names = {h.id: step_name.task(h) for h in history} | {r.id: step_name.task(r) for r in open_rows}
    shown_tasks = {e.task_id for e in events if e.task_id} - task_names.keys()
    if shown_tasks:  # the names of the tasks this page of the timeline speaks of
        task_names |= {
            i: step_name.task(row) for i, row in task_history.names_of(session, shown_tasks).items()
        }
    names = users.display_names(
        session,
        [e.actor_id for e in events]
        + [r.assignee_id for r in open_rows]
        + [h.completed_by_id for h in history]
        + [r.actor_id for r in records_read[0]]
        + [instance.started_by_id],
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
        "completed": done.completed_steps,
        "current": sorted({r.bpmn_id for r in open_rows} | {w.bpmn_id for w in waiting}),
    }
    return render_template(
        "case.html",
        instance=instance,
        open_rows=[(r, deadlines.colour(r)) for r in open_rows],
        waiting=waiting,
        element_english=_english_names(instance),
        history=history,
        history_page=history_page,
        records_read=records_read,
        names=names,
        timeline=rows,
        timeline_page={
            "page": tpage,
            "pages": max(1, math.ceil(total_events / TIMELINE_PER_PAGE)),
            "total": total_events,
        },
        diagram=diagram,
        children=_children(instance),
        called=_called(instance),
        summary=_summary(instance, [*done.forms, *open_rows], latest),
        may_reveal=privacy.may_reveal(_db(), user(), instance),
        case_materials=case_materials(_db(), instance),
        case_documents=case_documents(_db(), instance),
        case_reports=case_reports(_db(), instance),
    )


@bp.post("/cases/<int:instance_id>/personal-data")
@login_required
def case_personal_data(instance_id: int) -> Any:
    """显示完整证件号 / reveal: the case's full ID and phone numbers (an audited read), as an htmx fragment."""
    session = _db()
    instance = instances.get_visible(session, user(), instance_id)
    values = privacy.reveal(session, user(), instance, channel="web")
    rows = [*task_history.finished_rows(session, instance.id), *tasks.open_tasks_of(session, instance.id)]
    fields = display.field_index(_forms_of(rows))
    fmt = _formatter()
    labelled = [(display.path_label(path, fields, fmt), value) for path, value in values.items()]
    return render_template("_personal_data.html", values=labelled)


@bp.get("/cases/<int:instance_id>/diagram.bpmn")
@login_required
def case_diagram(instance_id: int) -> Any:
    instance = instances.get_visible(_db(), user(), instance_id)
    names, key = step_names(), instance.definition.key
    xml = display.localize_diagram(
        definitions.bpmn_xml(_db(), instance.definition_id),
        locale(),
        lambda name, form_key, bpmn_id: names(name, form_key, key, bpmn_id),
        _english_names(instance),
    )
    return Response(xml, mimetype="application/xml", headers={"Cache-Control": "private, max-age=3600"})
