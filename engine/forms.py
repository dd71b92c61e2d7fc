"""Declarative forms: JSON definitions in ``forms/`` compiled into marshmallow schemas.

A form lists fields (type, Chinese/English labels, required, ranges, choices, patterns) and cross-field
rules written as safe expressions. :func:`validate_submission` returns the cleaned data (``Decimal`` for
money, ``date`` for dates) and one list of messages per field; messages are Chinese first, then English.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from engine import expressions

__all__ = [
    "FieldDef",
    "FormDefinition",
    "FormError",
    "RuleDef",
    "form_to_client",
    "jsonable",
    "load_form_file",
    "load_forms_dir",
    "parse_form",
    "validate_submission",
]

FIELD_TYPES = {
    "string",
    "text",
    "integer",
    "decimal",
    "money",
    "boolean",
    "date",
    "datetime",
    "choice",
    "multi_choice",
    "id_number",
    "phone",
}
FIELD_KEYS = {
    "name",
    "type",
    "label",
    "help",
    "required",
    "min",
    "max",
    "min_length",
    "max_length",
    "pattern",
    "choices",
    "must_be_true",
    "required_if",
    "default",
    "readonly",
    "places",
}
FORM_KEYS = {"key", "title", "description", "fields", "rules", "version"}
RULE_KEYS = {"expr", "fields", "message"}
DEFAULT_MAX_LENGTH = {"string": 200, "text": 5000}
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


class FormError(ValueError):
    """A form definition is invalid."""


def msg(zh: str, en: str) -> str:
    return f"{zh} / {en}"


REQUIRED = msg("此项为必填项", "This field is required")
UNKNOWN = msg("未知字段", "Unknown field")
NULL = msg("此项不能为空", "This field may not be null")


@dataclass(frozen=True)
class Choice:
    value: str
    label: Mapping[str, str]


@dataclass(frozen=True)
class FieldDef:
    name: str
    type: str
    label: Mapping[str, str]
    help: Mapping[str, str] | None = None
    required: bool = False
    min: Decimal | None = None
    max: Decimal | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    choices: tuple[Choice, ...] = ()
    must_be_true: bool = False
    required_if: str | None = None
    default: Any = None
    readonly: bool = False
    places: int | None = None


@dataclass(frozen=True)
class RuleDef:
    expr: str
    fields: tuple[str, ...]
    message: Mapping[str, str]


@dataclass(frozen=True)
class FormDefinition:
    key: str
    title: Mapping[str, str]
    fields: tuple[FieldDef, ...]
    rules: tuple[RuleDef, ...]
    raw: Mapping[str, Any] = field(compare=False, hash=False)
    sha256: str = ""

    def field(self, name: str) -> FieldDef | None:
        return next((f for f in self.fields if f.name == name), None)


# --- definitions -------------------------------------------------------------------------------


def _labels(value: Any, where: str, *, required: bool = True) -> dict[str, str] | None:
    if value is None and not required:
        return None
    if isinstance(value, str):
        value = {"zh": value}
    if not isinstance(value, dict) or not isinstance(value.get("zh"), str) or not value["zh"].strip():
        raise FormError(f"{where}: needs a Chinese text ('zh')")
    if any(not isinstance(v, str) for v in value.values()):
        raise FormError(f"{where}: texts must be strings")
    return dict(value)


def _number(value: Any, where: str) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise FormError(f"{where}: not a number")
    try:
        number = Decimal(str(value))
    except InvalidOperation as err:
        raise FormError(f"{where}: not a number: {value!r}") from err
    if not number.is_finite():
        raise FormError(f"{where}: must be finite")
    return number


def _field(raw: Any, form_key: str) -> FieldDef:
    if not isinstance(raw, dict):
        raise FormError(f"form '{form_key}': each field must be an object")
    name = raw.get("name")
    where = f"form '{form_key}', field '{name}'"
    if not isinstance(name, str) or not _NAME.match(name):
        raise FormError(f"{where}: name must be an identifier (letters, digits, '_'), not starting with '_'")
    unknown = set(raw) - FIELD_KEYS
    if unknown:
        raise FormError(f"{where}: unknown keys {sorted(unknown)}")
    kind = raw.get("type")
    if kind not in FIELD_TYPES:
        raise FormError(f"{where}: unknown type {kind!r}; one of {sorted(FIELD_TYPES)}")
    choices: tuple[Choice, ...] = ()
    if kind in ("choice", "multi_choice"):
        items = raw.get("choices")
        if not isinstance(items, list) or not items:
            raise FormError(f"{where}: choice fields need a non-empty 'choices' list")
        parsed = []
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("value"), str):
                raise FormError(f"{where}: each choice needs a string 'value'")
            parsed.append(Choice(item["value"], _labels(item.get("label", item["value"]), where) or {}))
        if len({c.value for c in parsed}) != len(parsed):
            raise FormError(f"{where}: duplicate choice values")
        choices = tuple(parsed)
    elif "choices" in raw:
        raise FormError(f"{where}: 'choices' only applies to choice fields")
    low, high = _number(raw.get("min"), where), _number(raw.get("max"), where)
    if low is not None and high is not None and low > high:
        raise FormError(f"{where}: min is greater than max")
    min_length, max_length = raw.get("min_length"), raw.get("max_length", DEFAULT_MAX_LENGTH.get(kind))
    for value, label in ((min_length, "min_length"), (max_length, "max_length")):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise FormError(f"{where}: {label} must be a non-negative integer")
    if min_length is not None and max_length is not None and min_length > max_length:
        raise FormError(f"{where}: min_length is greater than max_length")
    pattern = raw.get("pattern")
    if pattern is not None:
        try:
            re.compile(pattern)
        except (re.error, TypeError) as err:
            raise FormError(f"{where}: bad pattern: {err}") from err
    required_if = raw.get("required_if")
    if required_if is not None:
        try:
            expressions.check(str(required_if))
        except expressions.ExpressionError as err:
            raise FormError(f"{where}: required_if: {err}") from err
    places = raw.get("places", 2 if kind == "money" else None)
    if places is not None and (
        not isinstance(places, int) or isinstance(places, bool) or not 0 <= places <= 10
    ):
        raise FormError(f"{where}: places must be an integer 0..10")
    for flag in ("required", "must_be_true", "readonly"):
        if not isinstance(raw.get(flag, False), bool):
            raise FormError(f"{where}: {flag} must be true or false")
    if raw.get("must_be_true") and kind != "boolean":
        raise FormError(f"{where}: must_be_true only applies to boolean fields")
    return FieldDef(
        name=name,
        type=kind,
        label=_labels(raw.get("label"), where) or {},
        help=_labels(raw.get("help"), f"{where} help", required=False),
        required=raw.get("required", False),
        min=low,
        max=high,
        min_length=min_length,
        max_length=max_length,
        pattern=pattern,
        choices=choices,
        must_be_true=raw.get("must_be_true", False),
        required_if=required_if,
        default=raw.get("default"),
        readonly=raw.get("readonly", False),
        places=places,
    )


def parse_form(raw: Any) -> FormDefinition:
    if not isinstance(raw, dict):
        raise FormError("a form definition must be a JSON object")
    key = raw.get("key")
    if not isinstance(key, str) or not _NAME.match(key):
        raise FormError(f"form key {key!r} must be an identifier")
    unknown = set(raw) - FORM_KEYS
    if unknown:
        raise FormError(f"form '{key}': unknown keys {sorted(unknown)}")
    items = raw.get("fields")
    if not isinstance(items, list) or not items:
        raise FormError(f"form '{key}': needs a non-empty 'fields' list")
    parsed = tuple(_field(item, key) for item in items)
    names = [f.name for f in parsed]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise FormError(f"form '{key}': duplicate field names {duplicates}")
    rules = []
    for i, rule in enumerate(raw.get("rules") or []):
        where = f"form '{key}', rule {i + 1}"
        if not isinstance(rule, dict) or set(rule) - RULE_KEYS or not isinstance(rule.get("expr"), str):
            raise FormError(f"{where}: needs 'expr' (and optional 'fields', 'message') only")
        try:
            expressions.check(rule["expr"])
        except expressions.ExpressionError as err:
            raise FormError(f"{where}: {err}") from err
        targets = rule.get("fields") or []
        if not isinstance(targets, list) or any(t not in names for t in targets):
            raise FormError(f"{where}: 'fields' must list fields of this form")
        message = _labels(rule.get("message", {"zh": "数据不符合规则", "en": "rule not met"}), where) or {}
        rules.append(RuleDef(rule["expr"], tuple(targets), message))
    canonical = json.dumps(raw, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return FormDefinition(
        key=key,
        title=_labels(raw.get("title"), f"form '{key}' title") or {},
        fields=parsed,
        rules=tuple(rules),
        raw=raw,
        sha256=hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
    )


def load_form_file(path: str | Path) -> FormDefinition:
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise FormError(f"{path.name}: cannot read form: {err}") from err
    form = parse_form(raw)
    if form.key != path.stem:
        raise FormError(f"{path.name}: file name must equal the form key '{form.key}'")
    return form


def load_forms_dir(path: str | Path) -> dict[str, FormDefinition]:
    return {form.key: form for form in (load_form_file(p) for p in sorted(Path(path).glob("*.json")))}


# --- validation --------------------------------------------------------------------------------


def _fmt(value: Decimal) -> str:
    return format(value.normalize(), "f") if value == value.to_integral() else str(value)


class _Decimal(fields.Field):
    """Exact decimal from a JSON string or number; NaN/Infinity and excess places refused."""

    def __init__(self, places: int | None, **kwargs: Any):
        super().__init__(**kwargs)
        self.places = places

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValidationError(msg("必须是数字", "Must be a number"))
        if isinstance(value, float) and not math.isfinite(value):
            raise ValidationError(msg("必须是有限数字", "Must be a finite number"))
        text = value.strip() if isinstance(value, str) else repr(value)
        if not re.fullmatch(r"-?\d+(\.\d+)?", text):
            raise ValidationError(msg("必须是数字（如 1200.50）", "Must be a plain number such as 1200.50"))
        number = Decimal(text)
        if self.places is not None and -number.as_tuple().exponent > self.places:  # type: ignore[operator]
            raise ValidationError(msg(f"最多 {self.places} 位小数", f"At most {self.places} decimal places"))
        return number


class _Integer(fields.Integer):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValidationError(msg("必须是整数", "Must be a whole number"))
        return super()._deserialize(value, attr, data, **kwargs)


class _StrictBool(fields.Boolean):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ValidationError(msg("必须是 true 或 false", "Must be true or false"))
        return value


def valid_id_number(value: str) -> bool:
    if not re.fullmatch(r"\d{17}[\dXx]", value):
        return False
    total = sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS, strict=True))
    if _ID_CHECK[total % 11] != value[17].upper():
        return False
    try:
        born = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    return dt.date(1900, 1, 1) <= born <= dt.date.today()


def _id_number(value: str) -> None:
    if not valid_id_number(value):
        raise ValidationError(msg("身份证号码无效", "Invalid resident ID number"))


def _phone(value: str) -> None:
    if not _PHONE.match(value):
        raise ValidationError(msg("电话号码无效（手机或 021-12345678）", "Invalid phone number"))


def _range_validators(f: FieldDef) -> list[Any]:
    out: list[Any] = []
    if f.min is not None:
        low = f.min

        def check_min(v: Any, low: Decimal = low) -> None:
            if Decimal(v) < low:
                raise ValidationError(msg(f"不能小于 {_fmt(low)}", f"Must be at least {_fmt(low)}"))

        out.append(check_min)
    if f.max is not None:
        high = f.max

        def check_max(v: Any, high: Decimal = high) -> None:
            if Decimal(v) > high:
                raise ValidationError(msg(f"不能大于 {_fmt(high)}", f"Must be at most {_fmt(high)}"))

        out.append(check_max)
    return out


def _length_validators(f: FieldDef) -> list[Any]:
    out: list[Any] = []
    if f.min_length is not None:
        n = f.min_length

        def check_min(v: str, n: int = n) -> None:
            if len(v) < n:
                raise ValidationError(msg(f"至少 {n} 个字", f"At least {n} characters"))

        out.append(check_min)
    if f.max_length is not None:
        m = f.max_length

        def check_max(v: str, m: int = m) -> None:
            if len(v) > m:
                raise ValidationError(msg(f"最多 {m} 个字", f"At most {m} characters"))

        out.append(check_max)
    if f.pattern is not None:
        pattern = re.compile(f.pattern)

        def check_pattern(v: str) -> None:
            if not pattern.fullmatch(v):
                raise ValidationError(msg("格式不正确", "Wrong format"))

        out.append(check_pattern)
    return out


def _marshmallow_field(f: FieldDef) -> fields.Field:
    messages: dict[str, Any] = {"required": REQUIRED, "null": NULL}
    kind = f.type
    if kind in ("string", "text", "id_number", "phone"):
        vals = _length_validators(f)
        if kind == "id_number":
            vals.append(_id_number)
        if kind == "phone":
            vals.append(_phone)
        return fields.String(
            validate=vals, error_messages={**messages, "invalid": msg("必须是文本", "Must be text")}
        )
    if kind == "integer":
        return _Integer(
            strict=True,
            validate=_range_validators(f),
            error_messages={**messages, "invalid": msg("必须是整数", "Must be a whole number")},
        )
    if kind in ("decimal", "money"):
        return _Decimal(f.places, validate=_range_validators(f), error_messages=messages)
    if kind == "boolean":
        vals = []
        if f.must_be_true:

            def must(v: bool) -> None:
                if v is not True:
                    raise ValidationError(msg("必须确认此项", "Must be confirmed"))

            vals.append(must)
        return _StrictBool(validate=vals, error_messages=messages)
    if kind == "date":
        return fields.Date(
            error_messages={**messages, "invalid": msg("日期格式应为 YYYY-MM-DD", "Date must be YYYY-MM-DD")}
        )
    if kind == "datetime":
        return fields.AwareDateTime(
            default_timezone=dt.timezone(dt.timedelta(hours=8)),
            error_messages={**messages, "invalid": msg("日期时间格式无效", "Invalid date-time")},
        )
    values = [c.value for c in f.choices]
    one_of = validate.OneOf(values, error=msg("不是可选项之一", "Not one of the choices"))
    if kind == "choice":
        return fields.String(validate=one_of, error_messages=messages)

    def distinct(v: list[str]) -> None:
        if len(set(v)) != len(v):
            raise ValidationError(msg("选项重复", "Duplicate choices"))
        if f.required and not v:
            raise ValidationError(REQUIRED)

    return fields.List(
        fields.String(validate=one_of),
        validate=distinct,
        error_messages={**messages, "invalid": msg("必须是选项列表", "Must be a list of choices")},
    )


_SCHEMAS: dict[str, Schema] = {}


def _schema_for(form: FormDefinition) -> Schema:
    """The compiled schema of a form, built once per form content (sha256)."""
    schema = _SCHEMAS.get(form.sha256)
    if schema is None:
        attrs: dict[str, Any] = {f.name: _marshmallow_field(f) for f in form.fields if not f.readonly}
        schema = Schema.from_dict(attrs, name=f"Form_{form.key}")(unknown=RAISE)
        _SCHEMAS[form.sha256] = schema
    return schema


def validate_submission(
    form: FormDefinition, data: object, context: Mapping[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Validate submitted ``data`` against ``form``; return (clean data, errors per field)."""
    if not isinstance(data, dict):
        return {}, {"_form": [msg("提交的数据必须是对象", "Submitted data must be an object")]}
    errors: dict[str, list[str]] = {}
    readonly = {f.name for f in form.fields if f.readonly}
    submitted = {k: v for k, v in data.items() if k not in readonly}
    for name in sorted(readonly & set(data)):
        errors[name] = [msg("只读字段，不能提交", "Read-only field, may not be submitted")]
    try:
        clean: dict[str, Any] = _schema_for(form).load(submitted)
    except ValidationError as err:
        clean = dict(err.valid_data or {}) if isinstance(err.valid_data, dict) else {}
        for name, messages in _flatten(err.messages).items():
            if messages == ["Unknown field."]:
                messages = [UNKNOWN]
            errors.setdefault(name, []).extend(messages)
    for f in form.fields:
        if f.readonly or f.name in errors:
            continue
        present = f.name in clean and clean[f.name] not in (None, "", [])
        if present:
            continue
        needed = f.required
        if not needed and f.required_if:
            try:
                needed = bool(expressions.evaluate(f.required_if, {**(context or {}), **clean}))
            except expressions.ExpressionError:
                needed = False
        if needed:
            errors[f.name] = [REQUIRED]
        elif f.name not in clean and f.default is not None:
            clean[f.name] = f.default
    if not errors:
        names = {**(context or {}), **clean}
        for rule in form.rules:
            try:
                ok = expressions.evaluate(rule.expr, names)
            except expressions.ExpressionError:
                continue
            if not ok:
                text = msg(rule.message.get("zh", ""), rule.message.get("en", rule.message.get("zh", "")))
                for target in rule.fields or ("_form",):
                    errors.setdefault(target, []).append(text)
    return clean, errors


def _flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(key, int) and prefix:
                name = prefix
            out.update({k: out.get(k, []) + v for k, v in _flatten(value, name).items()})
    elif isinstance(messages, list):
        out[prefix or "_form"] = [str(m) for m in messages]
    else:
        out[prefix or "_form"] = [str(messages)]
    return out


# --- output --------------------------------------------------------------------------------------


def _text(labels: Mapping[str, str] | None, locale: str) -> str | None:
    if not labels:
        return None
    return labels.get(locale) or labels.get("zh")


def form_to_client(form: FormDefinition, locale: str = "zh") -> dict[str, Any]:
    """A JSON-ready description of the form for UIs, texts in ``locale`` (falling back to Chinese)."""
    return {
        "key": form.key,
        "title": _text(form.title, locale),
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
                "default": f.default,
                "choices": [{"value": c.value, "label": _text(c.label, locale)} for c in f.choices] or None,
            }
            for f in form.fields
        ],
        "rules": [{"fields": list(r.fields), "message": _text(r.message, locale)} for r in form.rules],
    }


def jsonable(value: Any) -> Any:
    """Decimal → str, date/datetime → ISO text, recursively; for JSON columns and API output."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return value
