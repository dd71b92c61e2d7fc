"""Staff pages for instance operations (admins; district heads within their district): the operations
panel of the case page and the batch migration page. Every action is a small form with a reason (CSRF
checked by the blueprint) calling the same engine services as the REST API."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from sqlalchemy import select

from api import jsonbody
from api.web import bp
from api.web.i18n import MESSAGES, pick, t
from api.web.views import _db, _editable_fields, _field_errors, login_required, user
from engine.errors import Conflict, Forbidden, Invalid, NotFound
from engine.instances import operations as ops
from engine.instances.models import InstanceStatus, ProcessInstance
from engine.tasks import service as tasks

MESSAGES.update(
    {
        "ops_panel": ("操作", "Operations"),
        "ops_reason": ("原因", "Reason"),
        "ops_suspend": ("挂起", "Suspend"),
        "ops_resume": ("恢复", "Resume"),
        "ops_terminate": ("终止", "Terminate"),
        "ops_move_back": ("回退到", "Move back to"),
        "ops_reassign": ("改派任务", "Reassign task"),
        "ops_reassign_to": ("接收人用户名", "To username"),
        "ops_edit_data": ("修改数据", "Edit data"),
        "ops_set": ("设置字段（JSON 对象）", "Set fields (JSON object)"),
        "ops_unset": ("删除字段（逗号分隔）", "Remove fields (comma-separated)"),
        "ops_field": ("要更正的项目", "Item to correct"),
        "ops_value": ("更正后的内容", "Corrected value"),
        "ops_migrate": ("迁移到版本", "Migrate to version"),
        "ops_dry_run": ("仅检查（不迁移）", "Check only (dry run)"),
        "ops_done": ("操作已完成", "Done"),
        "ops_status": ("状态", "Status"),
        "ops_version": ("版本", "Version"),
        "ops_batch_title": ("批量迁移流程实例", "Migrate instances in bulk"),
        "ops_from": ("原版本", "From version"),
        "ops_to": ("目标版本", "To version"),
        "ops_check": ("检查", "Check"),
        "ops_confirm": ("确认迁移可迁移的实例", "Migrate the instances that can move"),
        "ops_can": ("可以迁移", "Can move"),
        "ops_cannot": ("不能迁移", "Cannot move"),
        "ops_migrated": ("已迁移", "Migrated"),
        "ops_reasons": ("原因", "Reasons"),
        "ops_none": ("没有符合条件的流程实例", "No matching instances"),
        "ops_bad_json": ("设置字段必须是 JSON 对象", "Set fields must be a JSON object"),
        "ops_suspended": ("已挂起", "Suspended"),
    }
)
ACTIONS = ("suspend", "resume", "terminate", "move-back", "reassign", "data", "migrate")


@bp.app_context_processor
def _ops_globals() -> dict[str, Any]:
    return {"case_ops": case_ops, "suspended_among": suspended_among}


def suspended_among(views: list[dict[str, Any]]) -> set[int]:
    """The suspended instances among an inbox page's tasks, in one query (their rows are marked)."""
    ids = {v["task"].instance_id for v in views}
    if not ids:
        return set()
    stmt = select(ProcessInstance.id).where(
        ProcessInstance.id.in_(ids), ProcessInstance.status == InstanceStatus.SUSPENDED
    )
    return set(_db().scalars(stmt))


def case_ops(instance: ProcessInstance) -> dict[str, Any] | None:
    """What the case page's operations panel offers the current user (None: no panel)."""
    current = user()
    session = _db()
    if current is None or not ops.may_operate(session, current, instance):
        return None
    alive = instance.status in (InstanceStatus.RUNNING, InstanceStatus.SUSPENDED)
    versions = [
        d.version for d in ops.versions_of(session, instance.process_key) if d.id != instance.definition_id
    ]
    return {
        "alive": alive,
        "running": instance.status == InstanceStatus.RUNNING,
        "suspended": instance.status == InstanceStatus.SUSPENDED,
        "targets": ops.move_back_targets(session, instance)
        if instance.status == InstanceStatus.RUNNING
        else [],
        "open_tasks": tasks.open_tasks_of(session, instance.id) if alive else [],
        "versions": versions,
        "fields": [(name, f.label) for name, f in _editable_fields(instance).items()] if alive else [],
    }


