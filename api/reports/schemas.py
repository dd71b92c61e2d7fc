from __future__ import annotations

from marshmallow import Schema, fields, validate


class ReportArgs(Schema):
    period = fields.String(
        load_default=None,
        validate=validate.Regexp(r"^\d{1,4}$", error="应为月份（1–12）或年度（如 2025）/ a month or a year"),
        metadata={"description": "the month (bridge_monthly) or working year (twinning_yearly)"},
    )


class ReportSchema(Schema):
    kind = fields.String(
        metadata={"description": "ca_monthly, bridge_monthly, bridge_midterm, bridge_final, twinning_yearly"}
    )
    title = fields.String(metadata={"description": "in the user's language, with the period"})
    period = fields.String(allow_none=True)
    xlsx_url = fields.String()
    pdf_url = fields.String()


class ReportListSchema(Schema):
    items = fields.List(fields.Nested(ReportSchema))
