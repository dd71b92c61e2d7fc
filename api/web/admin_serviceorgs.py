"""Admin page for service organisations 服务机构 and their member users: register an organisation, add or
remove members (each change audited by the engine, engine/serviceorgs, the same service as the REST API's
/api/v1/service-organisations). A 3A referral lands only in the matched organisation's members' inboxes."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for

from api.extensions import db
from api.web import bp
from api.web.admin_processes import admin_required
from api.web.i18n import MESSAGES, pick, t
from api.web.views import user
from engine.errors import ServiceError
from engine.orgs import service as orgs
from engine.orgs.models import OrgLevel
from engine.serviceorgs import service as serviceorgs

MESSAGES.update(
    {
        "admin_service_orgs": ("服务机构", "Service organisations"),
        "service_orgs_help": (
            "浦东“3A”服务救助的匹配步骤从名录中选择承接机构（只列出服务本区、正在使用且有成员用户的机构）；转介确认和提供服务两步只进入该机构成员用户的待办，"
            "其他机构的用户即使持有社工机构角色也不能接收。停用的机构不能再匹配新的个案，已转介的任务仍由其成员办理完毕。登记、修改、停用和增减成员都记入审计日志。",
            "The 3A matching step picks the organisation from this register (those serving the case's district, in use and with member users); the referral and the service steps then "
            "go to that organisation's member users only: users of other agencies cannot accept them, "
            "whatever agency role they hold. A deactivated organisation cannot be matched with a new case; the referrals it has stay with its members to finish. Registering, changing, deactivating and membership changes are audited.",
        ),
        "service_org_code": ("机构编码", "Code"),
        "service_org_name": ("机构名称", "Name"),
        "service_org_district": ("服务区域", "Serves"),
        "service_org_anywhere": ("不限", "Anywhere"),
        "service_org_members": ("成员用户", "Member users"),
        "service_org_no_members": ("尚无成员（无法接收转介）", "No members yet (cannot take referrals)"),
        "service_org_new": ("登记服务机构", "Register an organisation"),
        "service_org_create": ("登记", "Register"),
        "service_org_username": ("用户名", "Username"),
        "service_org_reason": ("原因（可选）", "Reason (optional)"),
        "service_org_add": ("添加成员", "Add member"),
        "service_org_remove": ("移除", "Remove"),
        "service_org_created": ("已登记服务机构 {code}。", "Registered {code}."),
        "service_org_added": ("已将 {username} 添加为 {code} 的成员。", "Added {username} to {code}."),
        "service_org_removed": ("已将 {username} 移出 {code}。", "Removed {username} from {code}."),
        "service_org_status": ("状态", "Status"),
        "service_org_active": ("使用中", "In use"),
        "service_org_inactive": ("已停用", "Deactivated"),
        "service_org_open_work": (
            "{count} 项进行中的转介任务仍由成员办理完毕；新的个案不能匹配本机构。",
            "{count} open referral task(s) stay with its members to finish; no new case can be matched with it.",
        ),
        "service_org_no_new_matches": ("新的个案不能匹配本机构。", "No new case can be matched with it."),
        "service_org_edit": ("修改名称或服务区域", "Change the name or district"),
        "service_org_save": ("保存", "Save"),
        "service_org_deactivate": ("停用", "Deactivate"),
        "service_org_reactivate": ("恢复使用", "Reactivate"),
        "service_org_deactivate_reason": ("停用原因（必填）", "Why it is deactivated (required)"),
        "service_org_updated": ("已修改服务机构 {code}。", "Updated {code}."),
        "service_org_deactivated": ("已停用服务机构 {code}。", "Deactivated {code}."),
        "service_org_reactivated": ("已恢复服务机构 {code}。", "Reactivated {code}."),
        "service_org_unchanged": ("没有需要保存的修改。", "Nothing was changed."),
    }
)


def _back() -> Any:
    return redirect(url_for("web.admin_service_orgs"))


def _failed(err: ServiceError) -> Any:
    db.session().rollback()
    problems = [pick(m) for ms in err.fields.values() for m in ms]
    flash(" ".join(problems) or pick(err.message), "error")
    return _back()


@bp.get("/admin/service-orgs")
@admin_required
def admin_service_orgs() -> Any:
    session = db.session()
    return render_template(
        "admin_service_orgs.html",
        rows=serviceorgs.list_all(session),
        districts=orgs.list_units(session, level=OrgLevel.DISTRICT),
        open_work=serviceorgs.open_referrals(session),
    )


@bp.post("/admin/service-orgs")
@admin_required
def admin_service_org_create() -> Any:
    code = request.form.get("code", "").strip()
    try:
        serviceorgs.create(
            db.session(),
            code=code,
            name=request.form.get("name", ""),
            district_code=request.form.get("district") or None,
            actor_id=user().id,
        )
    except ServiceError as err:
        return _failed(err)
    flash(t("service_org_created", code=code), "success")
    return _back()


@bp.post("/admin/service-orgs/<code>/members")
@admin_required
def admin_service_org_add(code: str) -> Any:
    username = request.form.get("username", "").strip()
    try:
        serviceorgs.add_member(
            db.session(), code, username, actor_id=user().id, reason=request.form.get("reason", "")
        )
    except ServiceError as err:
        return _failed(err)
    flash(t("service_org_added", username=username, code=code), "success")
    return _back()


@bp.post("/admin/service-orgs/<code>/members/<username>/remove")
@admin_required
def admin_service_org_remove(code: str, username: str) -> Any:
    try:
        serviceorgs.remove_member(
            db.session(), code, username, actor_id=user().id, reason=request.form.get("reason", "")
        )
    except ServiceError as err:
        return _failed(err)
    flash(t("service_org_removed", username=username, code=code), "success")
    return _back()


@bp.post("/admin/service-orgs/<code>")
@admin_required
def admin_service_org_update(code: str) -> Any:
    try:
        _organisation, changed = serviceorgs.update(
            db.session(),
            code,
            name=request.form.get("name", ""),
            district_code=request.form.get("district") or None,
            actor_id=user().id,
        )
    except ServiceError as err:
        return _failed(err)
    flash(t("service_org_updated" if changed else "service_org_unchanged", code=code), "success")
    return _back()


@bp.post("/admin/service-orgs/<code>/active")
@admin_required
def admin_service_org_active(code: str) -> Any:
    active = request.form.get("active") == "1"
    try:
        serviceorgs.update(
            db.session(), code, active=active, reason=request.form.get("reason", ""), actor_id=user().id
        )
    except ServiceError as err:
        return _failed(err)
    flash(t("service_org_reactivated" if active else "service_org_deactivated", code=code), "success")
    return _back()
