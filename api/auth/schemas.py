from __future__ import annotations

from marshmallow import Schema, fields, validate


class TokenArgs(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, validate=validate.Length(min=1, max=256), load_only=True)


class PasswordChangeArgs(Schema):
    current_password = fields.String(required=True, validate=validate.Length(min=1, max=256), load_only=True)
    new_password = fields.String(required=True, validate=validate.Length(min=1, max=256), load_only=True)


class GrantSchema(Schema):
    role = fields.String()
    org_unit = fields.String()


class MeSchema(Schema):
    username = fields.String()
    display_name = fields.String()
    roles = fields.List(fields.Nested(GrantSchema))


class TokenSchema(MeSchema):
    token = fields.String()
    token_type = fields.String()
    expires_at = fields.DateTime()
