"""Parsing one field of a form definition: common checks, then the options of its type (a table)."""

from __future__ import annotations

import keyword
import re
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any

from marshmallow import ValidationError

from engine import expressions
from engine.forms.fieldtypes import _marshmallow_field
from engine.forms.model import (
    _NAME,
    CHOICE_KEYS,
    CHOICE_TYPES,
    DEFAULT_FILE_MAX_MB,
    DEFAULT_MAX_LENGTH,
    DEFAULT_MAX_ROWS,
    FIELD_KEYS,
    FIELD_TYPES,
    FILE_KINDS,
    MAX_PLACES,
    MONEY_PLACES,
    NUMERIC_TYPES,
    OPTION_TYPES,
    SUGGEST_SOURCES,
    TEXT_TYPES,
    Choice,
    FieldDef,
    FormError,
)


def _labels(value: Any, where: str, *, required: bool = True) -> dict[str, str] | None:
    if value is None and not required:
        return None
    if isinstance(value, str):
        value = {"zh": value}
    if not isinstance(value, dict) or not isinstance(value.get("zh"), str) or not value["zh"].strip():
        raise FormError(f"{where}: needs a Chinese text ('zh')")
    if any(not isinstance(k, str) or not isinstance(v, str) for k, v in value.items()):
        raise FormError(f"{where}: texts must be strings")
    return dict(value)


def _number(value: Any, where: str) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise FormError(f"{where}: not a number: {value!r}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation as err:
        raise FormError(f"{where}: not a number: {value!r}") from err
    if not number.is_finite():
        raise FormError(f"{where}: must be a finite number")
    return number


def _count(raw: dict[str, Any], option: str, where: str, default: int | None = None) -> int | None:
    value = raw.get(option, default)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
        raise FormError(f"{where}: {option} must be a non-negative integer")
    return value


def _check_expression(expr: Any, where: str) -> str:
    if not isinstance(expr, str) or not expr.strip():
        raise FormError(f"{where}: must be a non-empty expression")
    try:
        expressions.check(expr)
    except expressions.ExpressionError as err:
        raise FormError(f"{where}: {err}") from err
    return expr


def _choices(raw: dict[str, Any], where: str) -> tuple[Choice, ...]:
    items = raw.get("choices")
    if not isinstance(items, list) or not items:
        raise FormError(f"{where}: choice fields need a non-empty 'choices' list")
    parsed = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("value"), str) or not item["value"]:
            raise FormError(f"{where}: each choice needs a non-empty string 'value'")
        if set(item) - CHOICE_KEYS:
            raise FormError(
                f"{where}, choice {item['value']!r}: unknown keys {sorted(set(item) - CHOICE_KEYS)}"
            )
        label = _labels(item.get("label", item["value"]), f"{where}, choice {item['value']!r}")
        parsed.append(Choice(item["value"], label or {}))
    if len({c.value for c in parsed}) != len(parsed):
        raise FormError(f"{where}: duplicate choice values")
    return tuple(parsed)


def _field(raw: Any, form_key: str) -> FieldDef:
    name, where = _field_name(raw, form_key)
    kind = _field_kind(raw, where)
    parse_options, stage = _TYPE_OPTIONS[kind]
    # A definition with several errors reports the first in a fixed order: the type's own options are
    # checked at their stage (numbers and text first, tables after the condition, choices last).
    options = parse_options(raw, kind, form_key, where) if stage == _FIRST else {}
    required_if = raw.get("required_if")
    if required_if is not None:
        required_if = _check_expression(required_if, f"{where}, required_if")
    required_message = _labels(raw.get("required_message"), f"{where}, required_message", required=False)
    if required_message and required_if is None:
        raise FormError(f"{where}: required_message needs required_if")
    if stage == _AFTER_CONDITION:
        options = parse_options(raw, kind, form_key, where)
    label = _labels(raw.get("label"), f"{where}, label") or {}
    help_text = _labels(raw.get("help"), f"{where}, help", required=False)
    if stage == _AFTER_TEXTS:
        options = parse_options(raw, kind, form_key, where)
    definition = FieldDef(
        name=name,
        type=kind,
        label=label,
        help=help_text,
        required=raw.get("required", False),
        must_be_true=raw.get("must_be_true", False),
        required_if=required_if,
        required_message=required_message,
        readonly=raw.get("readonly", False),
        **options,
    )
    return _with_default(definition, raw, where)


