"""Form definitions as data: field types, options, the parsed dataclasses and shared message helpers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from engine import errors

NUMERIC_TYPES = frozenset({"integer", "decimal", "money"})
TEXT_TYPES = frozenset({"string", "text", "id_number", "phone"})
CHOICE_TYPES = frozenset({"choice", "multi_choice"})
FIELD_TYPES = NUMERIC_TYPES | TEXT_TYPES | CHOICE_TYPES | {"boolean", "date", "datetime", "table", "file"}
# what a ``file`` field may allow (engine.attachments tells them apart by content, not by name)
FILE_KINDS = ("image", "pdf", "office")
DEFAULT_FILE_MAX_MB = 20
MAX_FILES = 50
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
    # file fields: the materials a step takes (uploaded through engine.attachments)
    "multiple": frozenset({"file"}),
    "kinds": frozenset({"file"}),
    "max_size_mb": frozenset({"file"}),
    "keep_location": frozenset({"file"}),
    "personal": frozenset({"file"}),
    # a string field whose value is picked from a register the deployment keeps (SUGGEST_SOURCES)
    "suggest": frozenset({"string"}),
}
# the registers a string field may be picked from: the web form lists the entries a case may take
SUGGEST_SOURCES = frozenset({"service_organisations"})
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

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")
_PLAIN_INTEGER = re.compile(r"[+-]?\d+")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?")
_PHONE = re.compile(r"1[3-9]\d{9}|0\d{2,3}-?\d{7,8}")
# control characters and lone surrogates (PostgreSQL refuses NUL and unpaired surrogates in text)
_BAD_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_BAD_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


@errors.family(errors.Invalid)
class FormError(ValueError):
    """A form definition is invalid."""


def msg(zh: str, en: str) -> str:
    """A bilingual message: Chinese first, then English."""
    return f"{zh} / {en}"


REQUIRED = msg("此项为必填项", "This field is required")
UNKNOWN = msg("未知字段", "Unknown field")
READONLY = msg("只读字段，不能提交", "Read-only field, may not be submitted")
NOT_OBJECT = msg("提交的数据必须是对象", "Submitted data must be an object")


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
    # file fields: several files or one, the kinds allowed, the size limit of one file, whether a photo
    # keeps its EXIF location (visit records), whether the files are personal documents (ID cards)
    multiple: bool = False
    kinds: tuple[str, ...] = ()
    max_size_mb: int | None = None
    keep_location: bool = False
    personal: bool = False
    # string fields: picked from this register (SUGGEST_SOURCES) on the web form; validated by the step
    suggest: str | None = None


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

    @property
    def file_fields(self) -> tuple[FieldDef, ...]:
        """The step's materials checklist: its ``file`` fields, in the form's order."""
        return tuple(f for f in self.fields if f.type == "file")


def _text(labels: Mapping[str, str] | None, locale: str) -> str | None:
    if not labels:
        return None
    return labels.get(locale) or labels.get(locale.split("-")[0].split("_")[0]) or labels.get("zh")


def _blank(value: Any) -> bool:
    return value is None or value == [] or (isinstance(value, str) and not value.strip())


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
