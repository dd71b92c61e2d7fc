from __future__ import annotations

from marshmallow import Schema, fields

from api.schemas import PageArgs, PageMeta


class NotificationSchema(Schema):
    id = fields.Integer()
    kind = fields.Function(lambda n: n.kind.value)
    title = fields.String()
    body = fields.String()
    task_id = fields.Integer(allow_none=True)
    instance_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    read_at = fields.DateTime(allow_none=True)


class NotificationListArgs(PageArgs):
    unread_only = fields.Boolean(load_default=False)


class NotificationMeta(PageMeta):
    unread = fields.Integer()


class NotificationPageSchema(Schema):
    items = fields.List(fields.Nested(NotificationSchema))
    meta = fields.Nested(NotificationMeta)


class ReadAllSchema(Schema):
    marked = fields.Integer()
