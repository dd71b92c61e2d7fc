"""Declarative forms: JSON definitions in ``forms/`` compiled into marshmallow schemas.

A form lists fields (type, Chinese/English labels, required, ranges, choices, patterns) and cross-field
rules written as safe expressions (:mod:`engine.expressions`). :func:`validate_submission` returns the
cleaned data (``Decimal`` for money, ``date`` for dates, never ``float``) and one list of messages per
field; every message is Chinese first, then English, separated by ``" / "``.

Submission semantics:

* a field that is not submitted is absent from the clean data, unless it has a ``default``;
* an explicit ``null`` (or ``""`` for a non-text field) on an optional field is kept as ``None`` so a
  user can clear a value; on a required field it is a "required" error;
* ``readonly`` fields are shown to users but refused on submit;
* rules run on the clean data over the caller's ``context`` (existing case data). A rule is skipped when
  a name it uses is absent (or ``None``) or belongs to a field that already has an error; a rule that
  fails to evaluate for any other reason (e.g. comparing a number with text) is reported, never waved
  through.
"""

from __future__ import annotations

import ast
import datetime as dt
import hashlib
import json
import keyword
import logging
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields

from engine import expressions

__all__ = [
    "Choice",
    "FieldDef",
    "FormDefinition",
    "FormError",
    "RuleDef",
    "form_to_client",
    "jsonable",
    "load_form_file",
    "load_forms_dir",
    "parse_form",
    "valid_id_number",
    "with_check_digit",
    "validate_submission",
]

log = logging.getLogger(__name__)

NUMERIC_TYPES = frozenset({"integer", "decimal", "money"})
TEXT_TYPES = frozenset({"string", "text", "id_number", "phone"})
CHOICE_TYPES = frozenset({"choice", "multi_choice"})
FIELD_TYPES = NUMERIC_TYPES | TEXT_TYPES | CHOICE_TYPES | {"boolean", "date", "datetime", "table"}
DEFAULT_MAX_ROWS = 200
# option -> the field types it applies to (options not listed apply to every type)
OPTION_TYPES: dict[str, frozenset[str]] = {
    "min": NUMERIC_TYPES,
    "max": NUMERIC_TYPES,
    "places": frozenset({"decimal", "money"}),
    "min_length": TEXT_TYPES,
    "max_length": TEXT_TYPES,
    "pattern": TEXT_TYPES,
    "choices": CHOICE_TYPES,
    "must_be_true": frozenset({"boolean"}),
    "columns": frozenset({"table"}),
    "min_rows": frozenset({"table"}),
    "max_rows": frozenset({"table"}),
}
FIELD_KEYS = frozenset(
    {
        "name",
        "type",
        "label",
        "help",
        "required",
        "required_if",
        "required_message",
        "default",
        "readonly",
        *OPTION_TYPES,
    }
)
FORM_KEYS = frozenset({"key", "title", "description", "fields", "rules", "version"})
RULE_KEYS = frozenset({"expr", "fields", "message"})
CHOICE_KEYS = frozenset({"value", "label"})
DEFAULT_MAX_LENGTH = {"string": 200, "text": 5000}
MONEY_PLACES = 2
MAX_PLACES = 10
MAX_NUMBER_CHARS = 40
SHANGHAI = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")
_PLAIN_INTEGER = re.compile(r"[+-]?\d+")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?")
_PHONE = re.compile(r"1[3-9]\d{9}|0\d{2,3}-?\d{7,8}")
_ID_NUMBER = re.compile(r"\d{17}[\dX]")
# control characters and lone surrogates (PostgreSQL refuses NUL and unpaired surrogates in text)
_BAD_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_BAD_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


class FormError(ValueError):
    """A form definition is invalid."""


def msg(zh: str, en: str) -> str:
    """A bilingual message: Chinese first, then English."""
    return f"{zh} / {en}"


REQUIRED = msg("此项为必填项", "This field is required")
UNKNOWN = msg("未知字段", "Unknown field")
READONLY = msg("只读字段，不能提交", "Read-only field, may not be submitted")
NOT_OBJECT = msg("提交的数据必须是对象", "Submitted data must be an object")


