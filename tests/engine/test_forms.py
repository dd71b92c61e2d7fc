"""Declarative forms: definition checks, every field type and option, rules, caching."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from engine import forms as F

ROOT = Path(__file__).resolve().parents[2]


def make(*fields, rules=None, key="t"):
    raw = {"key": key, "title": {"zh": "测试"}, "fields": list(fields)}
    if rules is not None:
        raw["rules"] = rules
    return F.parse_form(raw)


def field(name="x", type="string", **kw):
    return {"name": name, "type": type, "label": {"zh": "字段", "en": "Field"}, **kw}


def check(form, data, context=None):
    return F.validate_submission(form, data, context)


def id_number(prefix17: str) -> str:
    total = sum(int(d) * w for d, w in zip(prefix17, F._ID_WEIGHTS, strict=True))
    return prefix17 + F._ID_CHECK[total % 11]


# --- field types ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "good", "expected", "bad"),
    [
        (field(type="string", max_length=5), "abc", "abc", "abcdef"),
        (field(type="text", min_length=3), "三个字", "三个字", "短"),
        (field(type="integer", min=1, max=20), 3, 3, 0),
        (field(type="integer"), 7, 7, 1.5),
        (field(type="integer"), 7, 7, True),
        (field(type="money", min="0"), "1200.50", Decimal("1200.50"), "12.345"),
        (field(type="money"), 12, Decimal("12"), "NaN"),
        (field(type="money"), "0.1", Decimal("0.1"), "1e3"),
        (field(type="money"), "99", Decimal("99"), float("inf")),
        (field(type="decimal", places=3, max="10"), "9.125", Decimal("9.125"), "10.001"),
        (field(type="boolean"), False, False, "yes"),
        (field(type="boolean", must_be_true=True), True, True, False),
        (field(type="date"), "2026-10-01", dt.date(2026, 10, 1), "2026-13-01"),
        (
            field(type="datetime"),
            "2026-10-01T09:00:00+08:00",
            dt.datetime(2026, 10, 1, 9, tzinfo=dt.timezone(dt.timedelta(hours=8))),
            "tomorrow",
        ),
        (field(type="choice", choices=[{"value": "a"}, {"value": "b"}]), "a", "a", "c"),
        (
            field(type="multi_choice", choices=[{"value": "a"}, {"value": "b"}]),
            ["a", "b"],
            ["a", "b"],
            ["a", "a"],
        ),
        (field(type="multi_choice", choices=[{"value": "a"}]), ["a"], ["a"], "a"),
        (
            field(type="id_number"),
            id_number("31010719900307123"),
            id_number("31010719900307123"),
            "310107199003071234",
        ),
        (
            field(type="id_number"),
            id_number("31010719900307123"),
            id_number("31010719900307123"),
            id_number("31010719901307123"),
        ),
        (field(type="phone"), "13912345678", "13912345678", "12345"),
        (field(type="phone"), "021-12345678", "021-12345678", "abc-12345678"),
        (field(type="string", pattern="^[A-Z]{2}$"), "AB", "AB", "abc"),
    ],
)
def test_field_types(spec, good, expected, bad):
    form = make(spec)
    clean, errors = check(form, {"x": good})
    assert errors == {} and clean == {"x": expected}
    assert type(clean["x"]) is type(expected)
    clean, errors = check(form, {"x": bad})
    assert list(errors) == ["x"] and all(" / " in m for m in errors["x"]), errors


def test_required_and_optional():
    form = make(field("a", required=True), field("b"))
    assert check(form, {}) == ({}, {"a": ["此项为必填项 / This field is required"]})
    assert check(form, {"a": "x"}) == ({"a": "x"}, {})
    assert "a" in check(form, {"a": ""})[1]
    assert "a" in check(form, {"a": None})[1]


def test_required_multi_choice_must_not_be_empty():
    form = make(field(type="multi_choice", required=True, choices=[{"value": "a"}]))
    assert "x" in check(form, {"x": []})[1]


def test_unknown_fields_and_non_dict():
    form = make(field())
    assert check(form, {"x": "a", "y": 1})[1] == {"y": ["未知字段 / Unknown field"]}
    for data in (None, [1], "x", 3):
        assert "_form" in check(form, data)[1]


def test_required_if_uses_data_and_context():
    form = make(
        field("decision", "choice", choices=[{"value": "ok"}, {"value": "no"}]),
        field("amount", "money", required_if="decision == 'ok' or always"),
    )
    assert "amount" in check(form, {"decision": "ok"}, {"always": False})[1]
    assert check(form, {"decision": "no"}, {"always": False})[1] == {}
    assert "amount" in check(form, {"decision": "no"}, {"always": True})[1]


def test_readonly_refused_on_submit():
    form = make(field("a"), field("b", readonly=True))
    assert check(form, {"a": "x", "b": "y"})[1] == {
        "b": ["只读字段，不能提交 / Read-only field, may not be submitted"]
    }


def test_default_applied_when_absent():
    form = make(field("a", default="缺省"))
    assert check(form, {}) == ({"a": "缺省"}, {})


def test_rules_with_context():
    form = make(
        field("approved", "money", required=True),
        rules=[
            {
                "expr": "approved <= requested",
                "fields": ["approved"],
                "message": {"zh": "核定金额不得超过申请金额", "en": "too much"},
            }
        ],
    )
    assert check(form, {"approved": "10"}, {"requested": Decimal("10")})[1] == {}
    errors = check(form, {"approved": "10.01"}, {"requested": Decimal("10")})[1]
    assert errors == {"approved": ["核定金额不得超过申请金额 / too much"]}
    # a rule whose inputs are missing is skipped (required-ness is the field's job)
    assert check(form, {"approved": "10.01"}, {})[1] == {}


def test_rule_without_fields_reports_on_form():
    form = make(field("a", "integer"), rules=[{"expr": "a > 1", "message": {"zh": "太小"}}])
    assert check(form, {"a": 1})[1] == {"_form": ["太小 / 太小"]}


# --- definitions -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"key": "bad key", "fields": [field()]}, "identifier"),
        ({"key": "k", "fields": []}, "non-empty"),
        ({"key": "k", "fields": [field()], "extra": 1}, "unknown keys"),
        ({"key": "k", "title": {"zh": "t"}, "fields": [field(type="float")]}, "unknown type"),
        ({"key": "k", "title": {"zh": "t"}, "fields": [field(name="_x")]}, "identifier"),
        ({"key": "k", "title": {"zh": "t"}, "fields": [field(), field()]}, "duplicate"),
        ({"key": "k", "title": {"zh": "t"}, "fields": [field(type="choice")]}, "choices"),
        (
            {"key": "k", "title": {"zh": "t"}, "fields": [field(type="integer", min=5, max=1)]},
            "min is greater",
        ),
        ({"key": "k", "title": {"zh": "t"}, "fields": [field(pattern="(")]}, "bad pattern"),
        (
            {"key": "k", "title": {"zh": "t"}, "fields": [field(required_if="__import__('os')")]},
            "required_if",
        ),
        ({"key": "k", "title": {"zh": "t"}, "fields": [field(bogus=1)]}, "unknown keys"),
        (
            {
                "key": "k",
                "title": {"zh": "t"},
                "fields": [{"name": "x", "type": "string", "label": {"en": "x"}}],
            },
            "Chinese",
        ),
        ({"key": "k", "title": {"zh": "t"}, "fields": [field()], "rules": [{"expr": "open('x')"}]}, "rule 1"),
        (
            {
                "key": "k",
                "title": {"zh": "t"},
                "fields": [field()],
                "rules": [{"expr": "x", "fields": ["y"]}],
            },
            "fields",
        ),
        ({"key": "k", "title": {"zh": "t"}, "fields": [field(must_be_true=True)]}, "boolean"),
        ("not a dict", "JSON object"),
    ],
)
def test_definition_errors(raw, fragment):
    with pytest.raises(F.FormError, match=fragment):
        F.parse_form(raw)


def test_file_name_must_match_key(tmp_path):
    (tmp_path / "other.json").write_text(
        '{"key": "k", "title": {"zh": "t"}, "fields": [{"name": "x", '
        '"type": "string", "label": {"zh": "x"}}]}',
        encoding="utf-8",
    )
    with pytest.raises(F.FormError, match="file name"):
        F.load_forms_dir(tmp_path)
    (tmp_path / "other.json").write_text("{broken", encoding="utf-8")
    with pytest.raises(F.FormError, match="cannot read"):
        F.load_form_file(tmp_path / "other.json")


def test_all_shipped_forms_parse():
    forms = F.load_forms_dir(ROOT / "forms")
    assert {"demo_application", "demo_review", "demo_visit", "demo_disbursement"} <= set(forms)
    for form in forms.values():
        assert form.title["zh"] and all(f.label["zh"] for f in form.fields)


def test_schema_compiled_once_per_form():
    form = make(field())
    check(form, {"x": "a"})
    schema = F._SCHEMAS[form.sha256]
    check(form, {"x": "b"})
    assert F._SCHEMAS[form.sha256] is schema


def test_form_to_client_localises_with_fallback():
    form = make(
        field("a", "choice", choices=[{"value": "v", "label": {"zh": "甲", "en": "A"}}], min_length=None),
        field("b", "money", min="0.5"),
    )
    zh, en = F.form_to_client(form, "zh"), F.form_to_client(form, "en")
    assert zh["fields"][0]["label"] == "字段" and en["fields"][0]["label"] == "Field"
    assert en["fields"][0]["choices"] == [{"value": "v", "label": "A"}]
    assert en["title"] == "测试"  # no English title: falls back to Chinese
    assert zh["fields"][1]["min"] == "0.5" and zh["fields"][1]["places"] == 2


def test_jsonable():
    value = {
        "a": Decimal("1.10"),
        "b": [dt.date(2026, 1, 2)],
        "c": {"d": dt.datetime(2026, 1, 2, 3, tzinfo=dt.UTC)},
    }
    assert F.jsonable(value) == {"a": "1.10", "b": ["2026-01-02"], "c": {"d": "2026-01-02T03:00:00+00:00"}}
