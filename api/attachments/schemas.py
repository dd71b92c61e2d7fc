from __future__ import annotations

from marshmallow import Schema, fields, validate


class UploadArgs(Schema):
    field = fields.String(
        validate=validate.Length(min=1, max=64),
        metadata={"description": "the form's file field (material) this file is for"},
    )


class AttachmentSchema(Schema):
    id = fields.Integer()
    instance_id = fields.Integer()
    task_id = fields.Integer(allow_none=True)
    step_record_id = fields.Integer(allow_none=True, metadata={"description": "once the step is completed"})
    household_id = fields.Integer(allow_none=True)
    field = fields.String()
    filename = fields.String(metadata={"description": "sanitised; the extension follows the content"})
    kind = fields.String(metadata={"description": "jpeg, png, heic, pdf, docx, xlsx, pptx, doc (by content)"})
    media_type = fields.String()
    size = fields.Integer()
    sha256 = fields.String(metadata={"description": "of the stored plaintext (also in the audit log)"})
    has_thumbnail = fields.Boolean()
    location_removed = fields.Boolean(metadata={"description": "EXIF GPS removed from a photo"})
    uploaded_by = fields.String(allow_none=True)
    uploaded_at = fields.DateTime()


class AttachmentListSchema(Schema):
    items = fields.List(fields.Nested(AttachmentSchema))


class MaterialSchema(Schema):
    field = fields.String()
    label = fields.String()
    required = fields.Boolean()
    done = fields.Boolean()
    multiple = fields.Boolean()
    kinds = fields.List(fields.String())
    max_size_mb = fields.Integer()
    attachments = fields.List(fields.Nested(AttachmentSchema))


class MaterialListSchema(Schema):
    items = fields.List(fields.Nested(MaterialSchema))
