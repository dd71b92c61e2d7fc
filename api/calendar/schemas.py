"""Holiday calendar: a year's holidays and adjusted working days (调休), and the re-computation of open
deadlines. Dates are ISO (YYYY-MM-DD); a date outside the year or given twice is refused by field."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

KINDS = ("holiday", "workday")


class DayArgs(Schema):
    date = fields.Date(required=True, metadata={"description": "YYYY-MM-DD"})
    kind = fields.String(
        required=True,
        validate=validate.OneOf(KINDS),
        metadata={"description": "holiday 放假 / workday 调休上班（周末上班）"},
    )
    name = fields.String(
        load_default="", validate=validate.Length(max=50), metadata={"description": "如 春节"}
    )


class YearArgs(Schema):
    days = fields.List(fields.Nested(DayArgs), required=True, validate=validate.Length(max=366))


class DaySchema(Schema):
    date = fields.Date()
    kind = fields.String()
    name = fields.String()


class YearSchema(Schema):
    year = fields.Integer()
    entered = fields.Boolean(
        metadata={"description": "该年已录入节假日表 / the year is entered in the table"}
    )
    source = fields.String(allow_none=True, metadata={"description": "library（初始导入）/ admin"})
    library_covers = fields.Boolean()
    covered = fields.Boolean(metadata={"description": "表或库覆盖该年；否则按周一至周五计算"})
    updated_at = fields.DateTime(allow_none=True)
    days = fields.List(fields.Nested(DaySchema))
    missing_years = fields.List(fields.Integer(), metadata={"description": "应录入而未录入的年份"})


class RecomputeArgs(Schema):
    dry_run = fields.Boolean(load_default=True)
    reason = fields.String(load_default="", validate=validate.Length(max=2000))


class RecomputedSchema(Schema):
    task_id = fields.Integer()
    instance_id = fields.Integer()
    deadline = fields.String()
    before = fields.DateTime(allow_none=True)
    after = fields.DateTime()


class RecomputeResultSchema(Schema):
    dry_run = fields.Boolean()
    count = fields.Integer()
    tasks = fields.List(fields.Nested(RecomputedSchema))
