from __future__ import annotations

from flask_smorest.fields import Upload
from marshmallow import Schema, fields, validate


class DefinitionSchema(Schema):
    id = fields.Integer()
    key = fields.String()
    version = fields.Integer()
    name = fields.String()
    sha256 = fields.String()
    source = fields.String()
    deployed_at = fields.DateTime()
    deployed_by_id = fields.Integer(allow_none=True)


class DefinitionSummarySchema(DefinitionSchema):
    versions = fields.Integer()


class DefinitionVersionSchema(DefinitionSchema):
    deployed_by = fields.String(allow_none=True)
    running_instances = fields.Integer()


class DefinitionVersionsSchema(Schema):
    key = fields.String()
    name = fields.String()
    versions = fields.List(fields.Nested(DefinitionVersionSchema))


class ProblemSchema(Schema):
    message = fields.String()
    element = fields.String(allow_none=True)
    line = fields.Integer(allow_none=True)


class LintResultSchema(Schema):
    ok = fields.Boolean()
    problems = fields.List(fields.Nested(ProblemSchema))


class DeployArgs(Schema):
    file = Upload(required=True)


class DeployResultSchema(Schema):
    created = fields.Boolean()
    definition = fields.Nested(DefinitionSchema)


class XmlArgs(Schema):
    version = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))
