"""Rendering a form for clients: a JSON-ready description, texts in one locale."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from engine.db import jsonable
from engine.forms.fieldtypes import _fmt
from engine.forms.model import FormDefinition, _text


def form_to_client(form: FormDefinition, locale: str = "zh") -> dict[str, Any]:
    """A JSON-ready description of the form for UIs, texts in ``locale`` (falling back to Chinese)."""
    return {
        "key": form.key,
        "title": _text(form.title, locale),
        "description": _text(form.description, locale),
        "fields": [
            {
                "name": f.name,
                "type": f.type,
                "label": _text(f.label, locale),
                "help": _text(f.help, locale),
                "required": f.required,
                "required_if": f.required_if,
                "readonly": f.readonly,
                "min": _fmt(f.min) if f.min is not None else None,
                "max": _fmt(f.max) if f.max is not None else None,
                "min_length": f.min_length,
                "max_length": f.max_length,
                "pattern": f.pattern,
                "places": f.places,
                "must_be_true": f.must_be_true,
                "default": jsonable(f.default) if f.has_default else None,
                "choices": [{"value": c.value, "label": _text(c.label, locale)} for c in f.choices] or None,
                "suggest": f.suggest,
                **(
                    {
                        "columns": form_to_client(replace(form, fields=f.columns, rules=()), locale)[
                            "fields"
                        ],
                        "min_rows": f.min_rows,
                        "max_rows": f.max_rows,
                    }
                    if f.type == "table"
                    else {}
                ),
                **(
                    {
                        "multiple": f.multiple,
                        "kinds": list(f.kinds),
                        "max_size_mb": f.max_size_mb,
                        "keep_location": f.keep_location,
                        "personal": f.personal,
                    }
                    if f.type == "file"
                    else {}
                ),
            }
            for f in form.fields
        ],
        "rules": [{"fields": list(r.fields), "message": _text(r.message, locale)} for r in form.rules],
    }