# --- definitions -------------------------------------------------------------------------------


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
    # what to say when ``required_if`` holds and the field is blank: the rule, not just "required"
    required_message: Mapping[str, str] | None = None
    has_default: bool = False
    default: Any = None  # already converted: Decimal, date, tuple for multi_choice, ...
    readonly: bool = False
    places: int | None = None
    # table fields: one record per row, each column a field of its own
    columns: tuple[FieldDef, ...] = ()
    min_rows: int | None = None
    max_rows: int | None = None


@dataclass(frozen=True)
class RuleDef:
    expr: str
    fields: tuple[str, ...]
    message: Mapping[str, str]
    names: frozenset[str] = frozenset()  # the variables the expression reads


@dataclass(frozen=True)
class FormDefinition:
    key: str
    title: Mapping[str, str]
    fields: tuple[FieldDef, ...]
    rules: tuple[RuleDef, ...]
    raw: Mapping[str, Any] = field(compare=False, hash=False, repr=False)
    sha256: str = ""
    description: Mapping[str, str] | None = None

    def field(self, name: str) -> FieldDef | None:
        return next((f for f in self.fields if f.name == name), None)


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


def _free_names(expr: str) -> frozenset[str]:
    """Variables an (already checked) expression reads: names minus functions, constants, loop targets."""
    tree = ast.parse(expressions.normalize(expr), mode="eval")
    loaded: set[str] = set()
    stored: set[str] = set()
    called: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (stored if isinstance(node.ctx, ast.Store) else loaded).add(node.id)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            called.add(node.func.id)
    return frozenset(loaded - stored - called - set(expressions.SAFE_NAMES))


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
    unknown = set(raw) - FIELD_KEYS
    if unknown:
        raise FormError(f"{where}: unknown keys {sorted(unknown)}")
    kind = raw.get("type")
    if kind not in FIELD_TYPES:
        raise FormError(f"{where}: unknown type {kind!r}; one of {sorted(FIELD_TYPES)}")
    for option, kinds in OPTION_TYPES.items():
        if option in raw and kind not in kinds:
            raise FormError(f"{where}: '{option}' does not apply to {kind} fields (only {sorted(kinds)})")
    for flag in ("required", "must_be_true", "readonly"):
        if not isinstance(raw.get(flag, False), bool):
            raise FormError(f"{where}: {flag} must be true or false")

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
    min_length = _count(raw, "min_length", where)
    max_length = _count(raw, "max_length", where, DEFAULT_MAX_LENGTH.get(str(kind)))
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
    required_if = raw.get("required_if")
    if required_if is not None:
        required_if = _check_expression(required_if, f"{where}, required_if")
    required_message = _labels(raw.get("required_message"), f"{where}, required_message", required=False)
    if required_message and required_if is None:
        raise FormError(f"{where}: required_message needs required_if")
    columns: tuple[FieldDef, ...] = ()
    min_rows = max_rows = None
    if kind == "table":
        columns = _columns(raw.get("columns"), form_key, where)
        min_rows = _count(raw, "min_rows", where)
        max_rows = _count(raw, "max_rows", where, DEFAULT_MAX_ROWS)
        if min_rows is not None and max_rows is not None and min_rows > max_rows:
            raise FormError(f"{where}: min_rows is greater than max_rows")
        if "default" in raw:
            raise FormError(f"{where}: table fields take no default")

    definition = FieldDef(
        name=name,
        type=kind,
        label=_labels(raw.get("label"), f"{where}, label") or {},
        help=_labels(raw.get("help"), f"{where}, help", required=False),
        required=raw.get("required", False),
        min=low,
        max=high,
        min_length=min_length,
        max_length=max_length,
        pattern=pattern,
        choices=_choices(raw, where) if kind in CHOICE_TYPES else (),
        must_be_true=raw.get("must_be_true", False),
        required_if=required_if,
        required_message=required_message,
        readonly=raw.get("readonly", False),
        places=places,
        columns=columns,
        min_rows=min_rows,
        max_rows=max_rows,
    )
    if raw.get("default") is not None:
        try:
            value = _marshmallow_field(definition).deserialize(raw["default"])
        except ValidationError as err:
            raise FormError(f"{where}: default {raw['default']!r} is not valid: {err.messages}") from err
        definition = replace(
            definition, has_default=True, default=tuple(value) if isinstance(value, list) else value
        )
    return definition


