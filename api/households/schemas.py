from __future__ import annotations

from marshmallow import Schema, fields, validate

from engine.households.models import Hardship, Relation

HARDSHIPS = [h.value for h in Hardship]
RELATIONS = [r.value for r in Relation]


class PersonArgs(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=50))
    relation = fields.String(required=True, validate=validate.OneOf(RELATIONS))
    id_number = fields.String(allow_none=True, validate=validate.Length(max=30))
    phone = fields.String(allow_none=True, validate=validate.Length(max=30))
    birth_date = fields.Date(allow_none=True)


class PersonPatchArgs(Schema):
    name = fields.String(validate=validate.Length(min=1, max=50))
    relation = fields.String(validate=validate.OneOf(RELATIONS))
    id_number = fields.String(allow_none=True, validate=validate.Length(max=30))
    phone = fields.String(allow_none=True, validate=validate.Length(max=30))
    birth_date = fields.Date(allow_none=True)


class HouseholdPatchArgs(Schema):
    registered_address = fields.String(allow_none=True, validate=validate.Length(max=300))
    registered_street = fields.String(allow_none=True, validate=validate.Length(max=32))
    residence_address = fields.String(allow_none=True, validate=validate.Length(max=300))
    residence_street = fields.String(validate=validate.Length(min=1, max=32))
    hardship_category = fields.String(validate=validate.OneOf(HARDSHIPS))
    bank_name = fields.String(allow_none=True, validate=validate.Length(max=100))
    bank_account_holder = fields.String(allow_none=True, validate=validate.Length(max=50))
    bank_account = fields.String(allow_none=True, validate=validate.Length(max=40))


class HouseholdArgs(HouseholdPatchArgs):
    residence_street = fields.String(required=True, validate=validate.Length(min=1, max=32))
    hardship_category = fields.String(load_default="other", validate=validate.OneOf(HARDSHIPS))
    members = fields.List(fields.Nested(PersonArgs), load_default=list, validate=validate.Length(max=30))


class LookupArgs(Schema):
    id_number = fields.String(required=True, validate=validate.Length(min=1, max=30))


class PersonSchema(Schema):
    id = fields.Integer()
    household_id = fields.Integer()
    name = fields.String()
    relation = fields.String()
    relation_label = fields.String()
    id_number = fields.String(allow_none=True, metadata={"description": "masked: 310107********1234"})
    phone = fields.String(allow_none=True, metadata={"description": "masked: 139****5678"})
    birth_date = fields.Date(allow_none=True)


class HouseholdCaseSchema(Schema):
    id = fields.Integer()
    process_key = fields.String()
    procedure = fields.Function(lambda i: i.definition.name)
    business_key = fields.String(allow_none=True)
    org_unit = fields.Function(lambda i: i.org_unit.code)
    status = fields.Function(lambda i: i.status.value)
    started_at = fields.DateTime()
    applicant_person_id = fields.Integer(allow_none=True)


class HouseholdSchema(Schema):
    id = fields.Integer()
    head_name = fields.String(allow_none=True)
    residence_address = fields.String(allow_none=True)
    residence_street = fields.String()
    residence_street_name = fields.String()
    registered_address = fields.String(allow_none=True)
    registered_street = fields.String(allow_none=True)
    registered_street_name = fields.String(allow_none=True)
    separated = fields.Boolean(metadata={"description": "人户分离: registered and residence streets differ"})
    hardship_category = fields.String()
    hardship_label = fields.String()
    bank_name = fields.String(allow_none=True)
    bank_account_holder = fields.String(allow_none=True)
    bank_account = fields.String(allow_none=True, metadata={"description": "masked: **** **** 3445"})
    members = fields.List(fields.Nested(PersonSchema))
    created_at = fields.DateTime()


class HouseholdDetailSchema(HouseholdSchema):
    cases = fields.List(fields.Nested(HouseholdCaseSchema))
