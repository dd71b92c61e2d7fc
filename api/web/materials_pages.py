"""Materials on the staff pages: the step's checklist with a drop zone (camera capture on phones),
uploads streamed like the API's, removal while the step is open, and the files themselves — preview
(images, PDF) and download by id, audited, for everyone who may see the case."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, render_template, request, url_for
from flask_wtf.csrf import CSRFError, validate_csrf
from sqlalchemy import select
from wtforms import ValidationError

from api.attachments import streaming
from api.attachments.routes import file_response
from api.web import bp
from api.web.common import _db, _field_errors, login_required, user
from api.web.i18n import MESSAGES, pick
from engine import privacy
from engine.attachments import materials
from engine.attachments import service as attachments
from engine.attachments.models import Attachment
from engine.documents import service as documents
from engine.errors import Invalid, ServiceError
from engine.tasks import service as tasks
from engine.tasks.models import OPEN_STATUSES, HumanTask

MESSAGES.update(
    {
        "mat_title": ("材料清单", "Materials"),
        "started_add_materials": (
            "已创建案件 {key}：请上传所需材料后提交",
            "Case {key} opened: upload the required materials, then submit",
        ),
        "mat_required": ("必需", "required"),
        "mat_optional": ("可选", "optional"),
        "mat_done": ("已上传", "uploaded"),
        "mat_missing": ("尚未上传", "not uploaded yet"),
        "mat_uploaded": ("已上传", "uploaded"),
        "mat_remove": ("移除", "Remove"),
        "mat_choose": ("选择文件", "Choose files"),
        "mat_photo": ("拍照", "Take a photo"),
        "mat_drop": (
            "或将文件拖到此处（单个文件不超过 {size} MB）",
            "or drop files here (at most {size} MB each)",
        ),
        "mat_case": ("案件材料", "Case materials"),
        "mat_none": ("尚无材料", "No materials yet"),
        "mat_preview": ("预览", "Preview"),
        "mat_download": ("下载", "Download"),
        "mat_personal": (
            "含身份证件，仅核实身份的岗位可查看",
            "Identity documents: only roles that verify identity",
        ),
        "mat_step": ("步骤", "Step"),
        "mat_file": ("文件", "File"),
        "mat_uploaded_by": ("上传人", "Uploaded by"),
    }
)

ACCEPT = {"image": "image/*", "pdf": "application/pdf", "office": ".doc,.docx,.xls,.xlsx,.ppt,.pptx"}


def checklist_context(row: Any) -> dict[str, Any]:
    session = _db()
    items = materials.of_task(session, row, tasks.current_data(session, row))
    may_work = row.state in OPEN_STATUSES and tasks.may_work_on(session, user(), row)
    return {
        "task": row,
        "items": items,
        "may_upload": may_work,
        "accept": {i.field.name: ",".join(ACCEPT[k] for k in i.field.kinds) for i in items},
        "locale_label": lambda item: item.label("en" if pick("中 / en") == "en" else "zh"),
    }


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{max(n // 1024, 1)} KB"


bp.add_app_template_filter(_size, "filesize")


@bp.post("/tasks/<int:task_id>/attachments")
@login_required
def upload_material(task_id: int) -> Any:
    """One file from the drop zone (multipart, streamed); answers the refreshed checklist."""
    try:
        validate_csrf(request.headers.get("X-CSRFToken"))
    except ValidationError as err:
        raise CSRFError(str(err)) from None
    session = _db()
    row = tasks.get_visible(session, user(), task_id)
    error: str | None = None
    status = 201
    try:
        request.max_content_length = current_app.config["FILES_MAX_BODY"]
        fields, filename, chunks = streaming.parse(request.stream, request.headers.get("Content-Type"))
        attachments.upload(
            session, user(), task_id, request.args.get("field") or fields.get("field"), filename, chunks
        )
    except ServiceError as err:
        session.rollback()
        row = tasks.get_visible(session, user(), task_id)
        messages = _field_errors(err) if isinstance(err, Invalid) else {"_form": [pick(err.message)]}
        error = "；".join(m for ms in messages.values() for m in ms)
        status = 422 if isinstance(err, Invalid) else 409
        if getattr(err, "code", "") == "payload_too_large":
            status = 413
        elif err.code in ("forbidden", "not_found"):
            raise
    return render_template("_materials.html", error=error, errors={}, **checklist_context(row)), status


@bp.post("/attachments/<int:attachment_id>/remove")
@login_required
def remove_material(attachment_id: int) -> Any:
    session = _db()
    found = attachments.remove(session, user(), attachment_id)
    row = tasks.get_visible(session, user(), found.task_id) if found.task_id else None
    if request.headers.get("HX-Request") and row is not None:
        return render_template("_materials.html", error=None, errors={}, **checklist_context(row))
    from flask import redirect

    return redirect(url_for("web.task_page", task_id=found.task_id))


@bp.get("/attachments/<int:attachment_id>/file")
@login_required
def material_file(attachment_id: int) -> Response:
    """The file, audited (``attachment.downloaded``); ``?inline=1`` shows it in the browser (preview)."""
    row, body = attachments.download(_db(), user(), attachment_id, channel="web")
    response = file_response(row, body, inline=request.args.get("inline") == "1")
    if request.args.get("inline") == "1":  # the case page shows a PDF in a frame of its own
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
        response.headers["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'self'" + (
            "" if row.kind == "pdf" else "; sandbox"
        )
    return response


@bp.get("/attachments/<int:attachment_id>/thumb")
@login_required
def material_thumb(attachment_id: int) -> Response:
    return Response(attachments.thumbnail(_db(), user(), attachment_id), mimetype="image/jpeg")


def case_materials(session: Any, instance: Any) -> list[dict[str, Any]]:
    """The case's materials for its page: each file with whether this user may open it."""
    out = []
    revealing: list[bool] = []  # whether the user may open personal documents: asked once, if needed
    found = attachments.of_instance(session, instance.id)
    task_ids = sorted({a.task_id for a in found if a.task_id})
    # their tasks (for each file's form field) in one query, held here so that the session's identity
    # map keeps them for field_def
    held = list(session.scalars(select(HumanTask).where(HumanTask.id.in_(task_ids)))) if task_ids else []
    for a in found:
        f = attachments.field_def(session, a)
        if f is not None and f.personal and not revealing:
            revealing.append(privacy.may_reveal(session, user(), instance))
        out.append(
            {
                "a": a,
                "label": (
                    pick(f"{f.label.get('zh')} / {f.label.get('en') or f.label.get('zh')}")
                    if f
                    else pick(documents.field_title(a.field) or a.field)
                ),
                # as attachments.may_open: personal documents only for the roles that verify identity
                "may_open": not (f is not None and f.personal) or revealing[0],
                "is_image": a.thumb_key is not None,
                "is_pdf": a.kind == "pdf",
            }
        )
    del held
    return out


__all__ = ["Attachment", "case_materials", "checklist_context"]