def _columns(raw: Any, form_key: str, where: str) -> tuple[FieldDef, ...]:
    """The columns of a table field: plain fields (no nested tables, no read-only, no required_if)."""
    if not isinstance(raw, list) or not raw:
        raise FormError(f"{where}: a table needs a non-empty 'columns' list")
    columns = tuple(_field(item, form_key) for item in raw)
    for column in columns:
        if column.type == "table" or column.readonly or column.required_if:
            raise FormError(
                f"{where}, column '{column.name}': columns may not be tables, read-only or use required_if"
            )
    names = [c.name for c in columns]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise FormError(f"{where}: duplicate column names {duplicates}")
    return columns


def _rule(raw: Any, index: int, form_key: str, names: list[str]) -> RuleDef:
    where = f"form '{form_key}', rule {index + 1}"
    if not isinstance(raw, dict):
        raise FormError(f"{where}: must be an object with 'expr' (and optional 'fields', 'message')")
    if set(raw) - RULE_KEYS:
        raise FormError(f"{where}: unknown keys {sorted(set(raw) - RULE_KEYS)}")
    expr = _check_expression(raw.get("expr"), f"{where}, expr")
    targets = raw.get("fields", [])
    if not isinstance(targets, list) or any(t not in names for t in targets):
        raise FormError(f"{where}: 'fields' must list fields of this form, got {targets!r}")
    message = _labels(raw.get("message", {"zh": "数据不符合规则", "en": "Rule not met"}), f"{where}, message")
    return RuleDef(expr, tuple(targets), message or {}, _free_names(expr))


def parse_form(raw: Any) -> FormDefinition:
    """Check a form definition (a JSON object) and return it parsed; :class:`FormError` if invalid."""
    if not isinstance(raw, dict):
        raise FormError("a form definition must be a JSON object")
    key = raw.get("key")
    if not isinstance(key, str) or not _NAME.fullmatch(key):
        raise FormError(f"form key {key!r} must be an identifier (ASCII letters, digits, '_')")
    try:
        canonical = json.dumps(
            raw, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
        )
    except (TypeError, ValueError) as err:
        raise FormError(f"form '{key}': not plain JSON: {err}") from err
    raw = json.loads(canonical)  # a private copy: callers mutating theirs cannot desynchronize sha256
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
    rules = raw.get("rules", [])
    if not isinstance(rules, list):
        raise FormError(f"form '{key}': 'rules' must be a list")
    return FormDefinition(
        key=key,
        title=_labels(raw.get("title"), f"form '{key}', title") or {},
        description=_labels(raw.get("description"), f"form '{key}', description", required=False),
        fields=parsed,
        rules=tuple(_rule(rule, i, key, names) for i, rule in enumerate(rules)),
        raw=raw,
        sha256=hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
    )


