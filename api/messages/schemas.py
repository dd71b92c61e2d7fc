from __future__ import annotations

from marshmallow import Schema, fields, validate

_NAME = validate.Length(min=1, max=200)


class MessageArgs(Schema):
    name = fields.String(required=True, validate=_NAME)
    kind = fields.String(load_default="message", validate=validate.OneOf(["message", "signal"]))
    correlation = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=200))
    payload = fields.Dict(
        keys=fields.String(validate=validate.Length(max=64)), load_default=None, allow_none=True
    )
    org_unit = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=20))


class MessageOutcomeSchema(Schema):
    result = fields.String(
        metadata={"description": "delivered | started | buffered | ended | broadcast"},
    )
    delivered = fields.List(fields.Integer(), metadata={"description": "cases that caught it"})
    started = fields.List(fields.Integer(), metadata={"description": "cases its start event opened"})
    buffered_id = fields.Integer(allow_none=True)
    reason = fields.String(allow_none=True)
