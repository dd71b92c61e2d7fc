from __future__ import annotations

from marshmallow import Schema, fields, validate

from api.schemas import PageArgs, PageMeta


class RecordFieldSchema(Schema):
    name = fields.String()
    label = fields.String(metadata={"description": "from the form version the record was entered with"})
    type = fields.String()
    value = fields.Raw(allow_none=True)


class StepRecordSchema(Schema):
    id = fields.Integer()
    instance_id = fields.Integer()
    task_id = fields.Integer()
    bpmn_id = fields.String()
    name = fields.String()
    form_key = fields.String(allow_none=True)
    form_version = fields.Integer(allow_none=True, metadata={"description": "null: the form file"})
    iteration = fields.Integer(metadata={"description": "the n-th run of this step in the case (loops)"})
    actor = fields.Function(lambda r: r.actor.username if r.actor else None, allow_none=True)
    actor_name = fields.Function(lambda r: r.actor.display_name if r.actor else None, allow_none=True)
    completed_at = fields.DateTime()
    source = fields.String(metadata={"description": "completion, or audit (backfilled)"})
    data = fields.Dict(metadata={"description": "the validated submission; ID and phone numbers masked"})
    derived = fields.Dict(allow_none=True, metadata={"description": "what the procedure's rules added"})
    fields = fields.List(  # type: ignore[assignment]  # the record's key, not Schema.fields
        fields.Nested(RecordFieldSchema), metadata={"description": "in the form's order"}
    )


class StepRecordPageSchema(Schema):
    items = fields.List(fields.Nested(StepRecordSchema))
    meta = fields.Nested(PageMeta)


class StepRecordListArgs(PageArgs):
    pass


class SendBackArgs(Schema):
    target = fields.String(
        required=True,
        validate=validate.Length(min=1, max=100),
        metadata={"description": "the BPMN id of an earlier step this task declares (send_back_to)"},
    )
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class SendBackTargetSchema(Schema):
    bpmn_id = fields.String()
    name = fields.String()
