from __future__ import annotations

from marshmallow import Schema, fields, validate

from engine.recusal.service import RELATIONS


class FilingArgs(Schema):
    staff_username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    relative_id_number = fields.String(required=True, validate=validate.Length(equal=18))
    relation = fields.String(required=True, validate=validate.OneOf(list(RELATIONS)))


class WithdrawArgs(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class FilingSchema(Schema):
    id = fields.Integer()
    staff_user_id = fields.Integer()
    relation = fields.String()
    relative_id_number = fields.Function(
        lambda r: r.relative_id_number[:4] + "*" * 10 + r.relative_id_number[-4:]
    )
    filed_at = fields.DateTime()
    active = fields.Boolean()