def _field_name(raw: Any, form_key: str) -> tuple[str, str]:
    if not isinstance(raw, dict):
        raise FormError(f"form '{form_key}': each field must be an object")
    name = raw.get("name")
    where = f"form '{form_key}', field '{name}'"
    if (
        not isinstance(name, str)
        or not _NAME.fullmatch(name)
        or keyword.iskeyword(name)
        or name in expressions.SAFE_NAMES
    ):
        raise FormError(
            f"{where}: name must be an identifier (ASCII letters, digits, '_'; not starting with '_'; "
            "not a keyword such as 'None' or 'true')"
        )
    return name, where


def _field_kind(raw: dict[str, Any], where: str) -> str:
    """The field's type, after checking its keys, the options that apply to it and its flags."""
    unknown = set(raw) - FIELD_KEYS
    if unknown:
        raise FormError(f"{where}: unknown keys {sorted(unknown)}")
    kind = raw.get("type")
    if not isinstance(kind, str) or kind not in FIELD_TYPES:  # a list or object is not hashable
        raise FormError(f"{where}: unknown type {kind!r}; one of {sorted(FIELD_TYPES)}")
    for option, kinds in OPTION_TYPES.items():
        if option in raw and kind not in kinds:
            raise FormError(f"{where}: '{option}' does not apply to {kind} fields (only {sorted(kinds)})")
    for flag in ("required", "must_be_true", "readonly", "multiple", "keep_location", "personal"):
        if not isinstance(raw.get(flag, False), bool):
            raise FormError(f"{where}: {flag} must be true or false")
    return str(kind)


# --- the options of each field type (OPTION_TYPES has already refused options of other types) ---

TypeOptions = Callable[[dict[str, Any], str, str, str], dict[str, Any]]


def _no_options(raw: dict[str, Any], kind: str, form_key: str, where: str) -> dict[str, Any]:
    return {}


def _numeric_options(raw: dict[str, Any], kind: str, form_key: str, where: str) -> dict[str, Any]:
    low, high = _number(raw.get("min"), f"{where}, min"), _number(raw.get("max"), f"{where}, max")
    if low is not None and high is not None and low > high:
        raise FormError(f"{where}: min is greater than max")
    if kind == "money":
        places = _count(raw, "places", where, MONEY_PLACES)
        if places is not None and places > MONEY_PLACES:
            raise FormError(f"{where}: money has at most {MONEY_PLACES} decimal places")
    else:
        places = _count(raw, "places", where)
        if places is not None and places > MAX_PLACES:
            raise FormError(f"{where}: places must be at most {MAX_PLACES}")
    return {"min": low, "max": high, "places": places}


def _text_options(raw: dict[str, Any], kind: str, form_key: str, where: str) -> dict[str, Any]:
    min_length = _count(raw, "min_length", where)
    max_length = _count(raw, "max_length", where, DEFAULT_MAX_LENGTH.get(kind))
    if min_length is not None and max_length is not None and min_length > max_length:
        raise FormError(f"{where}: min_length is greater than max_length")
    pattern = raw.get("pattern")
    if pattern is not None:
        if not isinstance(pattern, str):
            raise FormError(f"{where}: bad pattern: must be a string")
        try:
            re.compile(pattern)
        except re.error as err:
            raise FormError(f"{where}: bad pattern {pattern!r}: {err}") from err
    suggest = raw.get("suggest")
    if suggest is not None and (not isinstance(suggest, str) or suggest not in SUGGEST_SOURCES):
        raise FormError(f"{where}: suggest must be one of {sorted(SUGGEST_SOURCES)}")
    options: dict[str, Any] = {"min_length": min_length, "max_length": max_length, "pattern": pattern}
    if suggest is not None:
        options["suggest"] = suggest
    return options


