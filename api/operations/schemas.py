"""Instance operations. The reason and the operation's own fields are checked by the service, after the
permission check, so a caller who may not operate learns nothing from a validation answer."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

_REASON = {"description": "操作原因（必填）/ reason for the operation (required, audited)"}


class ReasonArgs(Schema):
    reason = fields.String(load_default="", validate=validate.Length(max=2000), metadata=_REASON)


class MoveBackArgs(ReasonArgs):
    task_element_id = fields.String(
        load_default="",
        validate=validate.Length(max=100),
        metadata={"description": "BPMN id of a user task completed earlier in this case"},
    )


class EditDataArgs(ReasonArgs):
    set = fields.Dict(keys=fields.String(), load_default=dict, metadata={"description": "fields to set"})
    unset = fields.List(fields.String(), load_default=list, metadata={"description": "fields to remove"})


class ReassignArgs(ReasonArgs):
    username = fields.String(load_default="", validate=validate.Length(max=64))


class MigrateArgs(ReasonArgs):
    target_version = fields.Integer(load_default=None, allow_none=True)
    dry_run = fields.Boolean(load_default=False)


class BatchMigrateArgs(ReasonArgs):
    from_version = fields.Integer(load_default=None, allow_none=True)
    to_version = fields.Integer(load_default=None, allow_none=True)
    instance_ids = fields.List(
        fields.Integer(), load_default=None, allow_none=True, validate=validate.Length(max=1000)
    )
    dry_run = fields.Boolean(load_default=True)


class OperatedSchema(Schema):
    id = fields.Integer()
    status = fields.Function(lambda i: i.status.value)
    definition_version = fields.Function(lambda i: i.definition.version)
    version = fields.Integer()


class MigrationResultSchema(Schema):
    id = fields.Integer()
    can_migrate = fields.Boolean()
    migrated = fields.Boolean()
    reasons = fields.List(fields.String())
