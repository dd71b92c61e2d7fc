"""Validating a submission against a form: clean data plus one list of messages per field."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError

from engine import expressions
from engine.forms.fieldtypes import _schema_for
from engine.forms.model import NOT_OBJECT, READONLY, REQUIRED, FormDefinition, _blank, _flatten, msg

log = logging.getLogger("engine.forms")


def validate_submission(
    form: FormDefinition, data: object, context: Mapping[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Validate submitted ``data`` against ``form``; return (clean data, error messages per field).

    ``context`` is the case data the submission lands on; ``required_if`` and rules read it, with the
    submitted data taking precedence.
    """
    if not isinstance(data, dict):
        return {}, {"_form": [NOT_OBJECT]}
    errors: dict[str, list[str]] = {}
    submitted = _submitted(form, data, errors)
    try:
        clean: dict[str, Any] = _schema_for(form).load(submitted)
    except ValidationError as err:
        clean = dict(err.valid_data) if isinstance(err.valid_data, dict) else {}
        for name, messages in _flatten(err.messages).items():
            errors.setdefault(name, []).extend(messages)
    _check_required(form, data, context, clean, errors)
    _check_rules(form, {**(context or {}), **clean}, errors)
    return clean, errors


def _submitted(form: FormDefinition, data: dict[Any, Any], errors: dict[str, list[str]]) -> dict[Any, Any]:
    """The data to load: read-only fields refused (into ``errors``), emptied non-text inputs as ``None``."""
    by_name = {f.name: f for f in form.fields}
    submitted: dict[Any, Any] = {}
    for name, value in data.items():
        f = by_name.get(name) if isinstance(name, str) else None
        if f is not None and f.readonly:
            errors[name] = [READONLY]
        elif (
            f is not None
            and f.type not in ("string", "text")
            and isinstance(value, str)
            and not value.strip()
        ):
            submitted[name] = None  # an emptied input: "no value"
        else:
            submitted[name] = value
    return submitted


def _check_required(
    form: FormDefinition,
    data: dict[Any, Any],
    context: Mapping[str, Any] | None,
    clean: dict[str, Any],
    errors: dict[str, list[str]],
) -> None:
    """Fill in defaults of fields not submitted; report blank fields that are (conditionally) required."""
    for f in form.fields:
        # a file field's requirement is checked against what was uploaded for the task, where the
        # files are known (engine.attachments.materials, on completion), not against submitted ids
        if f.readonly or f.name in errors or f.type == "file":
            continue
        if f.name not in data and f.has_default:
            clean[f.name] = list(f.default) if isinstance(f.default, tuple) else f.default
        if not _blank(clean.get(f.name)):
            continue
        needed, message = f.required, REQUIRED
        if not needed and f.required_if:
            try:
                needed = bool(expressions.evaluate(f.required_if, {**(context or {}), **clean}))
            except expressions.ExpressionError:
                needed = False  # a name it reads is absent: the condition does not hold
            if f.required_message:
                english = f.required_message.get("en") or "This field is required"
                message = msg(f.required_message["zh"], english)
        if needed:
            errors[f.name] = [message]


def _check_rules(form: FormDefinition, names: dict[str, Any], errors: dict[str, list[str]]) -> None:
    """The cross-field rules over ``names`` (case data overlaid with the clean submission)."""
    for rule in form.rules:
        if not rule.names.isdisjoint(errors) or not rule.names.issubset(names):
            continue  # an input is invalid (its own error says why) or absent
        try:
            ok = expressions.evaluate(rule.expr, names)
        except expressions.ExpressionError as err:
            if any(names[n] is None for n in rule.names):
                continue
            log.warning("form %s: rule %r could not be evaluated: %s", form.key, rule.expr, err)
            zh, en = _both(rule.message)
            text = msg(f"无法校验：{zh}", f"Could not be checked: {en}")
        else:
            if ok:
                continue
            text = msg(*_both(rule.message))
        for target in rule.fields or ("_form",):
            errors.setdefault(target, []).append(text)


def _both(message: Mapping[str, str]) -> tuple[str, str]:
    return message["zh"], message.get("en") or message["zh"]
