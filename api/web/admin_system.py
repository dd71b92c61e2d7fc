"""Admin page 系统状态 (issue 20): scheduler processes and their last heartbeat, due wake-ups not yet
handled and the oldest one's wait, open incidents with retry and skip (both audited), the e-mail outbox,
the audit seal lag, the holiday calendar's coverage, and the versions running."""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for

from api.extensions import db
from api.web import bp
from api.web.admin_processes import admin_required
from api.web.i18n import MESSAGES, locale, t
from api.web.incidents import EVENT_NAMES
from api.web.views import user
from engine.db import utcnow
from engine.errors import Conflict, Invalid
from engine.incidents import rerun, skip
from engine.incidents import service as incidents
from engine.incidents.service import IncidentOpened
from engine.system import health, status

MESSAGES.update(
    {
        "admin_system": ("系统状态", "System status"),
        "system_schedulers": ("调度进程", "Scheduler processes"),
        "system_host": ("主机", "Host"),
        "system_pid": ("进程号", "Process"),
        "system_started": ("启动时间", "Started"),
        "system_last_beat": ("最近心跳", "Last heartbeat"),
        "system_state": ("状态", "State"),
        "system_last_job": ("最近完成的作业", "Last job done"),
        "system_jobs_run": ("已运行作业数", "Jobs run"),
        "system_alive": ("运行中", "Running"),
        "system_stopped": ("已正常停止", "Stopped"),
        "system_silent": ("无响应（超过 1 分钟无心跳）", "Silent (no heartbeat for over a minute)"),
        "system_no_scheduler": (
            "没有运行中的调度进程：计时器、期限提醒和邮件都不会处理。",
            "No scheduler is running: timers, deadline reminders and e-mails are not handled.",
        ),
        "system_due": ("到期未处理", "Due, not yet handled"),
        "system_due_count": ("到期未处理的案件：{count} 件", "Cases due and not yet handled: {count}"),
        "system_due_oldest": ("最早一件已等待 {wait}", "The oldest has waited {wait}"),
        "system_incidents": ("未处理的事件（失败的自动步骤）", "Open incidents (failed automatic steps)"),
        "system_case": ("案件", "Case"),
        "system_origin": ("来源", "Origin"),
        "system_skip": ("跳过该步骤", "Skip the step"),
        "system_skip_reason": ("跳过理由", "Reason for skipping"),
        "system_skipped": ("已跳过该步骤，流程继续", "Skipped: the case moved on"),
        "system_skip_help": (
            "跳过：不再执行该脚本或服务步骤，直接视为完成（仅限脚本和服务步骤，须填写理由，记入审计日志）。",
            "Skip: the script or service step is marked done without running (script and service steps "
            "only; a reason is required and audited).",
        ),
        "system_outbox": ("邮件发送队列", "E-mail outbox"),
        "system_outbox_pending": ("待发送：{count} 封", "Waiting: {count}"),
        "system_outbox_failed": ("多次发送失败：{count} 封", "Failed after retries: {count}"),
        "system_seal": ("审计日志封存", "Audit log sealing"),
        "system_seal_pending": ("待封存的审计记录：{count} 条", "Audit events not yet sealed: {count}"),
        "system_seal_lag": ("最早一条已等待 {wait}", "The oldest has waited {wait}"),
        "system_calendar": ("节假日日历", "Holiday calendar"),
        "system_calendar_until": (
            "节假日数据覆盖至 {date}（自今日起 {days} 天）",
            "Holiday data cover until {date} ({days} days from today)",
        ),
        "system_calendar_short": (
            "不足 30 天：请尽快录入下一年的节假日安排。",
            "Less than 30 days: enter next year's holidays soon.",
        ),
        "system_calendar_none": ("今年的节假日数据缺失", "This year's holidays are missing"),
        "system_versions": ("版本", "Versions"),
        "system_version_app": ("assistflow 版本", "assistflow version"),
        "system_version_engine": ("流程引擎 SpiffWorkflow", "Workflow engine SpiffWorkflow"),
        "system_version_python": ("Python 版本", "Python version"),
        "system_version_database": ("数据库", "Database"),
        "system_version_schema": ("数据库结构版本", "Database schema revision"),
        "system_ready": ("就绪检查", "Readiness"),
        "system_check_database": ("数据库连接", "Database connection"),
        "system_check_migrations": ("数据库结构为最新", "Database schema up to date"),
        "system_check_keys": ("加密和审计密钥已加载", "Encryption and audit keys loaded"),
        "system_check_holiday_calendar": ("节假日日历覆盖未来 30 天", "Holiday calendar covers 30 days"),
        "system_ok": ("正常", "OK"),
        "system_failed": ("异常", "Failing"),
        "system_none": ("无", "None"),
        "job_wakeups": ("处理到期计时器和期限", "Due timers and deadlines"),
        "job_audit_seal": ("封存审计记录", "Sealing audit events"),
        "job_audit_checkpoint": ("审计检查点", "Audit checkpoint"),
        "job_mail": ("发送邮件", "Sending e-mail"),
        "job_heartbeat": ("心跳", "Heartbeat"),
        "origin_task": ("办理任务后", "After a task"),
        "origin_timer": ("计时器", "Timer"),
        "origin_schedule": ("定时启动", "Scheduled start"),
        "origin_retry": ("重试", "Retry"),
        "origin_start": ("启动案件", "Case start"),
        "wait_seconds": ("{n} 秒", "{n} s"),
        "wait_minutes": ("{n} 分钟", "{n} min"),
        "wait_hours": ("{n} 小时", "{n} h"),
        "wait_days": ("{n} 天", "{n} days"),
    }
)
EVENT_NAMES.update({"incident.skipped": ("跳过失败的自动步骤", "Failed automatic step skipped")})


