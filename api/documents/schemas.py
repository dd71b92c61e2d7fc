from __future__ import annotations

from marshmallow import Schema, fields


class DocumentKindSchema(Schema):
    kind = fields.String(metadata={"description": "e.g. acceptance_notice, refusal_notice"})
    title = fields.String(metadata={"description": "in the user's language"})
    url = fields.String(metadata={"description": "POST here to print it (the PDF)"})


class DocumentKindListSchema(Schema):
    items = fields.List(fields.Nested(DocumentKindSchema))