def load_form_file(path: str | Path) -> FormDefinition:
    """Read and parse one ``<key>.json`` file; the file name stem must equal the form key."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise FormError(f"{path.name}: cannot read form: {err}") from err
    try:
        form = parse_form(raw)
    except FormError as err:
        raise FormError(f"{path.name}: {err}") from err
    if form.key != path.stem:
        raise FormError(f"{path.name}: file name must equal the form key '{form.key}'")
    return form


def load_forms_dir(path: str | Path) -> dict[str, FormDefinition]:
    """Every ``*.json`` form in a directory, by key."""
    return {form.key: form for form in (load_form_file(p) for p in sorted(Path(path).glob("*.json")))}


# --- compiled fields ---------------------------------------------------------------------------


def _fmt(value: Decimal) -> str:
    """A bound as people write it: ``1``, ``0.5``, ``200000`` (no exponent)."""
    return format(value.normalize() if value == value.to_integral() else value, "f")


class _FormField(fields.Field):
    default_error_messages = {
        "required": REQUIRED,
        "null": msg("此项不能为空", "This field may not be null"),
        "validator_failed": msg("数值无效", "Invalid value"),
    }


class _Text(_FormField):
    def __init__(self, kind: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.kind = kind

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise ValidationError(msg("必须是文本", "Must be text"))
        if self.kind == "text":
            if _BAD_TEXT.search(value):
                raise ValidationError(msg("含有不允许的控制字符", "Contains control characters"))
        elif _BAD_LINE.search(value):
            raise ValidationError(
                msg("只能填写单行文本，不能含控制字符", "Must be a single line without control characters")
            )
        return value.upper() if self.kind == "id_number" else value


class _Integer(_FormField):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int:
        invalid = ValidationError(msg("必须是整数", "Must be a whole number"))
        if isinstance(value, bool):
            raise invalid
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            if not value.is_integer():
                raise invalid
            return int(value)
        if isinstance(value, str):
            text = value.strip()
            if len(text) <= MAX_NUMBER_CHARS and _PLAIN_INTEGER.fullmatch(text):
                return int(text)
        raise invalid


class _Decimal(_FormField):
    """Exact decimal from a JSON string or number; NaN/Infinity, exponents and excess places refused."""

    def __init__(self, places: int | None, **kwargs: Any):
        super().__init__(**kwargs)
        self.places = places

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValidationError(msg("必须是数字", "Must be a number"))
        if isinstance(value, float) and not math.isfinite(value):
            raise ValidationError(msg("必须是有限数字", "Must be a finite number"))
        text = value.strip() if isinstance(value, str) else repr(value)
        if len(text) > MAX_NUMBER_CHARS or not _PLAIN_NUMBER.fullmatch(text):
            raise ValidationError(msg("必须是数字（如 1200.50）", "Must be a plain number such as 1200.50"))
        number = Decimal(text)
        exponent = number.as_tuple().exponent
        assert isinstance(exponent, int)  # finite by the regex above
        if self.places is not None and -exponent > self.places:
            raise ValidationError(msg(f"最多 {self.places} 位小数", f"At most {self.places} decimal places"))
        return number


class _Boolean(_FormField):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ValidationError(msg("必须是 true 或 false", "Must be true or false"))
        return value


class _Date(_FormField):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dt.date:
        invalid = ValidationError(msg("日期格式应为 YYYY-MM-DD", "Date must be YYYY-MM-DD"))
        if not isinstance(value, str) or not _DATE.fullmatch(value.strip()):
            raise invalid
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError as err:
            raise invalid from err


class _DateTime(_FormField):
    """ISO date and time; without an offset it is Shanghai time (UTC+8)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dt.datetime:
        invalid = ValidationError(
            msg(
                "日期时间格式应为 YYYY-MM-DDTHH:MM[:SS][+08:00]",
                "Date-time must be YYYY-MM-DDTHH:MM[:SS][+08:00]",
            )
        )
        if not isinstance(value, str) or not _DATETIME.fullmatch(value.strip()):
            raise invalid
        try:
            moment = dt.datetime.fromisoformat(value.strip())
        except ValueError as err:
            raise invalid from err
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=SHANGHAI)


class _Choice(_FormField):
    def __init__(self, values: tuple[str, ...], **kwargs: Any):
        super().__init__(**kwargs)
        self.values = values

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str) or value not in self.values:
            raise ValidationError(msg(f"不是可选项之一：{value!r}", f"Not one of the choices: {value!r}"))
        return value


