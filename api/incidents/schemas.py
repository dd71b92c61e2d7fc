from __future__ import annotations

from marshmallow import Schema, fields, validate

from api.schemas import PageArgs, PageMeta


class IncidentSchema(Schema):
    id = fields.Integer()
    instance_id = fields.Integer()
    element = fields.String(allow_none=True)
    message = fields.String()
    origin = fields.String()
    status = fields.Function(lambda i: i.status.value)
    attempts = fields.Integer()
    created_at = fields.DateTime()
    created_by_id = fields.Integer(allow_none=True)
    resolved_at = fields.DateTime(allow_none=True)
    resolved_by_id = fields.Integer(allow_none=True)


class IncidentListArgs(PageArgs):
    status = fields.String(load_default="open", validate=validate.OneOf(["open", "resolved", "all"]))
    instance_id = fields.Integer(load_default=None, validate=validate.Range(min=1, max=2**31 - 1))


class IncidentPageSchema(Schema):
    items = fields.List(fields.Nested(IncidentSchema))
    meta = fields.Nested(PageMeta)


class IncidentSkipArgs(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))
