from __future__ import annotations

from marshmallow import Schema, fields, validate


class DecisionSchema(Schema):
    key = fields.String()
    version = fields.Integer()
    name = fields.String()
    sha256 = fields.String()
    source = fields.String()
    deployed_at = fields.DateTime()
    deployed_by_id = fields.Integer(allow_none=True)


class DecisionSummarySchema(DecisionSchema):
    versions = fields.Integer(metadata={"description": "how many versions the decision has"})


class DecisionVersionsSchema(Schema):
    key = fields.String()
    versions = fields.List(fields.Nested(DecisionSchema), metadata={"description": "newest first"})


class DecisionDeployResultSchema(Schema):
    created = fields.Boolean()
    decision = fields.Nested(DecisionSchema)


class DecisionLintSchema(Schema):
    ok = fields.Boolean()
    problems = fields.List(fields.Dict())


class XmlVersionArgs(Schema):
    version = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))


class EvaluateArgs(Schema):
    inputs = fields.Dict(keys=fields.String(validate=validate.Length(max=64)), required=True)
    version = fields.Integer(
        validate=validate.Range(min=1, max=2**31 - 1), metadata={"description": "default: latest"}
    )
    process_key = fields.String(
        validate=validate.Length(max=100),
        metadata={"description": "whose policy parameters in force today param() reads"},
    )


class MatchedRuleSchema(Schema):
    row = fields.Integer()
    id = fields.String()
    description = fields.String()


class EvaluateResultSchema(Schema):
    key = fields.String()
    version = fields.Integer()
    hit_policy = fields.String()
    result = fields.Dict(metadata={"description": "output name → value (a list for COLLECT / RULE ORDER)"})
    matched = fields.List(fields.Nested(MatchedRuleSchema))
