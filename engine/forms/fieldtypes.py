"""Compiled fields: one marshmallow field per form field type, its validators, the compiled schema."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields

from engine.db import SHANGHAI
from engine.forms.idnumber import valid_id_number
from engine.forms.model import (
    _BAD_LINE,
    _BAD_TEXT,
    _DATE,
    _DATETIME,
    _PHONE,
    _PLAIN_INTEGER,
    _PLAIN_NUMBER,
    MAX_FILES,
    MAX_NUMBER_CHARS,
    NOT_OBJECT,
    REQUIRED,
    TEXT_TYPES,
    UNKNOWN,
    FieldDef,
    FormDefinition,
    _blank,
    _flatten,
    _text,
    msg,
)


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


class _Files(_FormField):
    """The ids of the files uploaded for a ``file`` field (engine.attachments checks what they are)."""

    def __init__(self, f: FieldDef, **kwargs: Any):
        super().__init__(**kwargs)
        self.definition = f

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> list[int]:
        if isinstance(value, int) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, list) or any(
            not isinstance(v, int) or isinstance(v, bool) or v <= 0 for v in value
        ):
            raise ValidationError(msg("必须是已上传文件的编号列表", "Must be a list of uploaded file ids"))
        if len(set(value)) != len(value):
            raise ValidationError(msg("文件重复", "Duplicate files"))
        if not self.definition.multiple and len(value) > 1:
            raise ValidationError(msg("此项只能上传一个文件", "This item takes one file"))
        if len(value) > MAX_FILES:
            raise ValidationError(msg(f"最多 {MAX_FILES} 个文件", f"At most {MAX_FILES} files"))
        return list(value)


# field type -> its marshmallow field, given the definition and the common options
_FIELD_CLASSES: dict[str, Callable[[FieldDef, dict[str, Any]], fields.Field]] = {
    **dict.fromkeys(TEXT_TYPES, lambda f, options: _Text(f.type, **options)),
    "integer": lambda f, options: _Integer(**options),
    "decimal": lambda f, options: _Decimal(f.places, **options),
    "money": lambda f, options: _Decimal(f.places, **options),
    "boolean": lambda f, options: _Boolean(**options),
    "date": lambda f, options: _Date(**options),
    "datetime": lambda f, options: _DateTime(**options),
    "choice": lambda f, options: _Choice(tuple(c.value for c in f.choices), **options),
    "multi_choice": lambda f, options: _MultiChoice(tuple(c.value for c in f.choices), **options),
    "table": lambda f, options: _Table(f, **options),
    "file": lambda f, options: _Files(f, **options),
}


def _marshmallow_field(f: FieldDef) -> fields.Field:
    options: dict[str, Any] = {"validate": _validators(f), "allow_none": True}
    return _FIELD_CLASSES[f.type](f, options)


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
