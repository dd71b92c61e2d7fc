"""Schemas shared by several resources."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate


class View:
    """A model object with extra attributes for a response schema (e.g. open tasks, form)."""

    def __init__(self, obj: Any, **extra: Any):
        self._obj = obj
        self.__dict__.update(extra)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._obj, name)


class PageArgs(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class PageMeta(Schema):
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer(
        metadata={"description": "exact up to 10,000; 10,000 means 10,000 or more (task lists)"}
    )


class ErrorSchema(Schema):
    """Every error: a code, a message (Chinese first, then English) and messages per field."""

    error = fields.String(required=True)
    message = fields.String(required=True)
    problems = fields.List(fields.Dict(), metadata={"description": "BPMN refusals: element, line, message"})
    fields = fields.Dict(  # type: ignore[assignment]  # the error body's key, not Schema.fields
        required=True, keys=fields.String(), values=fields.List(fields.String())
    )
