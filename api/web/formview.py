"""Between a form definition and an HTML form: fields to render, posted values to submission data.

Only shaping happens here; validation is the engine's (``tasks.complete`` → ``validate_submission``).
"""

from __future__ import annotations

import json
from typing import Any

from werkzeug.datastructures import MultiDict

from api import jsonbody
from engine.forms import FormDefinition, form_to_client

INPUT_TYPES = {
    "integer": "number",
    "decimal": "text",
    "money": "text",
    "date": "date",
    "datetime": "datetime-local",
    "phone": "tel",
}


def fields_of(
    form: FormDefinition | None, locale: str, registers: dict[str, list[dict[str, str]]] | None = None
) -> list[dict[str, Any]]:
    """The fields to render; a field picked from a register (``suggest``) lists ``registers[source]``'s
    entries (``{"value", "label"}``) as its options."""
    if form is None:
        return []
    # file fields are the step's materials: uploaded through the checklist beside the form, not posted
    out = [f for f in form_to_client(form, locale)["fields"] if f["type"] != "file"]
    for f in out:
        f["input"] = INPUT_TYPES.get(f["type"], "text")
        f["widget"] = (
            "checkbox"
            if f["type"] == "boolean" and f["must_be_true"]
            else "yesno"
            if f["type"] == "boolean"
            else f["type"]
            if f["type"] in ("choice", "multi_choice", "text", "table")
            else "register"
            if f["suggest"]
            else "input"
        )
        if f["suggest"]:
            f["options"] = (registers or {}).get(f["suggest"], [])
    return out


def title_of(form: FormDefinition | None, locale: str) -> str | None:
    return form_to_client(form, locale)["title"] if form else None


def submission(form: FormDefinition | None, posted: MultiDict) -> dict[str, Any]:
    """The posted HTML form as the JSON-like data the REST API would receive.

    Empty inputs are left out (not submitted); booleans become true/false; a table field is JSON text.
    """
    if form is None:
        return {}
    data: dict[str, Any] = {}
    for f in form.fields:
        if f.readonly or f.type == "file":
            continue
        if f.type == "multi_choice":
            values = [v for v in posted.getlist(f.name) if v]
            if values:
                data[f.name] = values
            continue
        if f.type == "boolean" and f.must_be_true:
            data[f.name] = posted.get(f.name) == "true"
            continue
        raw = posted.get(f.name, "")
        if not raw.strip():
            continue
        if f.type == "boolean":
            data[f.name] = {"true": True, "false": False}.get(raw, raw)
        elif f.type == "table":
            try:
                data[f.name] = jsonbody.loads(raw)
            except ValueError:
                data[f.name] = raw  # the engine reports it as not a list of rows
        else:
            data[f.name] = raw
    return data


def values_for_display(data: dict[str, Any] | None) -> dict[str, Any]:
    """Submission data back into input values (booleans as "true"/"false", tables as JSON)."""
    out: dict[str, Any] = {}
    for key, value in (data or {}).items():
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            out[key] = json.dumps(value, ensure_ascii=False)
        else:
            out[key] = value
    return out


def describe(locale: str, forms: list[FormDefinition]) -> dict[str, tuple[str, dict[str, str]]]:
    """Field name → (label, choice value → label) across the given forms, for showing case data."""
    out: dict[str, tuple[str, dict[str, str]]] = {}
    for form in forms:
        for f in form_to_client(form, locale)["fields"]:
            choices = {c["value"]: c["label"] for c in f["choices"] or []}
            out.setdefault(f["name"], (f["label"], choices))
    return out


def display(value: Any, choices: dict[str, str], yes: str, no: str) -> str:
    """One case-data value as text: choice labels, 是/否, lists joined."""
    if isinstance(value, bool):
        return yes if value else no
    if isinstance(value, list):
        return "、".join(display(v, choices, yes, no) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    if value is None:
        return "—"
    return choices.get(value, str(value)) if isinstance(value, str) else str(value)
