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
    message = fields.String(metadata={"description": "中文 / English"})
    message_zh = fields.String()
    message_en = fields.String()
    element = fields.String(allow_none=True, metadata={"description": "the element's id"})
    name = fields.String(allow_none=True, metadata={"description": "the element's name in the diagram"})
    line = fields.Integer(allow_none=True)
    severity = fields.String(metadata={"enum": ["error", "warning"]})


class LintResultSchema(Schema):
    ok = fields.Boolean(metadata={"description": "deployable: no problem of severity error"})
    draft = fields.Boolean(
        metadata={"description": "the process is not marked executable: it can be opened as a draft"}
    )
    problems = fields.List(fields.Nested(ProblemSchema), metadata={"description": "errors, then warnings"})
    errors = fields.List(fields.Nested(ProblemSchema), metadata={"description": "they refuse the deploy"})
    warnings = fields.List(fields.Nested(ProblemSchema), metadata={"description": "they do not"})


class DeployArgs(Schema):
    file = Upload(required=True)


class DeployResultSchema(Schema):
    created = fields.Boolean()
    definition = fields.Nested(DefinitionSchema)


class XmlArgs(Schema):
    version = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))


class DiffAgainstArgs(Schema):
    against = fields.Integer(
        validate=validate.Range(min=1, max=2**31 - 1),
        metadata={"description": "版本号，默认最新版本 / version to compare with, latest by default"},
    )


class DiffVersionsArgs(Schema):
    from_version = fields.Integer(
        data_key="from",
        validate=validate.Range(min=1, max=2**31 - 1),
        metadata={"description": "旧版本，默认 to 的前一版 / old version, by default the one before 'to'"},
    )
    to_version = fields.Integer(
        data_key="to",
        validate=validate.Range(min=1, max=2**31 - 1),
        metadata={"description": "新版本，默认最新版本 / new version, latest by default"},
    )


class AttributeChangeSchema(Schema):
    attribute = fields.String()
    old = fields.String(allow_none=True)
    new = fields.String(allow_none=True)


class ElementChangeSchema(Schema):
    id = fields.String()
    type = fields.String()
    name = fields.String(allow_none=True)
    changes = fields.List(fields.Nested(AttributeChangeSchema))


class DiffSchema(Schema):
    key = fields.String()
    from_version = fields.Integer()
    to_version = fields.Integer(allow_none=True, metadata={"description": "null: the candidate XML"})
    added = fields.List(fields.Nested(ElementChangeSchema))
    removed = fields.List(fields.Nested(ElementChangeSchema))
    changed = fields.List(fields.Nested(ElementChangeSchema))