def _choice_options(raw: dict[str, Any], kind: str, form_key: str, where: str) -> dict[str, Any]:
    return {"choices": _choices(raw, where)}


def _table_options(raw: dict[str, Any], kind: str, form_key: str, where: str) -> dict[str, Any]:
    columns = _columns(raw.get("columns"), form_key, where)
    min_rows = _count(raw, "min_rows", where)
    max_rows = _count(raw, "max_rows", where, DEFAULT_MAX_ROWS)
    if min_rows is not None and max_rows is not None and min_rows > max_rows:
        raise FormError(f"{where}: min_rows is greater than max_rows")
    if "default" in raw:
        raise FormError(f"{where}: table fields take no default")
    return {"columns": columns, "min_rows": min_rows, "max_rows": max_rows}


def _file_options(raw: dict[str, Any], kind: str, form_key: str, where: str) -> dict[str, Any]:
    kinds = raw.get("kinds", list(FILE_KINDS))
    if (
        not isinstance(kinds, list)
        or not kinds
        or any(not isinstance(k, str) or k not in FILE_KINDS for k in kinds)
        or len(set(kinds)) != len(kinds)
    ):
        raise FormError(f"{where}: kinds must list some of {list(FILE_KINDS)}")
    size = _count(raw, "max_size_mb", where, DEFAULT_FILE_MAX_MB)
    if not size:
        raise FormError(f"{where}: max_size_mb must be a positive integer")
    if "default" in raw or raw.get("readonly"):
        raise FormError(f"{where}: file fields take no default and are not read-only")
    return {
        "kinds": tuple(kinds),
        "max_size_mb": size,
        "multiple": raw.get("multiple", False),
        "keep_location": raw.get("keep_location", False),
        "personal": raw.get("personal", False),
    }


_FIRST, _AFTER_CONDITION, _AFTER_TEXTS = "first", "after_condition", "after_texts"

# field type -> the parser of its own options, and when it runs (see _field)
_TYPE_OPTIONS: dict[str, tuple[TypeOptions, str]] = {
    **dict.fromkeys(NUMERIC_TYPES, (_numeric_options, _FIRST)),
    **dict.fromkeys(TEXT_TYPES, (_text_options, _FIRST)),
    **dict.fromkeys(CHOICE_TYPES, (_choice_options, _AFTER_TEXTS)),
    "boolean": (_no_options, _FIRST),
    "date": (_no_options, _FIRST),
    "datetime": (_no_options, _FIRST),
    "table": (_table_options, _AFTER_CONDITION),
    "file": (_file_options, _FIRST),
}
assert set(_TYPE_OPTIONS) == FIELD_TYPES, "every field type needs its options parser"


def _with_default(definition: FieldDef, raw: dict[str, Any], where: str) -> FieldDef:
    """The field with its ``default``, converted by the field's own type (so a bad default is refused)."""
    if raw.get("default") is None:
        return definition
    try:
        value = _marshmallow_field(definition).deserialize(raw["default"])
    except ValidationError as err:
        raise FormError(f"{where}: default {raw['default']!r} is not valid: {err.messages}") from err
    return replace(definition, has_default=True, default=tuple(value) if isinstance(value, list) else value)


def _columns(raw: Any, form_key: str, where: str) -> tuple[FieldDef, ...]:
    """The columns of a table field: plain fields (no nested tables, no read-only, no required_if)."""
    if not isinstance(raw, list) or not raw:
        raise FormError(f"{where}: a table needs a non-empty 'columns' list")
    columns = tuple(_field(item, form_key) for item in raw)
    for column in columns:
        if column.type in ("table", "file") or column.readonly or column.required_if:
            raise FormError(
                f"{where}, column '{column.name}': columns may not be tables, files, read-only or use required_if"
            )
    names = [c.name for c in columns]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise FormError(f"{where}: duplicate column names {duplicates}")
    return columns
