from __future__ import annotations

from marshmallow import Schema, fields, validate


class PolicySetSchema(Schema):
    process_key = fields.String()
    version = fields.Integer()
    effective_from = fields.Date()
    values = fields.Dict(
        keys=fields.String(), metadata={"description": "name → integer, decimal text or text"}
    )
    labels = fields.Dict(keys=fields.String(), values=fields.String())
    note = fields.String()
    created_at = fields.DateTime()
    created_by_id = fields.Integer(allow_none=True)


class PolicyVersionsSchema(Schema):
    process_key = fields.String()
    in_force = fields.Nested(PolicySetSchema, allow_none=True, metadata={"description": "on the given day"})
    versions = fields.List(fields.Nested(PolicySetSchema), metadata={"description": "newest first"})


class PolicyProcedureSchema(Schema):
    process_key = fields.String()
    versions = fields.Integer()


class InForceArgs(Schema):
    on = fields.Date(metadata={"description": "the day (default: today, Shanghai time)"})


class PolicySetArgs(Schema):
    effective_from = fields.Date(required=True)
    values = fields.Dict(keys=fields.String(validate=validate.Length(max=40)), required=True)
    labels = fields.Dict(keys=fields.String(), values=fields.String(validate=validate.Length(max=100)))
    note = fields.String(validate=validate.Length(max=500), load_default="")
