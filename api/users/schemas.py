from __future__ import annotations

from marshmallow import Schema, fields, validate


class AccountReasonArgs(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class AccountSchema(Schema):
    username = fields.String()
    display_name = fields.String()
    is_active = fields.Boolean()
    failures = fields.Integer()
    last_failure_at = fields.DateTime(allow_none=True)
    locked = fields.Boolean()


class AccountListSchema(Schema):
    items = fields.List(fields.Nested(AccountSchema))


class UnlockSchema(Schema):
    username = fields.String()
    cleared = fields.Integer()


class ActivationSchema(Schema):
    username = fields.String()
    is_active = fields.Boolean()
    sessions_ended = fields.Integer()
    tokens_ended = fields.Integer()
