"""Admin page for user accounts: who the login guard is holding (failed logins in the window), lifting
a lockout, and deactivating or reactivating an account — each with a reason, audited by the engine
(engine/users/admin.py, the same service as the REST API's /api/v1/users)."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for

from api.extensions import db
from api.security import login_policy
from api.web import bp
from api.web.admin_processes import admin_required
from api.web.i18n import MESSAGES, pick, t
from api.web.views import user
from engine.errors import ServiceError
from engine.users import admin

# kept beside the page (not in the shared table) so that the texts travel with it
MESSAGES.update(
    {
        "admin_users": ("用户账号", "User accounts"),
        "users_help": (
            "登录失败次数按最近的锁定时段统计。解锁会清除该用户在所有地址的失败记录；停用会立即结束该用户的"
            "全部会话和 API 令牌，重新启用后旧的会话和令牌仍然无效。每项操作都需填写原因并记入审计日志。",
            "Failed logins count over the lockout window. Unlocking clears the user's failures from every "
            "address; deactivating ends every session and API token of the user at once, and they stay "
            "dead after a reactivation. Each action needs a reason and is audited.",
        ),
        "users_username": ("用户名", "Username"),
        "users_name": ("姓名", "Name"),
        "users_status": ("状态", "Status"),
        "users_active": ("启用", "Active"),
        "users_inactive": ("已停用", "Deactivated"),
        "users_failures": ("登录失败次数", "Failed logins"),
        "users_last_failure": ("最近失败", "Latest failure"),
        "users_locked": ("已锁定", "Locked out"),
        "users_actions": ("操作", "Actions"),
        "users_reason": ("原因", "Reason"),
        "users_unlock": ("解锁", "Unlock"),
        "users_deactivate": ("停用", "Deactivate"),
        "users_reactivate": ("重新启用", "Reactivate"),
        "users_unlocked": (
            "已解锁 {username}（清除 {count} 条失败记录）。",
            "Unlocked {username} ({count} failures cleared).",
        ),
        "users_deactivated": (
            "已停用 {username}，结束 {sessions} 个会话和 {tokens} 个令牌。",
            "Deactivated {username}: {sessions} session(s) and {tokens} token(s) ended.",
        ),
        "users_reactivated": ("已重新启用 {username}。", "Reactivated {username}."),
    }
)


@bp.get("/admin/users")
@admin_required
def admin_users() -> Any:
    rows = admin.accounts(db.session(), user(), login_policy())
    return render_template("admin_users.html", rows=rows)


def _failed(err: ServiceError) -> Any:
    db.session().rollback()
    problems = [pick(m) for ms in err.fields.values() for m in ms]
    flash(" ".join(problems) or pick(err.message), "error")
    return redirect(url_for("web.admin_users"))


@bp.post("/admin/users/<username>/unlock")
@admin_required
def admin_user_unlock(username: str) -> Any:
    try:
        cleared = admin.unlock(db.session(), user(), username, request.form.get("reason", ""))
    except ServiceError as err:
        return _failed(err)
    flash(t("users_unlocked", username=username, count=cleared), "success")
    return redirect(url_for("web.admin_users"))


@bp.post("/admin/users/<username>/active")
@admin_required
def admin_user_active(username: str) -> Any:
    active = request.form.get("active") == "1"
    try:
        ended = admin.set_active(db.session(), user(), username, active, request.form.get("reason", ""))
    except ServiceError as err:
        return _failed(err)
    if active:
        flash(t("users_reactivated", username=username), "success")
    else:
        flash(t("users_deactivated", username=username, **ended), "success")
    return redirect(url_for("web.admin_users"))
