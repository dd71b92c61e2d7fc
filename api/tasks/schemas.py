from __future__ import annotations

from marshmallow import Schema, fields, validate

from api.schemas import PageArgs, PageMeta
from engine.deadlines.service import colour
from engine.tasks.service import SCOPES, SLA_COLOURS


class TaskSchema(Schema):
    id = fields.Integer()
    instance_id = fields.Integer()
    process_key = fields.String()
    bpmn_id = fields.String()
    name = fields.String()
    lane = fields.String(allow_none=True)
    candidate_role = fields.String()
    org_unit = fields.Pluck("OrgUnitRefSchema", "code")
    org_unit_name = fields.Function(lambda t: t.org_unit.name_zh)
    assignee = fields.Pluck("UserRefSchema", "username", allow_none=True)
    state = fields.Function(lambda t: t.state.value)
    form_key = fields.String(allow_none=True)
    created_at = fields.DateTime()
    claimed_at = fields.DateTime(allow_none=True)
    due_at = fields.DateTime(allow_none=True)
    deadline = fields.String(allow_none=True)
    sla = fields.Function(
        lambda t: colour(t), metadata={"description": "green / yellow / orange / red; none when closed"}
    )
    escalated_role = fields.String(allow_none=True)
    completed_at = fields.DateTime(allow_none=True)


class CompletedTaskSchema(TaskSchema):
    next_tasks = fields.List(
        fields.Nested(TaskSchema),
        metadata={
            "description": "该案件此后的待办任务 / the case's open tasks after this step (the next to do)"
        },
    )


class OrgUnitRefSchema(Schema):
    code = fields.String()


class UserRefSchema(Schema):
    username = fields.String()


class TaskDetailSchema(TaskSchema):
    form = fields.Dict(allow_none=True)
    data = fields.Dict()


class TaskListArgs(PageArgs):
    scope = fields.String(load_default="all", validate=validate.OneOf(SCOPES))
    process_key = fields.String(validate=validate.Length(max=100))
    org_unit = fields.String(validate=validate.Length(max=32))
    state = fields.String(validate=validate.OneOf(["ready", "claimed", "completed", "cancelled"]))
    sort = fields.String(load_default="due", validate=validate.OneOf(["due", "created"]))
    sla = fields.String(validate=validate.OneOf(SLA_COLOURS))
    overdue = fields.Boolean()


class TaskPageSchema(Schema):
    items = fields.List(fields.Nested(TaskSchema))
    meta = fields.Nested(PageMeta)


class CompleteArgs(Schema):
    data = fields.Dict(keys=fields.String(), required=True)


class AssignArgs(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))


class DeadlineArgs(Schema):
    due_at = fields.AwareDateTime(default_timezone=None, metadata={"description": "new due time (ISO 8601)"})
    extend_by = fields.String(
        validate=validate.Length(min=1, max=50),
        metadata={"description": "e.g. '5 working days', '5个工作日', 'P3D', 'PT48H'"},
    )
    reason = fields.String(required=True, validate=validate.Length(min=2, max=500))
