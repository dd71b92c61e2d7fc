from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate


class ServiceOrgArgs(Schema):
    code = fields.String(required=True, validate=validate.Length(min=2, max=32))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    district = fields.String(
        load_default=None, allow_none=True, metadata={"description": "code of the district it serves"}
    )


class ServiceOrgUpdateArgs(Schema):
    """What an admin changes; a field left out stays as it is."""

    name = fields.String(validate=validate.Length(min=1, max=200))
    district = fields.String(
        allow_none=True, metadata={"description": "code of the district it serves; null or empty: anywhere"}
    )
    active = fields.Boolean(metadata={"description": "false deactivates (needs a reason), true reactivates"})
    reason = fields.String(load_default="", validate=validate.Length(max=500))


class MemberArgs(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    reason = fields.String(load_default="", validate=validate.Length(max=500))


class RemoveMemberArgs(Schema):
    reason = fields.String(load_default="", validate=validate.Length(max=500))


class MemberSchema(Schema):
    username = fields.Method("_username")
    display_name = fields.Method("_display_name")
    added_at = fields.DateTime()

    def _username(self, member: Any) -> str:
        return str(member.user.username)

    def _display_name(self, member: Any) -> str:
        return str(member.user.display_name)


class ServiceOrgSchema(Schema):
    code = fields.String()
    name = fields.String()
    district = fields.Method("_district", allow_none=True)
    active = fields.Boolean()
    members = fields.List(fields.Nested(MemberSchema))

    def _district(self, row: Any) -> str | None:
        return row.district.code if row.district is not None else None


class ServiceOrgListSchema(Schema):
    items = fields.List(fields.Nested(ServiceOrgSchema))
