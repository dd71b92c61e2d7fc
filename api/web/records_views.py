"""Web pages of step records and send-back: the finished-task page (read-only, for everyone who may see
the case), the case page's 办理记录 section (``_step_records.html``), and the 退回补正 form on an open
task (``_send_back.html``)."""

from __future__ import annotations

import math
from typing import Any

from flask import flash, redirect, render_template, request, url_for

from api.web import bp, display
from api.web.common import step_names
from api.web.i18n import locale, pick, t
from api.web.views import _db, login_required, procedure_label, user
from engine import privacy
from engine.errors import Invalid
from engine.records import service as records
from engine.sendback import service as sendback
from engine.tasks import service as tasks
from engine.tasks.models import HumanTask, TaskStatus
from engine.users import service as users

RECORDS_PER_PAGE = 20  # as the timeline and 已办环节: a page of a household's visits


# --- showing values -----------------------------------------------------------------------------------


def _text(value: Any, kind: str, choices: dict[str, str], fmt: display.Formatter) -> str:
    """One value as staff read it: 是/否, choice labels, money as ``6,000.00 元``, dates as ``2026年6月8日``
    (the staff pages' one formatter, :class:`api.web.display.Formatter`), never JSON or None."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return fmt.yes_no(value)
    if kind == "file":  # the uploaded files' ids: counted, as in the case summary (listed by name below)
        count = len(value) if isinstance(value, list) else 1
        return fmt.word(f"{count} 份材料", f"{count} file{'s' if count != 1 else ''}")
    if isinstance(value, list):
        return fmt.word("、", ", ").join(_text(v, kind, choices, fmt) for v in value) or "—"
    if isinstance(value, dict):
        return "；".join(f"{k}：{_text(v, 'unknown', {}, fmt)}" for k, v in value.items()) or "—"
    if kind == "money":
        return fmt.money(value)
    if kind == "date":
        return fmt.date(value)
    if kind == "datetime":
        return fmt.datetime(value)
    return choices.get(value, str(value)) if isinstance(value, str) else str(value)


def shown(field: records.Field, fmt: display.Formatter) -> dict[str, Any]:
    """A labelled field for a template: text, or a table (a table field's rows, columns labelled)."""
    if field.type == "table" and isinstance(field.value, list) and field.columns:
        return {
            "label": field.label,
            "table": {
                "headers": [c.label for c in field.columns],
                "rows": [
                    [
                        _text(row.get(c.name) if isinstance(row, dict) else None, c.type, c.choices, fmt)
                        for c in field.columns
                    ]
                    for row in field.value
                ],
            },
        }
    return {"label": field.label, "text": _text(field.value, field.type, field.choices, fmt)}


class _PageCache:
    """What the records of one page share: the formatter and each form version's title and fields."""

    def __init__(self) -> None:
        from api.web.common import _formatter

        self.fmt = _formatter()  # the request's (street codes read as names), as the side summary's
        self.titles: dict[tuple[str | None, int | None], str] = {}
        self.described: dict[tuple[str | None, int | None, str], list[dict[str, Any]]] = {}


def _form_name(record: records.StepRecord, cache: _PageCache) -> str:
    if not record.form_key:
        return "—"
    key = (record.form_key, record.form_version)
    if key not in cache.titles:
        from api.web import formview
        from engine.formversions import service as formversions

        form = formversions.form_at(_db(), record.form_key, record.form_version)
        title = formview.title_of(form, locale()) or record.form_key
        if record.form_version is None:
            cache.titles[key] = t("record_form_file", title=title)
        else:
            cache.titles[key] = t("record_form_version", title=title, version=record.form_version)
    return cache.titles[key]


def record_view(
    record: records.StepRecord, names: dict[int, str], cache: _PageCache | None = None
) -> dict[str, Any]:
    cache = cache or _PageCache()
    data = privacy.for_viewer(user(), record.data or {})
    found = records.fields(_db(), record, data, locale(), described_forms=cache.described)
    return {
        "record": record,
        "who": names.get(record.actor_id, "—") if record.actor_id else "—",
        "form": _form_name(record, cache),
        "fields": [_shown_of(record, f, cache) for f in found],
    }


def _shown_of(record: records.StepRecord, field: records.Field, cache: _PageCache) -> dict[str, Any]:
    """A field of a record as :func:`shown` writes it; a table as the side summary formats it (from the
    form version's own field), so a table both show is formatted once a page."""
    if field.type == "table" and isinstance(field.value, list) and field.columns and record.form_key:
        from api.web.common import _table
        from engine.formversions import service as formversions

        form = formversions.form_at(_db(), record.form_key, record.form_version)
        definition = form.field(field.name) if form is not None else None
        if definition is not None and definition.type == "table":
            return {"label": field.label, "table": _table(cache.fmt, definition, field.value)}
    return shown(field, cache.fmt)


# --- the case page's 办理记录 ----------------------------------------------------------------------------


def step_records_page(
    instance: Any, latest: list[tuple[Any, int]] | None = None
) -> tuple[list[Any], int, int]:
    """One page of the case's records (``records_page``), the page number and how many records there
    are. ``latest``: the case's :func:`records.latest_per_step`, if the page read it (its runs add up to
    the total)."""
    page = max(request.args.get("records_page", 1, type=int) or 1, 1)
    rows, total = records.of_instance(
        _db(),
        instance.id,
        page=page,
        per_page=RECORDS_PER_PAGE,
        with_actor=False,
        total=sum(n for _r, n in latest) if latest is not None else None,
    )
    return rows, page, total


@bp.app_template_global()
def step_records_view(
    instance: Any, read: tuple[list[Any], int, int] | None = None, names: dict[int, str] | None = None
) -> dict[str, Any]:
    """The case's records, one page of them, grouped by step; a loop's runs as one table. ``read``: the
    page's :func:`step_records_page`, if the page read it, and ``names`` its users' names."""
    rows, page, total = read if read is not None else step_records_page(instance)
    if names is None:
        names = users.display_names(_db(), [r.actor_id for r in rows])
    sections = []
    cache = _PageCache()
    for section in records.sections(rows):
        views = [record_view(r, names, cache) for r in section.records]
        headers: list[str] = []
        for v in views:
            for f in v["fields"]:
                if f["label"] not in headers:
                    headers.append(f["label"])
        table = [
            {
                "view": v,
                "cells": [
                    next((f for f in v["fields"] if f["label"] == h), {"label": h, "text": "—"})
                    for h in headers
                ],
            }
            for v in views
        ]
        sections.append({"section": section, "views": views, "headers": headers, "table": table})
    return {
        "sections": sections,
        "page": page,
        "pages": max(1, math.ceil(total / RECORDS_PER_PAGE)),
        "total": total,
    }


# --- send back ------------------------------------------------------------------------------------------


@bp.app_template_global()
def send_back_choices(task: HumanTask) -> list[tuple[str, str]]:
    """Where this open task may send the case back to, if the user may work on it now."""
    if task.state not in (TaskStatus.READY, TaskStatus.CLAIMED) or not tasks.may_work_on(_db(), user(), task):
        return []
    step_name = step_names()
    return [(b, step_name(n, None, task.process_key, b)) for b, n in sendback.allowed(_db(), task)]


@bp.post("/tasks/<int:task_id>/send-back")
@login_required
def send_back(task_id: int) -> Any:
    session = _db()
    try:
        reopened = sendback.send_back(
            session, user(), task_id, request.form.get("target", ""), request.form.get("reason", "")
        )
    except Invalid as err:
        session.rollback()
        messages = [pick(m) for ms in err.fields.values() for m in ms] or [pick(err.message)]
        flash("；".join(messages), "error")
        return redirect(url_for("web.task_page", task_id=task_id))
    flash(t("sent_back", name=reopened.name), "success")
    return redirect(url_for("web.case_page", instance_id=reopened.instance_id))


def prefill(row: HumanTask) -> dict[str, Any] | None:
    """A reopened (sent-back) task's form values: its last record, if no draft was saved since."""
    found = sendback.prefill(_db(), row)
    if found is not None:
        flash(t("sent_back_prefilled"), "info")
    return found


# --- the finished-task page -------------------------------------------------------------------------------


def done_page(row: HumanTask) -> Any:
    """A completed task, read-only, for everyone who may see its case (403 / 404 as for the case)."""
    from engine.instances import service as instances

    session = _db()
    instance = instances.get_visible(session, user(), row.instance_id)
    record = records.of_task(session, row.id)
    names = users.display_names(session, [record.actor_id if record else row.completed_by_id])
    return render_template(
        "task_done.html",
        task=row,
        instance=instance,
        case_name=procedure_label(
            row.process_key, tasks.cases_of(session, [row]).get(row.instance_id, (None, row.process_key))[1]
        ),
        view=record_view(record, names) if record else None,
        who=names.get(row.completed_by_id, "—") if row.completed_by_id else "—",
    )
