"""Admin pages for the yearly policy parameters: the procedures with parameters, a procedure's versions
(which one is in force today) and a form adding the next version with its effective date (audited;
running cases keep the set they started with)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask import flash, redirect, render_template, request, url_for

from api.extensions import db
from api.web import bp, display
from api.web.admin_processes import admin_required
from api.web.case_page import procedure_name
from api.web.i18n import MESSAGES, locale, pick, t
from api.web.views import user
from engine import formstore
from engine.db import utcnow
from engine.deadlines import calendar
from engine.definitions import service as definitions
from engine.errors import Invalid, NotFound
from engine.policy import service as policy

MESSAGES.update(
    {
        "admin_policy": ("政策参数", "Policy parameters"),
        "policy_help": (
            "每项流程的政策数字（上限、人数、金额起点）按版本保存，自生效日期起用于新发起的案件；已在办的案件沿用其发起时的参数。",
            "Each procedure's policy numbers (caps, counts, thresholds) are kept as versions: from its "
            "effective date a version applies to new cases; running cases keep the set they started with.",
        ),
        "policy_procedure": ("流程", "Procedure"),
        "policy_versions": ("版本数", "Versions"),
        "policy_version": ("版本", "Version"),
        "policy_effective": ("生效日期", "Effective from"),
        "policy_in_force": ("今日适用", "In force today"),
        "policy_note": ("说明（如通知文号）", "Note (e.g. the notice)"),
        "policy_parameter": ("参数", "Parameter"),
        "policy_value": ("值", "Value"),
        "policy_new": ("新增版本", "Add a version"),
        "policy_save": ("保存新版本", "Save the new version"),
        "policy_saved": (
            "已保存 {key} 的参数第 {version} 版。",
            "Saved version {version} of {key}'s parameters.",
        ),
        "policy_invalid": ("参数有误：", "The parameters have problems:"),
    }
)


def _label(labels: dict[str, str], name: str) -> str:
    return pick(labels.get(name) or name)


def procedure_names(session: Any) -> dict[str, str]:
    """Each procedure's name in the user's language, by key (the admin pages show names, keys beside)."""
    return {d.key: procedure_name(d) for d, _n in definitions.list_latest(session)}


_SPAN = re.compile(r"^(\d+) (hour|day|working day)s?$")
_SPAN_WORDS = {"hour": ("小时", "hour"), "day": ("天", "day"), "working day": ("个工作日", "working day")}
_CODES = re.compile(r"^[a-z][a-z0-9_]*(,[a-z][a-z0-9_]*)*$")


def _choice_labels(fmt: display.Formatter) -> dict[str, str]:
    """Every form's choice value → its label (a parameter listing codes, e.g. the responders, reads them)."""
    out: dict[str, str] = {}
    for form in formstore.all_forms().values():
        for f in form.fields:
            for c in f.choices:
                out.setdefault(str(c.value), fmt.choice_label(c.label))
    return out


def _shown(labels: dict[str, str], name: str, value: Any) -> str:
    """A parameter as staff read it: amounts (labelled 元 / CNY) as money, numbers as numbers, periods in
    words (``P30D`` → 30天, ``2 hours`` → 2 小时), codes by their labels."""
    if value is None or value == "":
        return "—"
    fmt = display.Formatter("en" if locale() == "en" else "zh")
    if isinstance(value, str):
        span = _SPAN.match(value.strip())
        if span:
            n, (zh, en) = int(span.group(1)), _SPAN_WORDS[span.group(2)]
            return fmt.word(f"{n} {zh}", f"{n} {en}{'s' if n != 1 else ''}")
        if value.startswith("P") and fmt.duration(value) != value:
            return fmt.duration(value)
        if _CODES.match(value):
            choices = _choice_labels(fmt)
            return fmt.word("、", ", ").join(choices.get(code, code) for code in value.split(","))
        return value
    label = labels.get(name) or ""
    money = "（元）" in label or "(CNY)" in label
    return fmt.money(value) if money else fmt.number(value)


def _page(
    key: str,
    *,
    problems: list[tuple[str, str]] | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Any:
    session = db.session()
    rows = policy.versions(session, key)
    if not rows:
        raise NotFound(f"该流程没有政策参数 / procedure '{key}' has no policy parameters")
    today = calendar.local_day(utcnow())
    current = policy.in_force(session, key, today)
    latest = rows[0]
    names = list(latest.values)
    if form is None:
        form = {name: str(latest.values[name]) for name in names}
        form["effective_from"] = dt.date(today.year + 1, 1, 1).isoformat()
        form["note"] = ""
    return render_template(
        "admin_policy.html",
        key=key,
        name=procedure_names(session).get(key, key),
        rows=rows,
        shown={row.id: {n: _shown(latest.labels, n, row.values.get(n)) for n in names} for row in rows},
        names=names,
        labels={name: _label(latest.labels, name) for name in names},
        current=current,
        problems=problems or [],
        form=form,
    ), status


@bp.get("/admin/policy")
@admin_required
def admin_policy_list() -> Any:
    session = db.session()
    return render_template(
        "admin_policy_list.html", procedures=policy.procedures(session), names=procedure_names(session)
    )


@bp.get("/admin/policy/<key>")
@admin_required
def admin_policy(key: str) -> Any:
    return _page(key)


@bp.post("/admin/policy/<key>")
@admin_required
def admin_policy_save(key: str) -> Any:
    session = db.session()
    rows = policy.versions(session, key)
    if not rows:
        raise NotFound(f"该流程没有政策参数 / procedure '{key}' has no policy parameters")
    names = list(rows[0].values)
    form = {name: request.form.get(f"value_{name}", "").strip() for name in names}
    form["effective_from"] = request.form.get("effective_from", "").strip()
    form["note"] = request.form.get("note", "")
    try:
        try:
            effective = dt.date.fromisoformat(form["effective_from"])
        except ValueError as err:
            raise Invalid.on("effective_from", "生效日期无效 / the effective date is not a date") from err
        saved = policy.save(
            session,
            key,
            effective_from=effective,
            values={name: form[name] for name in names},
            note=form["note"],
            actor_id=user().id,
        )
    except Invalid as err:
        session.rollback()
        problems = [(path, pick(m)) for path, messages in err.fields.items() for m in messages]
        return _page(key, problems=problems, form=form, status=422)
    flash(t("policy_saved", key=key, version=saved.version), "success")
    return redirect(url_for("web.admin_policy", key=key))
