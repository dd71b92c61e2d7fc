"""What a person may hand a case when starting it: start data through a form, a checked business key.

Start data goes through a schema like any other data (no free-form keys are stored):

1. the start event's own form, when the BPMN declares one — ``camunda:formKey`` naming a form of the
   form store, or ``camunda:formData`` with ``camunda:formField`` entries (types string, long, boolean,
   date; anything else is read as string);
2. otherwise the first step's form (start data is the beginning of that form: only its fields, each
   checked as the form checks it; fields left out are filled in at the step);
3. otherwise no start data at all.

ID and phone numbers belong in the fields made for them (their names mark them for encryption and
masking): a value under any other name, or a business key, that holds one is refused. A business key is
1–64 letters, digits, CJK characters and ``. _ - / :``, starting with a letter, digit or CJK character.
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

from engine import formstore
from engine.bpmn.parsing import BPMN_NS, CAMUNDA_NS, parse_xml
from engine.crypto import is_personal_key
from engine.db import dumps
from engine.definitions import service as definitions
from engine.definitions.models import ProcessDefinition
from engine.errors import Invalid
from engine.forms import FormDefinition, FormError, parse_form, valid_id_number, validate_submission

BUSINESS_KEY = re.compile(r"^[A-Za-z0-9\u4e00-\u9fff][A-Za-z0-9\u4e00-\u9fff._/:-]{0,63}$")
# A resident ID number (17 digits and a digit or X) or a mainland mobile number inside a longer text.
_ID_NUMBER = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9])")
_MOBILE = re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])")
_FORM_DATA_TYPES = {"string": "string", "long": "integer", "boolean": "boolean", "date": "date"}

MAX_BYTES = 64 * 1024  # as engine.instances.newcase.MAX_START_BYTES, checked before the form
# (definition id, sha256) -> the declared start form (None: none declared)
_DECLARED: dict[tuple[int, str], FormDefinition | None] = {}


def holds_personal_number(text: str) -> bool:
    """Does free text carry a resident ID number (valid check digit) or a mobile number?"""
    return any(valid_id_number(m.upper()) for m in _ID_NUMBER.findall(text)) or bool(_MOBILE.search(text))


def check_business_key(business_key: str | None) -> str | None:
    if business_key is None:
        return None
    if not BUSINESS_KEY.match(business_key):
        raise Invalid.on(
            "business_key",
            "业务编号须为 1–64 位字母、数字、汉字或 . _ - / :，以字母、数字或汉字开头 / "
            "the business key is 1-64 letters, digits, CJK characters or . _ - / :, starting with a "
            "letter, digit or CJK character",
        )
    if holds_personal_number(business_key):
        raise Invalid.on(
            "business_key",
            "业务编号不得包含证件号或手机号 / the business key may not hold an ID or phone number",
        )
    return business_key


def _declared(definition: ProcessDefinition) -> FormDefinition | None:
    """The start event's form declared in the BPMN (formKey or formData), if any."""
    cache_key = (definition.id, definition.sha256)
    if cache_key in _DECLARED:
        return _DECLARED[cache_key]
    tree = parse_xml(definition.bpmn_xml)
    ns = {"bpmn": BPMN_NS, "camunda": CAMUNDA_NS}
    form: FormDefinition | None = None
    for event in tree.getroot().iterfind(f"bpmn:process[@id='{definition.key}']/bpmn:startEvent", ns):
        if event.find("bpmn:timerEventDefinition", ns) is not None:
            continue
        key = event.get(f"{{{CAMUNDA_NS}}}formKey")
        if key:
            form = formstore.get(key)
            if form is None:
                raise Invalid.on("data", f"开始表单 '{key}' 不存在 / start form '{key}' is missing")
            break
        fields = event.findall("bpmn:extensionElements/camunda:formData/camunda:formField", ns)
        if fields:
            form = _form_data(definition.key, fields)
            break
    _DECLARED[cache_key] = form
    return form


def _form_data(process_key: str, fields: list[etree._Element]) -> FormDefinition:
    raw = {
        "key": f"{process_key}_start",
        "title": {"zh": "发起数据", "en": "Start data"},
        "fields": [
            {
                "name": f.get("id"),
                "type": _FORM_DATA_TYPES.get(f.get("type") or "string", "string"),
                "label": {"zh": f.get("label") or f.get("id") or "", "en": f.get("id") or ""},
            }
            for f in fields
        ],
    }
    try:
        return parse_form(raw)
    except FormError as err:
        raise Invalid.on("data", f"开始表单无效 / the start form is invalid: {err}") from err


def start_form(definition: ProcessDefinition) -> FormDefinition | None:
    declared = _declared(definition)
    if declared is not None:
        return declared
    first = definitions.first_task(definition)
    return formstore.get(first.form_key) if first is not None and first.form_key else None


def check_start_data(definition: ProcessDefinition, data: Any) -> dict[str, Any] | None:
    """Start data validated by the procedure's start form: only its fields, each of its type."""
    if data is None or data == {}:
        return None
    if not isinstance(data, dict):
        raise Invalid.on("data", "初始数据必须是对象 / data must be an object")
    if len(dumps(data).encode("utf-8")) > MAX_BYTES:
        raise Invalid.on(
            "data",
            f"初始数据过大（最多 {MAX_BYTES // 1024} KB）/ data too large (max {MAX_BYTES // 1024} KB)",
        )
    form = start_form(definition)
    if form is None:
        raise Invalid.on("data", "该流程不接受初始数据 / this procedure takes no start data")
    clean, errors = validate_submission(form, data)
    # Fields left out are filled in at the step; everything handed over must be valid.
    problems = {f"data.{k}": v for k, v in errors.items() if k == "_form" or re.split(r"[.\[]", k)[0] in data}
    for key, value in clean.items():
        if key in data and not is_personal_key(key) and _carries_number(value):
            problems.setdefault(f"data.{key}", []).append(
                "证件号和手机号只能填在对应字段中 / ID and phone numbers belong in their own fields"
            )
    if problems:
        problems["data"] = ["初始数据无效 / invalid start data"]
        raise Invalid("初始数据无效 / invalid start data", dict(list(problems.items())[:50]))
    return {k: v for k, v in clean.items() if k in data}


SCHEDULED_KEYS = frozenset({"scheduled_for"})


def check_scheduled_start(data: Any) -> dict[str, Any] | None:
    """Start data of a timer-started procedure started by hand (admins): only what the scheduler would
    hand over — ``scheduled_for``, the occurrence — whose value the procedure's own rules check."""
    if data is None or data == {}:
        return None
    if not isinstance(data, dict):
        raise Invalid.on("data", "初始数据必须是对象 / data must be an object")
    unknown = sorted(str(k) for k in data if k not in SCHEDULED_KEYS)[:20]
    if unknown:
        problems = {
            f"data.{k}": [
                "定时发起的流程只接受 scheduled_for / a timer-started procedure takes scheduled_for only"
            ]
            for k in unknown
        }
        problems["data"] = ["初始数据无效 / invalid start data"]
        raise Invalid("初始数据无效 / invalid start data", problems)
    return dict(data)


def _carries_number(value: Any) -> bool:
    if isinstance(value, str):
        return holds_personal_number(value)
    if isinstance(value, dict):
        return any(not is_personal_key(str(k)) and _carries_number(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_carries_number(v) for v in value)
    return False
