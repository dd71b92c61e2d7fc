from __future__ import annotations

from marshmallow import Schema, fields, validate

from api.schemas import PageArgs
from engine.cases.service import CaseStatus


class CaseSearchArgs(PageArgs):
    mine = fields.Boolean(load_default=False, metadata={"description": "cases I started or worked on"})
    process_key = fields.String(validate=validate.Length(max=100))
    status = fields.String(validate=validate.OneOf([s.value for s in CaseStatus]))
    step = fields.String(
        validate=validate.Length(max=100), metadata={"description": "an open step's BPMN id"}
    )
    started_from = fields.Date()
    started_to = fields.Date()
    id_number = fields.String(validate=validate.Length(max=30))
    id_tail = fields.String(
        validate=validate.Length(max=10), metadata={"description": "the last 4–6 characters; needs name"}
    )
    name = fields.String(validate=validate.Length(max=50), metadata={"description": "a name or its start"})
    phone = fields.String(validate=validate.Length(max=30))
    case_number = fields.String(validate=validate.Length(max=100), metadata={"description": "or its start"})


class CaseRowSchema(Schema):
    id = fields.Function(lambda r: r["instance"].id)
    case_number = fields.String()
    process_key = fields.Function(lambda r: r["instance"].process_key)
    procedure = fields.Function(lambda r: r["instance"].definition.name)
    applicant = fields.String(allow_none=True)
    household_id = fields.Integer(allow_none=True)
    applicant_person_id = fields.Integer(allow_none=True)
    org_unit = fields.Function(lambda r: r["instance"].org_unit.code)
    org_unit_name = fields.Function(lambda r: r["instance"].org_unit.name_zh)
    status = fields.String(metadata={"description": "active / closed / refused / terminated"})
    status_label = fields.String()
    steps = fields.List(fields.String(), metadata={"description": "open steps"})
    started_at = fields.Function(lambda r: r["instance"].started_at.isoformat())


class CaseMetaSchema(Schema):
    page = fields.Integer()
    per_page = fields.Integer()
    has_more = fields.Boolean()


class CasePageSchema(Schema):
    items = fields.List(fields.Nested(CaseRowSchema))
    meta = fields.Nested(CaseMetaSchema)
