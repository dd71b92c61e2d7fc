from __future__ import annotations

from marshmallow import Schema, fields


class FormSummarySchema(Schema):
    key = fields.String()
    title = fields.Dict(keys=fields.String(), values=fields.String())
    latest_version = fields.Integer(allow_none=True, metadata={"description": "null: the file in forms/"})


class FormVersionSchema(Schema):
    version = fields.Integer()
    sha256 = fields.String()
    created_by = fields.String(allow_none=True)
    created_at = fields.DateTime()


class FormDetailSchema(FormSummarySchema):
    definition = fields.Dict(metadata={"description": "the current definition (JSON)"})
    versions = fields.List(fields.Nested(FormVersionSchema))


class PreviewSchema(Schema):
    ok = fields.Boolean()
    form = fields.Dict(allow_none=True, metadata={"description": "the fields as the task API gives them"})
    problems = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))
