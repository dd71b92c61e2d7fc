from __future__ import annotations

from marshmallow import Schema, fields, validate

from api.schemas import PageArgs, PageMeta
from api.tasks.schemas import TaskSchema


class StartArgs(Schema):
    process_key = fields.String(required=True, validate=validate.Length(min=1, max=100))
    org_unit = fields.String(required=True, validate=validate.Length(min=1, max=32))
    business_key = fields.String(validate=validate.Length(max=100), allow_none=True)
    data = fields.Dict(keys=fields.String(), load_default=dict)
    household_id = fields.Integer(
        allow_none=True,
        validate=validate.Range(min=1, max=2**31 - 1),
        metadata={"description": "the household"},
    )
    applicant_person_id = fields.Integer(
        allow_none=True, validate=validate.Range(min=1, max=2**31 - 1), metadata={"description": "a member"}
    )


class InstanceSchema(Schema):
    id = fields.Integer()
    process_key = fields.String()
    definition_version = fields.Function(lambda i: i.definition.version)
    business_key = fields.String(allow_none=True)
    org_unit = fields.Function(lambda i: i.org_unit.code)
    org_unit_name = fields.Function(lambda i: i.org_unit.name_zh)
    status = fields.Function(lambda i: i.status.value)
    started_by = fields.Function(lambda i: i.started_by.username if i.started_by else None)
    started_at = fields.DateTime()
    ended_at = fields.DateTime(allow_none=True)
    version = fields.Integer()
    parent_id = fields.Integer(allow_none=True)
    household_id = fields.Integer(allow_none=True)
    applicant_person_id = fields.Integer(allow_none=True)


class InstanceDetailSchema(InstanceSchema):
    data = fields.Dict()
    open_tasks = fields.List(fields.Nested(TaskSchema))


class InstanceListArgs(PageArgs):
    process_key = fields.String(validate=validate.Length(max=100))
    status = fields.String(validate=validate.OneOf(["running", "suspended", "completed", "terminated"]))
    org_unit = fields.String(validate=validate.Length(max=32))


class InstancePageSchema(Schema):
    items = fields.List(fields.Nested(InstanceSchema))
    meta = fields.Nested(PageMeta)


class EventSchema(Schema):
    id = fields.Integer()
    at = fields.DateTime()
    action = fields.String()
    actor_id = fields.Integer(allow_none=True)
    task_id = fields.Integer(allow_none=True)
    details = fields.Dict()


class EventListArgs(Schema):
    after_id = fields.Integer(load_default=0, validate=validate.Range(min=0, max=2**63 - 1))
    limit = fields.Integer(load_default=500, validate=validate.Range(min=1, max=1000))


class TimerSchema(Schema):
    bpmn_id = fields.String()
    name = fields.String(allow_none=True)
    due_at = fields.DateTime()


class PersonalDataSchema(Schema):
    instance_id = fields.Integer()
    fields_ = fields.Dict(
        data_key="fields",
        attribute="fields",
        keys=fields.String(),
        values=fields.String(),
        metadata={"description": "path in the case data → full ID or phone number"},
    )