def wait_text(seconds: float) -> str:
    n = int(seconds)
    if n < 120:
        return t("wait_seconds", n=n)
    if n < 7200:
        return t("wait_minutes", n=n // 60)
    if n < 172800:
        return t("wait_hours", n=n // 3600)
    return t("wait_days", n=n // 86400)


def date_text(day: Any) -> str:
    if day is None:
        return ""
    return f"{day:%d %b %Y}".lstrip("0") if locale() == "en" else f"{day.year}年{day.month}月{day.day}日"


def _label(prefix: str, key: str | None) -> str:
    name = f"{prefix}_{key}"
    return t(name) if key and name in MESSAGES else (key or t("system_none"))


@bp.get("/admin/system")
@admin_required
def admin_system() -> Any:
    session = db.session()
    now = utcnow()
    rows, _total = incidents.list_incidents(session, user(), status="open", per_page=100)
    heads = current_app.extensions["assistflow_migration_heads"]
    return render_template(
        "admin_system.html",
        figures=status.figures(session, now),
        schedulers=status.scheduler_rows(session, now),
        incidents=rows,
        versions=status.versions(session),
        checks=health.ready(db.engine, heads, now),
        wait_text=wait_text,
        date_text=date_text,
        label=_label,
    )


@bp.post("/admin/system/incidents/<int:incident_id>/retry")
@admin_required
def admin_system_retry(incident_id: int) -> Any:
    try:
        rerun.retry(db.session(), user(), incident_id)
    except IncidentOpened:
        flash(t("incident_failed_again"), "error")  # the attempt is committed with its audit event
    else:
        flash(t("incident_resolved"), "success")
    return redirect(url_for("web.admin_system"))


@bp.post("/admin/system/incidents/<int:incident_id>/skip")
@admin_required
def admin_system_skip(incident_id: int) -> Any:
    try:
        skip.skip(db.session(), user(), incident_id, request.form.get("reason", ""))
    except (Invalid, Conflict) as err:
        db.session.rollback()
        flash(err.message, "error")
    else:
        flash(t("system_skipped"), "success")
    return redirect(url_for("web.admin_system"))
