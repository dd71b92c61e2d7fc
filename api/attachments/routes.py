"""Attachments: upload a material to a task (multipart, streamed), the step's checklist, a case's
materials, download (audited) and thumbnail by id — never by a guessable path."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Response, current_app, request, stream_with_context
from flask_smorest import Blueprint
from sqlalchemy import select

from api.attachments import streaming
from api.attachments.schemas import AttachmentListSchema, AttachmentSchema, MaterialListSchema, UploadArgs
from api.extensions import db
from api.schemas import View
from api.security import BEARER, current_user, login_required
from engine.attachments import materials
from engine.attachments import service as attachments
from engine.attachments.models import Attachment
from engine.records.models import StepRecord
from engine.tasks import service as tasks

blp = Blueprint("attachments", __name__, url_prefix="/api/v1", description="材料 / attachments")


def views(rows: list[Attachment]) -> list[View]:
    task_ids = {r.task_id for r in rows if r.task_id}
    records = (
        dict(
            db.session.execute(
                select(StepRecord.task_id, StepRecord.id).where(StepRecord.task_id.in_(task_ids))
            ).all()
        )
        if task_ids
        else {}
    )
    return [
        View(
            r,
            step_record_id=records.get(r.task_id) if r.task_id else None,
            has_thumbnail=bool(r.thumb_key),
            uploaded_by=r.uploaded_by.username if r.uploaded_by else None,
        )
        for r in rows
    ]


def read_upload() -> tuple[dict[str, str], str | None, Any]:
    """The multipart body of this request as a stream (the body limit: ASSISTFLOW_FILES_MAX_BODY)."""
    request.max_content_length = current_app.config["FILES_MAX_BODY"]
    return streaming.parse(request.stream, request.headers.get("Content-Type"))


@blp.route("/tasks/<int:task_id>/attachments", methods=["POST"])
@blp.arguments(UploadArgs, location="query")
@blp.response(201, AttachmentSchema)
@blp.doc(security=[BEARER])
@login_required
def upload(args: dict[str, Any], task_id: int) -> Any:
    """Upload one file (multipart part ``file``) for the task's file field ``field`` (query, or a form
    part before the file). Checked by content, size and scope; nothing is stored on a refusal."""
    tasks.get_visible(db.session(), current_user(), task_id)  # 404 / 403 before the body is read
    fields, filename, chunks = read_upload()
    field = args.get("field") or fields.get("field")
    row = attachments.upload(db.session(), current_user(), task_id, field, filename, chunks)
    return views([row])[0]


@blp.route("/tasks/<int:task_id>/materials", methods=["GET"])
@blp.response(200, MaterialListSchema)
@blp.doc(security=[BEARER])
@login_required
def task_materials(task_id: int) -> Any:
    """The step's materials checklist: each file field, whether it is required now, what is uploaded."""
    session = db.session()
    row = tasks.get_visible(session, current_user(), task_id)
    items = materials.of_task(session, row, tasks.current_data(session, row))
    locale = current_user().locale
    return {
        "items": [
            {
                "field": i.field.name,
                "label": i.label(locale),
                "required": i.required,
                "done": i.done,
                "multiple": i.field.multiple,
                "kinds": list(i.field.kinds),
                "max_size_mb": i.field.max_size_mb,
                "attachments": views(i.files),
            }
            for i in items
        ]
    }


@blp.route("/process-instances/<int:instance_id>/attachments", methods=["GET"])
@blp.response(200, AttachmentListSchema)
@blp.doc(security=[BEARER])
@login_required
def instance_attachments(instance_id: int) -> Any:
    """Every material of a case, in upload order."""
    _instance, rows = attachments.list_visible(db.session(), current_user(), instance_id)
    return {"items": views(rows)}


@blp.route("/attachments/<int:attachment_id>", methods=["GET"])
@blp.response(200, AttachmentSchema)
@blp.doc(security=[BEARER])
@login_required
def attachment(attachment_id: int) -> Any:
    row, _instance = attachments.get_visible(db.session(), current_user(), attachment_id)
    return views([row])[0]


@blp.route("/attachments/<int:attachment_id>", methods=["DELETE"])
@blp.response(204)
@blp.doc(security=[BEARER])
@login_required
def remove(attachment_id: int) -> Any:
    """Take an upload back while its step is open (audited)."""
    attachments.remove(db.session(), current_user(), attachment_id)
    return None


def file_response(row: Attachment, body: Any, *, inline: bool) -> Response:
    disposition = "inline" if inline else "attachment"
    response = Response(stream_with_context(body), mimetype=row.media_type)
    response.headers["Content-Length"] = str(row.size)
    response.headers["Content-Disposition"] = (
        f'{disposition}; filename="file{row.filename[row.filename.rfind(".") :]}"; '
        f"filename*=UTF-8''{quote(row.filename)}"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@blp.route("/attachments/<int:attachment_id>/content", methods=["GET"])
@blp.doc(security=[BEARER], responses={200: {"description": "the file"}})
@login_required
def content(attachment_id: int) -> Any:
    """The file itself, streamed (audited as ``attachment.downloaded``); ``?inline=1`` to preview."""
    row, body = attachments.download(db.session(), current_user(), attachment_id, channel="api")
    return file_response(row, body, inline=request.args.get("inline") == "1")


@blp.route("/attachments/<int:attachment_id>/thumbnail", methods=["GET"])
@blp.doc(security=[BEARER], responses={200: {"description": "a small JPEG"}})
@login_required
def thumbnail(attachment_id: int) -> Any:
    """A small JPEG of a photo or scan (404 for documents)."""
    data = attachments.thumbnail(db.session(), current_user(), attachment_id)
    return Response(data, mimetype="image/jpeg")