class _MultiChoice(_Choice):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> list[str]:  # type: ignore[override]
        if not isinstance(value, list):
            raise ValidationError(msg("必须是选项列表", "Must be a list of choices"))
        bad = [v for v in value if not isinstance(v, str) or v not in self.values]
        if bad:
            raise ValidationError(msg(f"不是可选项之一：{bad!r}", f"Not among the choices: {bad!r}"))
        if len(set(value)) != len(value):
            raise ValidationError(msg("选项重复", "Duplicate choices"))
        return list(value)


def with_check_digit(first17: str) -> str:
    """Complete 17 digits into an 18-digit resident ID with its ISO 7064 MOD 11-2 check digit."""
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return first17 + _ID_CHECK[total % 11]


def valid_id_number(value: str) -> bool:
    """Mainland 18-digit resident ID: format, ISO 7064 MOD 11-2 check digit, a real past birth date."""
    value = value.upper()
    if not _ID_NUMBER.fullmatch(value) or value[0] == "0":
        return False
    total = sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS, strict=True))
    if _ID_CHECK[total % 11] != value[17]:
        return False
    try:
        born = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    return dt.date(1900, 1, 1) <= born <= dt.date.today()


Validator = Callable[[Any], None]


def _validators(f: FieldDef) -> list[Validator]:
    out: list[Validator] = []

    def add(check: Callable[[Any], bool], error: str) -> None:
        def validator(value: Any) -> None:
            if value is not None and value != "" and not check(value):
                raise ValidationError(error)

        out.append(validator)

    low, high, shortest, longest = f.min, f.max, f.min_length, f.max_length
    if low is not None:
        add(lambda v: v >= low, msg(f"不能小于 {_fmt(low)}", f"Must be at least {_fmt(low)}"))
    if high is not None:
        add(lambda v: v <= high, msg(f"不能大于 {_fmt(high)}", f"Must be at most {_fmt(high)}"))
    if shortest is not None:
        add(lambda v: len(v) >= shortest, msg(f"至少 {shortest} 个字", f"At least {shortest} characters"))
    if longest is not None:
        add(lambda v: len(v) <= longest, msg(f"最多 {longest} 个字", f"At most {longest} characters"))
    if f.pattern is not None:
        pattern = re.compile(f.pattern)
        add(lambda v: pattern.fullmatch(v) is not None, msg("格式不正确", "Wrong format"))
    if f.type == "id_number":
        add(valid_id_number, msg("身份证号码无效", "Invalid resident ID number"))
    if f.type == "phone":
        add(
            lambda v: _PHONE.fullmatch(v) is not None,
            msg("电话号码无效（手机或 021-12345678）", "Invalid phone number (mobile or 021-12345678)"),
        )
    if f.must_be_true:
        add(lambda v: v is True, msg("必须确认此项", "Must be confirmed"))
    return out


class _Table(_FormField):
    """A list of records; every row is checked against the columns, errors name the row."""

    def __init__(self, f: FieldDef, **kwargs: Any):
        super().__init__(**kwargs)
        self.definition = f
        attrs = {c.name: _marshmallow_field(c) for c in f.columns}
        self.row_schema = _FormSchema.from_dict(attrs, name=f"Row_{f.name}")()

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> list[dict[str, Any]]:
        f = self.definition
        if not isinstance(value, list):
            raise ValidationError(msg("必须是表格（记录列表）", "Must be a list of rows"))
        if f.min_rows is not None and value and len(value) < f.min_rows:
            raise ValidationError(msg(f"至少 {f.min_rows} 行", f"At least {f.min_rows} rows"))
        if f.max_rows is not None and len(value) > f.max_rows:
            raise ValidationError(msg(f"最多 {f.max_rows} 行", f"At most {f.max_rows} rows"))
        rows, problems = [], []
        labels = {c.name: _text(c.label, "zh") or c.name for c in f.columns}
        for number, row in enumerate(value, start=1):
            if not isinstance(row, dict):
                problems.append(msg(f"第 {number} 行必须是对象", f"row {number} must be an object"))
                continue
            failed: set[str] = set()
            try:
                clean = self.row_schema.load(row)
            except ValidationError as err:
                clean = dict(err.valid_data) if isinstance(err.valid_data, dict) else {}
                for name, messages in _flatten(err.messages).items():
                    failed.add(name)
                    for message in messages:
                        problems.append(self._row_message(number, name, labels, message))
            for column in f.columns:
                if column.required and column.name not in failed and _blank(clean.get(column.name)):
                    problems.append(self._row_message(number, column.name, labels, REQUIRED))
            rows.append(clean)
        if problems:
            raise ValidationError(problems)
        return rows

    @staticmethod
    def _row_message(number: int, name: str, labels: dict[str, str], message: str) -> str:
        return f"第 {number} 行「{labels.get(name, name)}」：{message} (row {number}, {name})"


