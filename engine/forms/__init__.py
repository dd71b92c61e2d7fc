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

# The package's rooms: ``model`` (types, options, dataclasses), ``definition`` (parsing definitions),
# ``fieldtypes`` (one marshmallow field per type, the compiled schema), ``validation`` (submissions),
# ``rendering`` (the description clients draw). Everything importable from ``engine.forms`` before the
# split stays importable from here.
from engine.db import jsonable
from engine.forms.definition import load_form_file, load_forms_dir, parse_form
from engine.forms.fieldtypes import _SCHEMAS, _FormSchema, _marshmallow_field, _schema_for
from engine.forms.idnumber import valid_id_number, with_check_digit
from engine.forms.model import (
    CHOICE_TYPES,
    FIELD_TYPES,
    NUMERIC_TYPES,
    OPTION_TYPES,
    TEXT_TYPES,
    Choice,
    FieldDef,
    FormDefinition,
    FormError,
    RuleDef,
    msg,
)
from engine.forms.rendering import form_to_client
from engine.forms.validation import validate_submission

__all__ = [
    "CHOICE_TYPES",
    "FIELD_TYPES",
    "NUMERIC_TYPES",
    "OPTION_TYPES",
    "TEXT_TYPES",
    "Choice",
    "FieldDef",
    "FormDefinition",
    "FormError",
    "RuleDef",
    "_SCHEMAS",
    "_FormSchema",
    "_marshmallow_field",
    "_schema_for",
    "form_to_client",
    "jsonable",
    "load_form_file",
    "load_forms_dir",
    "msg",
    "parse_form",
    "valid_id_number",
    "validate_submission",
    "with_check_digit",
]
