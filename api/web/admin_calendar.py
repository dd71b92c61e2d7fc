"""Admin page for the holiday calendar: the years entered, a year's holidays and adjusted working days
(调休) entered when the State Council publishes them, the warning for a missing year, and the explicit,
audited re-computation of open deadlines (a dry-run count first)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import flash, redirect, render_template, request, url_for

from api.extensions import db
from api.web import bp
from api.web.admin_processes import admin_required
from api.web.i18n import MESSAGES, pick, t
from api.web.views import user
from engine.db import utcnow
from engine.deadlines import calendar, holidays
from engine.errors import Invalid

# kept beside the page (not in the shared table) so that the texts travel with it
MESSAGES.update(
    {
        "admin_calendar": ("节假日日历", "Holiday calendar"),
        "calendar_missing": (
            "尚未录入 {years} 年的节假日和调休安排：相关期限暂按周一至周五计算，元旦、春节等假期将被当作工作日。"
            "请在国务院办公厅公布后由系统管理员录入。",
            "The holidays and adjusted working days of {years} are not entered: deadlines count Monday to "
            "Friday, so New Year's Day and the Spring Festival count as working days. An admin enters them "
            "once the State Council publishes them.",
        ),
        "calendar_enter_link": ("录入节假日", "Enter the holidays"),
        "calendar_year": ("年份", "Year"),
        "calendar_years": ("已录入年份", "Years entered"),
        "calendar_source_library": ("初始导入（chinesecalendar）", "Seeded (chinesecalendar)"),
        "calendar_source_admin": ("管理员录入", "Entered by an admin"),
        "calendar_not_entered": ("未录入", "Not entered"),
        "calendar_library_fallback": (
            "未录入，按 chinesecalendar 库计算",
            "Not entered; the chinesecalendar package applies",
        ),
        "calendar_weekdays_fallback": ("未录入，按周一至周五计算", "Not entered; Monday to Friday apply"),
        "calendar_date": ("日期", "Date"),
        "calendar_kind": ("类型", "Kind"),
        "calendar_name": ("名称", "Name"),
        "calendar_kind_holiday": ("放假", "Holiday"),
        "calendar_kind_workday": ("调休上班", "Adjusted working day"),
        "calendar_holidays_field": (
            "放假日期（每行一个：日期 名称，如 2027-01-01 元旦）",
            "Holidays (one a line: date name)",
        ),
        "calendar_workdays_field": (
            "调休上班日期（每行一个：日期 名称）",
            "Adjusted working days (one a line: date name)",
        ),
        "calendar_save": ("保存该年安排", "Save the year"),
        "calendar_saved": (
            "已保存 {year} 年的节假日安排；已设定的期限未改变。",
            "Saved {year}; deadlines already set did not move.",
        ),
        "calendar_invalid": ("节假日数据有误：", "The holiday data has problems:"),
        "calendar_recompute": ("重新计算未办结任务的期限", "Recompute open deadlines"),
        "calendar_recompute_help": (
            "日历修改后，已设定的期限不会自动改变。可先试算受影响的任务数，再填写原因后执行（记入审计日志）。",
            "A calendar change does not move deadlines already set. Count the tasks affected first, then "
            "apply with a reason (audited).",
        ),
        "calendar_dry_run": ("试算", "Dry run"),
        "calendar_apply": ("执行重新计算", "Apply"),
        "calendar_reason": ("原因", "Reason"),
        "calendar_dry_run_result": (
            "按当前日历，{count} 个未办结任务的期限将改变。",
            "{count} open task(s) would get a new deadline.",
        ),
        "calendar_applied": (
            "已重新计算 {count} 个任务的期限。",
            "Recomputed the deadline of {count} task(s).",
        ),
    }
)

_KIND_LABEL = {"holiday": "calendar_kind_holiday", "workday": "calendar_kind_workday"}


def _lines(text: str, kind: str, field: str, errors: dict[str, list[str]]) -> list[dict[str, Any]]:
    days = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        head, _sep, name = line.partition(" ")
        try:
            day = dt.date.fromisoformat(head.strip())
        except ValueError:
            errors.setdefault(f"{field}.{number}", []).append(f"日期无效：{head} / not a valid date: {head}")
            continue
        days.append({"date": day, "kind": kind, "name": name.strip()})
    return days


def _default_year() -> int:
    missing = holidays.missing_years(db.session(), utcnow())
    return missing[0] if missing else calendar.local_day(utcnow()).year


def _page(
    year: int,
    *,
    problems: list[tuple[str, str]] | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Any:
    session = db.session()
    view = holidays.get_year(session, year)
    if form is None:
        form = {
            kind: "\n".join(
                f"{d['date'].isoformat()} {d['name']}".strip() for d in view.days if d["kind"] == kind
            )
            for kind in ("holiday", "workday")
        }
    return render_template(
        "admin_calendar.html",
        view=view,
        years=holidays.entered_years(session),
        missing=holidays.missing_years(session, utcnow()),
        kind_label=_KIND_LABEL,
        problems=problems or [],
        form=form,
    ), status


@bp.get("/admin/calendar")
@admin_required
def admin_calendar() -> Any:
    year = request.args.get("year", type=int) or _default_year()
    try:
        return _page(year)
    except Invalid as err:
        return _page(
            _default_year(), problems=[(k, pick(m)) for k, ms in err.fields.items() for m in ms], status=422
        )


@bp.post("/admin/calendar/<int:year>")
@admin_required
def admin_calendar_save(year: int) -> Any:
    form = {"holiday": request.form.get("holidays", ""), "workday": request.form.get("workdays", "")}
    errors: dict[str, list[str]] = {}
    days = _lines(form["holiday"], "holiday", "holidays", errors) + _lines(
        form["workday"], "workday", "workdays", errors
    )
    try:
        if errors:
            raise Invalid("节假日数据有误 / invalid holiday data", errors)
        holidays.put_year(db.session(), user(), year, days)
    except Invalid as err:
        db.session().rollback()
        problems = [(path, pick(m)) for path, messages in err.fields.items() for m in messages]
        return _page(year, problems=problems, form=form, status=422)
    flash(t("calendar_saved", year=year), "success")
    return redirect(url_for("web.admin_calendar", year=year))


@bp.post("/admin/calendar/recompute")
@admin_required
def admin_calendar_recompute() -> Any:
    year = request.form.get("year", type=int) or _default_year()
    apply = request.form.get("apply") == "1"
    try:
        changes = holidays.recompute(
            db.session(), user(), dry_run=not apply, reason=request.form.get("reason", "")
        )
    except Invalid as err:
        db.session().rollback()
        flash(pick(err.message), "error")
        return redirect(url_for("web.admin_calendar", year=year))
    key = "calendar_applied" if apply else "calendar_dry_run_result"
    flash(t(key, count=len(changes)), "success")
    return redirect(url_for("web.admin_calendar", year=year))