def _marshmallow_field(f: FieldDef) -> fields.Field:
    options: dict[str, Any] = {"validate": _validators(f), "allow_none": True}
    if f.type == "table":
        return _Table(f, **options)
    if f.type in TEXT_TYPES:
        return _Text(f.type, **options)
    if f.type == "integer":
        return _Integer(**options)
    if f.type in ("decimal", "money"):
        return _Decimal(f.places, **options)
    if f.type == "boolean":
        return _Boolean(**options)
    if f.type == "date":
        return _Date(**options)
    if f.type == "datetime":
        return _DateTime(**options)
    values = tuple(c.value for c in f.choices)
    return _Choice(values, **options) if f.type == "choice" else _MultiChoice(values, **options)


class _FormSchema(Schema):
    class Meta:
        unknown = RAISE

    error_messages = {"unknown": UNKNOWN, "type": NOT_OBJECT}


_SCHEMAS: dict[str, Schema] = {}


def _schema_for(form: FormDefinition) -> Schema:
    """The compiled schema of a form, built once per form content (its sha256)."""
    schema = _SCHEMAS.get(form.sha256)
    if schema is None:
        attrs: dict[str, Any] = {f.name: _marshmallow_field(f) for f in form.fields if not f.readonly}
        schema = _FormSchema.from_dict(attrs, name=f"Form_{form.key}")()
        _SCHEMAS[form.sha256] = schema
    return schema


# --- validation --------------------------------------------------------------------------------


def _blank(value: Any) -> bool:
    return value is None or value == [] or (isinstance(value, str) and not value.strip())


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
    by_name = {f.name: f for f in form.fields}
    submitted: dict[str, Any] = {}
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
    try:
        clean: dict[str, Any] = _schema_for(form).load(submitted)
    except ValidationError as err:
        clean = dict(err.valid_data) if isinstance(err.valid_data, dict) else {}
        for name, messages in _flatten(err.messages).items():
            errors.setdefault(name, []).extend(messages)

    for f in form.fields:
        if f.readonly or f.name in errors:
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

    names = {**(context or {}), **clean}
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
    return clean, errors


def _both(message: Mapping[str, str]) -> tuple[str, str]:
    return message["zh"], message.get("en") or message["zh"]


def _flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested messages as one flat list of strings per top-level field."""
    out: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = prefix or str(key)
            for k, v in _flatten(value, name).items():
                out.setdefault(k, []).extend(v)
    elif isinstance(messages, list | tuple):
        for item in messages:
            if isinstance(item, dict | list | tuple):
                for k, v in _flatten(item, prefix).items():
                    out.setdefault(k, []).extend(v)
            else:
                out.setdefault(prefix or "_form", []).append(str(item))
    else:
        out[prefix or "_form"] = [str(messages)]
    return out


# --- output --------------------------------------------------------------------------------------


def _text(labels: Mapping[str, str] | None, locale: str) -> str | None:
    if not labels:
        return None
    return labels.get(locale) or labels.get(locale.split("-")[0].split("_")[0]) or labels.get("zh")


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
            }
            for f in form.fields
        ],
        "rules": [{"fields": list(r.fields), "message": _text(r.message, locale)} for r in form.rules],
    }


def jsonable(value: Any) -> Any:
    """Decimal → str, date/datetime → ISO text, recursively; for JSON columns and API output."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return value