def _int(value: str | None, field: str) -> int:
    try:
        return int(value or "")
    except ValueError as err:
        raise Invalid.on(field, "必须是整数 / must be an integer") from err


@bp.post("/cases/<int:instance_id>/operations/<string:action>")
@login_required
def case_operation(instance_id: int, action: str) -> Any:
    if action not in ACTIONS:
        raise NotFound(f"没有该操作 / no operation '{action}'")
    session, current, form = _db(), user(), request.form
    reason = form.get("reason", "")[:2000]
    instance = session.get(ProcessInstance, instance_id)
    if instance is None:
        raise NotFound(f"流程实例不存在 / process instance {instance_id} not found")
    if not ops.may_operate(session, current, instance):
        raise Forbidden(ops._REFUSED)
    try:
        message = t("ops_done")
        if action == "suspend":
            ops.suspend(session, current, instance_id, reason)
        elif action == "resume":
            ops.resume(session, current, instance_id, reason)
        elif action == "terminate":
            ops.terminate(session, current, instance_id, reason)
        elif action == "move-back":
            ops.move_back(session, current, instance_id, form.get("task_element_id", ""), reason)
        elif action == "reassign":
            ops.reassign(
                session, current, _int(form.get("task_id"), "task_id"), form.get("username", ""), reason
            )
        elif action == "data":
            raw = form.get("set", "").strip()
            try:
                values = jsonbody.loads(raw) if raw else {}
            except ValueError as err:
                raise Invalid.on("set", t("ops_bad_json")) from err
            fields = _editable_fields(instance)
            chosen = form.get("field", "")
            if chosen:  # the page's form: one labelled item and its corrected value
                if chosen not in fields:
                    raise Invalid.on("field", t("ops_field"))
                values = {chosen: fields[chosen].convert(form.get("value", "").strip())}
            unset = [k.strip() for k in form.get("unset", "").split(",") if k.strip()]
            ops.edit_data(session, current, instance_id, values, unset, reason)
        else:
            result = ops.migrate(
                session,
                current,
                instance_id,
                _int(form.get("target_version"), "target_version"),
                reason,
                dry_run=bool(form.get("dry_run")),
            )
            if not result["migrated"]:
                message = (
                    t("ops_can")
                    if result["can_migrate"]
                    else f"{t('ops_cannot')}：" + "；".join(pick(r) for r in result["reasons"])
                )
    except (Invalid, Conflict) as err:
        session.rollback()
        errors = _field_errors(err) if isinstance(err, Invalid) else {"_": [pick(err.message)]}
        flash("；".join(m for ms in errors.values() for m in ms), "error")
    else:
        flash(message, "success")
    return redirect(url_for("web.case_page", instance_id=instance_id))


@bp.route("/admin/instances/migrate", methods=["GET", "POST"])
@login_required
def batch_migrate() -> Any:
    """The dry-run table of one version's running instances, then a confirm button that migrates them."""
    session, current = _db(), user()
    if not ops.may_operate_somewhere(current):
        raise Forbidden(ops._REFUSED)
    source = request.form if request.method == "POST" else request.args
    key = source.get("key", "").strip()[:100]
    keys = sorted({d.key for d, _n in _latest(session)})
    from_v, to_v = source.get("from", "").strip(), source.get("to", "").strip()
    results: list[dict[str, Any]] | None = None
    versions = [d.version for d in ops.versions_of(session, key)] if key else []
    status = 200
    if key and from_v:
        try:
            from_version = _int(from_v, "from_version")
            to_version = _int(to_v, "to_version") if to_v else (max(versions) if versions else 0)
            to_v = str(to_version)
            execute = request.method == "POST"
            results = ops.migrate_batch(
                session,
                current,
                key,
                from_version,
                to_version,
                source.get("reason", "")[:2000],
                dry_run=not execute,
            )
            if execute:
                flash(t("ops_done"), "success")
        except Invalid as err:
            session.rollback()
            flash("；".join(m for ms in _field_errors(err).values() for m in ms), "error")
            status = 422
    return render_template(
        "admin_migrate.html",
        key=key,
        keys=keys,
        versions=versions,
        from_v=from_v,
        to_v=to_v,
        results=results,
        can_any=any(r["can_migrate"] and not r["migrated"] for r in results or []),
    ), status


def _latest(session: Any) -> list[Any]:
    from engine.definitions import service as definitions

    return definitions.list_latest(session)
