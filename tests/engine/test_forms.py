"""Declarative forms: definition checks, every field type and option, rules, defaults, caching, output."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest

from engine import forms as F

ROOT = Path(__file__).resolve().parents[2]
FORMS_DIR = ROOT / "forms"
DEMO_FORMS = {"demo_application", "demo_review", "demo_visit", "demo_disbursement"}
REQUIRED = ["此项为必填项 / This field is required"]


def make(*fields, rules=None, key="t", **extra):
    raw = {"key": key, "title": {"zh": "测试"}, "fields": list(fields), **extra}
    if rules is not None:
        raw["rules"] = rules
    return F.parse_form(raw)


def field(name="x", type="string", **kw):
    return {"name": name, "type": type, "label": {"zh": "字段", "en": "Field"}, **kw}


def check(form, data, context=None):
    return F.validate_submission(form, data, context)


def id_number(first17: str) -> str:
    """Append the ISO 7064 MOD 11-2 check character, computed independently of the module."""
    weights = [2 ** (17 - i) % 11 for i in range(17)]
    check_value = (12 - sum(int(d) * w for d, w in zip(first17, weights, strict=True)) % 11) % 11
    return first17 + ("X" if check_value == 10 else str(check_value))


# Area code 999999 is not allocated, so these can be nobody's number.
VALID_ID = id_number("99999919900307001")
ID_WITH_X = next(n for n in (id_number(f"999999198001010{i:02d}") for i in range(100)) if n.endswith("X"))


def test_id_helper_satisfies_iso_7064_mod_11_2():
    for number in (VALID_ID, ID_WITH_X):
        values = [10 if c == "X" else int(c) for c in number]
        assert sum(v * 2 ** (17 - i) for i, v in enumerate(values)) % 11 == 1


# --- field types: one passing and one failing value each ---------------------------------------


@pytest.mark.parametrize(
    ("spec", "good", "expected", "bad"),
    [
        (field(type="string"), "abc", "abc", 12),
        (field(type="string"), "单行", "单行", "两\n行"),
        (field(type="string"), "a b", "a b", "a\tb"),
        (field(type="text"), "第一行\n第二行\r\n\t缩进", "第一行\n第二行\r\n\t缩进", "nul\x00byte"),
        (field(type="text"), "ok", "ok", "lone \ud800 surrogate"),
        (field(type="integer"), 7, 7, 1.5),
        (field(type="integer"), 7.0, 7, True),
        (field(type="integer"), "-12", -12, "12a"),
        (field(type="integer"), 3, 3, [3]),
        (field(type="decimal"), "3.14159", Decimal("3.14159"), "pi"),
        (field(type="decimal"), 2.5, Decimal("2.5"), {"v": 1}),
        (field(type="money"), "1200.50", Decimal("1200.50"), "12.345"),
        (field(type="money"), 12, Decimal("12"), "NaN"),
        (field(type="money"), 1200.5, Decimal("1200.5"), float("nan")),
        (field(type="money"), "0.1", Decimal("0.1"), "1e3"),
        (field(type="money"), " 99 ", Decimal("99"), float("inf")),
        (field(type="money"), "-5", Decimal("-5"), "Infinity"),
        (field(type="money"), "7", Decimal("7"), 0.1 + 0.2),
        (field(type="money"), "8", Decimal("8"), True),
        (field(type="boolean"), False, False, "yes"),
        (field(type="boolean"), True, True, 1),
        (field(type="date"), "2026-10-01", dt.date(2026, 10, 1), "2026-13-01"),
        (field(type="date"), "2024-02-29", dt.date(2024, 2, 29), "20261001"),
        (field(type="date"), "2026-01-05", dt.date(2026, 1, 5), "2026-W01-1"),
        (field(type="date"), "2026-01-05", dt.date(2026, 1, 5), 20260105),
        (
            field(type="datetime"),
            "2026-10-01T09:00:00+08:00",
            dt.datetime(2026, 10, 1, 9, tzinfo=dt.timezone(dt.timedelta(hours=8))),
            "tomorrow",
        ),
        (
            field(type="datetime"),
            "2026-10-01T01:00:00Z",
            dt.datetime(2026, 10, 1, 1, tzinfo=dt.UTC),
            "2026-10-01",
        ),
        (field(type="choice", choices=[{"value": "a"}, {"value": "b"}]), "a", "a", "c"),
        (field(type="choice", choices=[{"value": "a"}]), "a", "a", 1),
        (
            field(type="multi_choice", choices=[{"value": "a"}, {"value": "b"}]),
            ["b", "a"],
            ["b", "a"],
            ["a", "a"],
        ),
        (field(type="multi_choice", choices=[{"value": "a"}]), ["a"], ["a"], "a"),
        (field(type="multi_choice", choices=[{"value": "a"}]), [], [], ["a", "z"]),
        (field(type="multi_choice", choices=[{"value": "a"}]), ["a"], ["a"], [1]),
        (field(type="id_number"), VALID_ID, VALID_ID, VALID_ID[:17] + str((int(VALID_ID[17]) + 1) % 10)),
        (field(type="id_number"), ID_WITH_X, ID_WITH_X, ID_WITH_X[:17] + "0"),
        (field(type="id_number"), ID_WITH_X.lower(), ID_WITH_X, "99999919900307"),
        (field(type="id_number"), VALID_ID, VALID_ID, id_number("99999919901307001")),  # month 13
        (field(type="id_number"), VALID_ID, VALID_ID, id_number("99999918990101001")),  # before 1900
        (field(type="id_number"), VALID_ID, VALID_ID, id_number("99999929990101001")),  # future
        (field(type="id_number"), VALID_ID, VALID_ID, id_number("09999919900307001")),  # area 0xxxxx
        (field(type="phone"), "13800000000", "13800000000", "12345"),
        (field(type="phone"), "19900000000", "19900000000", "12000000000"),
        (field(type="phone"), "021-12345678", "021-12345678", "abc-12345678"),
        (field(type="phone"), "0571-1234567", "0571-1234567", "21-12345678"),
    ],
)
def test_field_types(spec, good, expected, bad):
    form = make(spec)
    clean, errors = check(form, {"x": good})
    assert errors == {} and clean == {"x": expected}
    assert type(clean["x"]) is type(expected)
    clean, errors = check(form, {"x": bad})
    assert list(errors) == ["x"] and "x" not in clean, errors
    assert all(" / " in m for m in errors["x"]), errors


def test_money_is_exact_decimal_never_float():
    form = make(field(type="money"), field("d", "decimal", places=3))
    clean, errors = check(form, {"x": "0.10", "d": "1.250"})
    assert errors == {}
    assert clean["x"] == Decimal("0.10") and str(clean["x"]) == "0.10"
    assert str(clean["d"]) == "1.250"
    assert check(form, {"x": "0.001"})[1] == {"x": ["最多 2 位小数 / At most 2 decimal places"]}
    assert "d" in check(form, {"d": "1.2345"})[1]
    assert "x" in check(form, {"x": "1" * 50})[1]  # absurdly long input refused


# --- options: one passing and one failing value each -------------------------------------------


@pytest.mark.parametrize(
    ("spec", "good", "bad", "message"),
    [
        (field(type="integer", min=1, max=20), 1, 0, "不能小于 1 / Must be at least 1"),
        (field(type="integer", min=1, max=20), 20, 21, "不能大于 20 / Must be at most 20"),
        (field(type="money", min="0.01"), "0.01", "0", "不能小于 0.01 / Must be at least 0.01"),
        (
            field(type="money", max="200000"),
            "200000.00",
            "200000.01",
            "不能大于 200000 / Must be at most 200000",
        ),
        (field(type="decimal", min=-1.5), "-1.5", "-1.6", "不能小于 -1.5 / Must be at least -1.5"),
        (field(type="decimal", places=0), "3", "3.0", "最多 0 位小数 / At most 0 decimal places"),
        (field(type="money", places=0), "3", "3.5", "最多 0 位小数 / At most 0 decimal places"),
        (field(type="string", min_length=2), "ab", "a", "至少 2 个字 / At least 2 characters"),
        (field(type="string", max_length=3), "abc", "abcd", "最多 3 个字 / At most 3 characters"),
        (field(type="string"), "a" * 200, "a" * 201, "最多 200 个字 / At most 200 characters"),
        (field(type="text"), "a" * 5000, "a" * 5001, "最多 5000 个字 / At most 5000 characters"),
        (field(type="text", min_length=5), "五个汉字啊", "四个汉字", "至少 5 个字 / At least 5 characters"),
        (field(type="string", pattern="[A-Z]{2}"), "AB", "ABC", "格式不正确 / Wrong format"),
        (field(type="string", pattern="^[^<>]*$"), "安全", "<b>", "格式不正确 / Wrong format"),
        (
            field(type="id_number", pattern="31.*"),
            id_number("31010119900307001"),
            VALID_ID,
            "格式不正确 / Wrong format",
        ),
        (field(type="phone", pattern="1.*"), "13800000000", "021-12345678", "格式不正确 / Wrong format"),
        (field(type="boolean", must_be_true=True), True, False, "必须确认此项 / Must be confirmed"),
    ],
)
def test_options(spec, good, bad, message):
    form = make(spec)
    assert check(form, {"x": good})[1] == {}
    assert check(form, {"x": bad})[1] == {"x": [message]}


def test_required_and_optional():
    form = make(field("a", required=True), field("b"), field("n", "integer"))
    assert check(form, {}) == ({}, {"a": REQUIRED})  # optional fields absent, no None injected
    assert check(form, {"a": "x"}) == ({"a": "x"}, {})
    for blank in ("", "   ", None):
        assert check(form, {"a": blank})[1] == {"a": REQUIRED}


def test_required_multi_choice_must_not_be_empty():
    form = make(field(type="multi_choice", required=True, choices=[{"value": "a"}]))
    assert check(form, {"x": []})[1] == {"x": REQUIRED}
    assert check(form, {"x": ["a"]})[1] == {}


def test_required_boolean_accepts_false_unless_must_be_true():
    form = make(field("a", "boolean", required=True), field("b", "boolean", required=True, must_be_true=True))
    assert check(form, {"a": False, "b": True}) == ({"a": False, "b": True}, {})
    assert check(form, {"a": None})[1] == {"a": REQUIRED, "b": REQUIRED}


def test_explicit_null_and_empty_input_clear_an_optional_field():
    form = make(
        field("m", "money", min="1"),
        field("d", "date"),
        field("s", min_length=3),
        field("c", "choice", choices=[{"value": "a"}]),
    )
    clean, errors = check(form, {"m": "", "d": None, "s": "", "c": " "})
    assert errors == {}
    assert clean == {"m": None, "d": None, "s": "", "c": None}


def test_unknown_fields_and_non_dict():
    form = make(field())
    assert check(form, {"x": "a", "y": 1}) == ({"x": "a"}, {"y": ["未知字段 / Unknown field"]})
    for data in (None, [1], "x", 3, ["x", "a"]):
        clean, errors = check(form, data)
        assert clean == {} and errors == {
            "_form": ["提交的数据必须是对象 / Submitted data must be an object"]
        }


def test_errors_are_reported_for_every_field_at_once():
    form = make(field("a", "integer", required=True), field("b", "date"), field("c", max_length=1))
    errors = check(form, {"b": "someday", "c": "ab", "z": 0})[1]
    assert set(errors) == {"a", "b", "c", "z"}
    assert all(isinstance(v, list) and all(isinstance(m, str) for m in v) for v in errors.values())


def test_required_if_uses_data_and_context():
    form = make(
        field("decision", "choice", choices=[{"value": "ok"}, {"value": "no"}]),
        field("amount", "money", required_if="decision == 'ok' or always"),
    )
    assert check(form, {"decision": "ok"}, {"always": False})[1] == {"amount": REQUIRED}
    assert check(form, {"decision": "ok", "amount": "1"}, {"always": False})[1] == {}
    assert check(form, {"decision": "no"}, {"always": False})[1] == {}
    assert check(form, {"decision": "no"}, {"always": True})[1] == {"amount": REQUIRED}
    assert check(form, {"decision": "no", "amount": None}, {"always": True})[1] == {"amount": REQUIRED}
    # submitted data overrides the context
    assert check(form, {"decision": "no"}, {"decision": "ok", "always": False})[1] == {}
    # the condition reads names that are absent: it does not hold
    assert check(form, {})[1] == {}


def test_required_if_can_name_its_rule():
    form = make(
        field("rows", "integer"),
        field(
            "reason",
            required_if="rows < 20",
            required_message={"zh": "不足20户须说明理由", "en": "Fewer than 20: give the reason"},
        ),
    )
    assert check(form, {"rows": 3})[1] == {"reason": ["不足20户须说明理由 / Fewer than 20: give the reason"]}
    assert check(form, {"rows": 20})[1] == {}
    assert check(form, {"rows": 3, "reason": "本区家庭少"})[1] == {}


def test_readonly_refused_on_submit():
    form = make(field("a"), field("b", readonly=True))
    assert check(form, {"a": "x"}) == ({"a": "x"}, {})
    clean, errors = check(form, {"a": "x", "b": "y"})
    assert errors == {"b": ["只读字段，不能提交 / Read-only field, may not be submitted"]}
    assert "b" not in clean


def test_readonly_value_from_context_feeds_rules():
    form = make(
        field("requested", "money", readonly=True),
        field("approved", "money"),
        rules=[{"expr": "approved <= requested", "fields": ["approved"], "message": {"zh": "超额"}}],
    )
    assert check(form, {"approved": "5"}, {"requested": Decimal("5")})[1] == {}
    assert check(form, {"approved": "6"}, {"requested": Decimal("5")})[1] == {"approved": ["超额 / 超额"]}


def test_defaults_are_typed_and_applied_only_when_absent():
    form = make(
        field("a", default="缺省"),
        field("m", "money", default="0"),
        field("d", "date", default="2026-01-01"),
        field("tags", "multi_choice", choices=[{"value": "p"}, {"value": "q"}], default=["p"]),
        field("r", "integer", required=True, default=3),
    )
    clean, errors = check(form, {})
    assert errors == {}
    assert clean == {"a": "缺省", "m": Decimal("0"), "d": dt.date(2026, 1, 1), "tags": ["p"], "r": 3}
    clean["tags"].append("q")  # callers may mutate what they get back
    assert check(form, {})[0]["tags"] == ["p"]
    assert check(form, {"a": "给定", "m": None})[0] == {
        "a": "给定",
        "m": None,
        "d": dt.date(2026, 1, 1),
        "tags": ["p"],
        "r": 3,
    }


# --- rules -------------------------------------------------------------------------------------


def approved_form():
    return make(
        field("approved", "money", required=True),
        field("note", max_length=3),
        rules=[
            {
                "expr": "approved <= requested",
                "fields": ["approved"],
                "message": {"zh": "核定金额不得超过申请金额", "en": "too much"},
            }
        ],
    )


def test_rules_with_context():
    form = approved_form()
    assert check(form, {"approved": "10"}, {"requested": Decimal("10")})[1] == {}
    errors = check(form, {"approved": "10.01"}, {"requested": Decimal("10")})[1]
    assert errors == {"approved": ["核定金额不得超过申请金额 / too much"]}
    # the submitted data overrides the context
    assert check(form, {"approved": "10.01"}, {"approved": Decimal("1"), "requested": Decimal("10")})[1]


def test_rule_skipped_when_an_input_is_absent_or_invalid():
    form = approved_form()
    assert check(form, {"approved": "10.01"}, {})[1] == {}
    assert check(form, {"approved": "10.01"}, {"requested": None})[1] == {}
    assert check(form, {"approved": None}, {"requested": Decimal("1")})[1] == {"approved": REQUIRED}
    # an invalid value is not replaced by a stale one from the context
    errors = check(form, {"approved": "x"}, {"approved": Decimal("1"), "requested": Decimal("10")})[1]
    assert list(errors) == ["approved"] and len(errors["approved"]) == 1


def test_rules_run_even_when_unrelated_fields_fail():
    errors = check(approved_form(), {"approved": "11", "note": "toolong"}, {"requested": Decimal("10")})[1]
    assert set(errors) == {"approved", "note"}


def test_rule_that_cannot_be_evaluated_is_reported_not_waved_through():
    errors = check(approved_form(), {"approved": "11"}, {"requested": "10"})[1]  # text, not a number
    assert errors == {"approved": ["无法校验：核定金额不得超过申请金额 / Could not be checked: too much"]}


def test_rule_without_fields_reports_on_form_and_default_message():
    form = make(
        field("a", "integer"), rules=[{"expr": "a > 1", "message": {"zh": "太小"}}, {"expr": "a > 2"}]
    )
    assert check(form, {"a": 1})[1] == {"_form": ["太小 / 太小", "数据不符合规则 / Rule not met"]}
    assert check(form, {"a": 3})[1] == {}


def test_rule_with_functions_and_comprehensions():
    form = make(
        field("tags", "multi_choice", choices=[{"value": "a"}, {"value": "b"}]),
        field("d", "date"),
        rules=[
            {"expr": "all(t != 'b' for t in tags)", "fields": ["tags"], "message": {"zh": "不可选 b"}},
            {"expr": "days_between(start, d) >= 0", "fields": ["d"], "message": {"zh": "早于开始"}},
        ],
    )
    assert form.rules[0].names == frozenset({"tags"})
    assert form.rules[1].names == frozenset({"start", "d"})
    start = {"start": dt.date(2026, 1, 1)}
    assert check(form, {"tags": ["a"], "d": "2026-01-01"}, start)[1] == {}
    assert check(form, {"tags": ["b"], "d": "2025-12-31"}, start)[1] == {
        "tags": ["不可选 b / 不可选 b"],
        "d": ["早于开始 / 早于开始"],
    }


# --- definitions -------------------------------------------------------------------------------


def form_raw(*fields, **extra):
    return {"key": "k", "title": {"zh": "t"}, "fields": list(fields) or [field()], **extra}


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("not a dict", "JSON object"),
        ({"key": "bad key", "fields": [field()]}, "identifier"),
        ({"key": "_k", "fields": [field()]}, "identifier"),
        ({"key": "k", "title": {"zh": "t"}, "fields": []}, "non-empty"),
        ({"key": "k", "title": {"zh": "t"}, "fields": {"x": field()}}, "non-empty"),
        (form_raw(extra=1), "form 'k': unknown keys"),
        ({"key": "k", "fields": [field()]}, "form 'k', title: needs a Chinese"),
        (form_raw(title={"en": "t"}), "title: needs a Chinese"),
        (form_raw(description={"en": "d"}), "description: needs a Chinese"),
        (form_raw(field(min=Decimal("1"))), "not plain JSON"),
        (form_raw(field("m", "money", max=float("nan"))), "not plain JSON"),
        (form_raw(["x"]), "each field must be an object"),
        (form_raw(field(type="float")), "field 'x': unknown type 'float'"),
        (form_raw({"name": "x", "label": {"zh": "x"}}), "unknown type None"),
        (form_raw(field(name="_x")), "field '_x': name must be an identifier"),
        (form_raw(field(name="1x")), "identifier"),
        (form_raw(field(name="a-b")), "identifier"),
        (form_raw(field(name="class")), "keyword"),
        (form_raw(field(name="None")), "keyword"),
        (form_raw(field(name="true")), "keyword"),
        (form_raw(field(name="户名")), "identifier"),
        (form_raw(field(), field()), "duplicate field names \\['x'\\]"),
        (form_raw(field(bogus=1)), "field 'x': unknown keys \\['bogus'\\]"),
        (form_raw(field(type="choice")), "field 'x': choice fields need"),
        (form_raw(field(type="multi_choice", choices=[])), "choice fields need"),
        (form_raw(field(type="choice", choices=[{"value": "a"}, {"value": "a"}])), "duplicate choice"),
        (form_raw(field(type="choice", choices=[{"value": ""}])), "non-empty string 'value'"),
        (form_raw(field(type="choice", choices=[{"value": 1}])), "non-empty string 'value'"),
        (form_raw(field(type="choice", choices=[{"value": "a", "x": 1}])), "choice 'a': unknown keys"),
        (
            form_raw(field(type="choice", choices=[{"value": "a", "label": {"en": "A"}}])),
            "choice 'a': needs a Chinese",
        ),
        (form_raw(field(choices=[{"value": "a"}])), "'choices' does not apply to string"),
        (form_raw(field(type="integer", min=5, max=1)), "field 'x': min is greater than max"),
        (form_raw(field(type="money", min="1", max="0.5")), "min is greater than max"),
        (form_raw(field(type="integer", min="many")), "min: not a number"),
        (form_raw(field(type="integer", max=True)), "max: not a number"),
        (form_raw(field(type="decimal", max="Infinity")), "finite"),
        (form_raw(field(min=1)), "'min' does not apply to string"),
        (form_raw(field(type="date", max="2026-01-01")), "'max' does not apply to date"),
        (form_raw(field(min_length=5, max_length=2)), "min_length is greater than max_length"),
        (form_raw(field(max_length=-1)), "max_length must be a non-negative integer"),
        (form_raw(field(min_length="3")), "min_length must be a non-negative integer"),
        (form_raw(field(type="integer", max_length=3)), "'max_length' does not apply to integer"),
        (form_raw(field(pattern="(")), "field 'x': bad pattern"),
        (form_raw(field(pattern=5)), "bad pattern"),
        (form_raw(field(type="integer", pattern="\\d+")), "'pattern' does not apply"),
        (form_raw(field(suggest="households")), "suggest must be one of \\['service_organisations'\\]"),
        (form_raw(field(suggest=["service_organisations"])), "suggest must be one of"),
        (form_raw(field(type="text", suggest="service_organisations")), "'suggest' does not apply to text"),
        (form_raw(field(type="money", places=3)), "money has at most 2 decimal places"),
        (form_raw(field(type="decimal", places=11)), "places must be at most 10"),
        (form_raw(field(type="decimal", places=1.5)), "places must be a non-negative integer"),
        (form_raw(field(type="integer", places=1)), "'places' does not apply to integer"),
        (form_raw(field(must_be_true=True)), "'must_be_true' does not apply to string"),
        (form_raw(field(required="yes")), "required must be true or false"),
        (form_raw(field(readonly=1)), "readonly must be true or false"),
        (form_raw(field(required_if="__import__('os')")), "field 'x', required_if"),
        (form_raw(field(required_if="open('f')")), "required_if: function 'open' is not allowed"),
        (form_raw(field(required_if="")), "required_if: must be a non-empty expression"),
        (form_raw(field(required_if="a ==")), "required_if: syntax error"),
        (form_raw(field(required_message={"zh": "说明"})), "required_message needs required_if"),
        (form_raw(field(required_if="a", required_message={"en": "x"})), "required_message: needs a Chinese"),
        (
            form_raw({"name": "x", "type": "string", "label": {"en": "x"}}),
            "field 'x', label: needs a Chinese",
        ),
        (form_raw({"name": "x", "type": "string"}), "label: needs a Chinese"),
        (form_raw(field(label={"zh": "  "})), "label: needs a Chinese"),
        (form_raw(field(label={"zh": "x", "en": 1})), "texts must be strings"),
        (form_raw(field(help={"en": "h"})), "help: needs a Chinese"),
        (form_raw(field(type="integer", default="x")), "field 'x': default 'x' is not valid"),
        (form_raw(field(type="integer", min=1, default=0)), "default 0 is not valid"),
        (form_raw(field(type="money", default="1.005")), "default '1.005' is not valid"),
        (form_raw(field(type="choice", choices=[{"value": "a"}], default="b")), "default 'b' is not valid"),
        (form_raw(field(type="boolean", must_be_true=True, default=False)), "default False is not valid"),
        (form_raw(rules={"expr": "x"}), "'rules' must be a list"),
        (form_raw(rules=["x == 1"]), "rule 1: must be an object"),
        (form_raw(rules=[{"expr": "open('x')"}]), "form 'k', rule 1, expr: function 'open'"),
        (form_raw(rules=[{"expr": "x.__class__"}]), "rule 1, expr: attribute"),
        (form_raw(rules=[{"expr": "x", "fields": ["y"]}]), "rule 1: 'fields' must list fields"),
        (form_raw(rules=[{"expr": "x", "fields": "x"}]), "'fields' must list fields"),
        (form_raw(rules=[{"fields": ["x"]}]), "rule 1, expr: must be a non-empty expression"),
        (form_raw(rules=[{"expr": "x", "why": 1}]), "rule 1: unknown keys"),
        (form_raw(rules=[{"expr": "x == ''"}, {"expr": "x", "message": {"en": "m"}}]), "rule 2, message"),
    ],
)
def test_definition_errors(raw, fragment):
    with pytest.raises(F.FormError, match=fragment):
        F.parse_form(raw)


def test_definition_is_copied_and_hashed_canonically():
    raw = form_raw(field(), rules=[{"expr": "x != ''"}])
    form = F.parse_form(raw)
    reordered = json.loads(json.dumps(raw, sort_keys=True))
    assert F.parse_form(dict(reversed(list(reordered.items())))).sha256 == form.sha256
    raw["fields"][0]["name"] = "changed"
    assert form.raw["fields"][0]["name"] == "x"
    assert F.parse_form(raw).sha256 != form.sha256
    assert form.field("x") is form.fields[0] and form.field("y") is None


def test_labels_may_be_plain_chinese_strings():
    form = F.parse_form(
        {"key": "k", "title": "标题", "fields": [{"name": "x", "type": "string", "label": "名"}]}
    )
    assert form.title == {"zh": "标题"} and form.fields[0].label == {"zh": "名"}


# --- files ---------------------------------------------------------------------------------------


MINIMAL = {
    "key": "k",
    "title": {"zh": "t"},
    "fields": [{"name": "x", "type": "string", "label": {"zh": "x"}}],
}


def test_load_form_file_and_dir(tmp_path):
    (tmp_path / "k.json").write_text(json.dumps(MINIMAL, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a form", encoding="utf-8")
    assert F.load_form_file(tmp_path / "k.json").key == "k"
    assert list(F.load_forms_dir(tmp_path)) == ["k"]


def test_file_name_must_match_key(tmp_path):
    (tmp_path / "other.json").write_text(json.dumps(MINIMAL), encoding="utf-8")
    with pytest.raises(F.FormError, match="other.json: file name must equal the form key 'k'"):
        F.load_forms_dir(tmp_path)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"{broken", "cannot read"),
        (b"\xff\xfe", "cannot read"),
        (json.dumps({**MINIMAL, "key": "bad", "fields": []}).encode(), "bad.json: form 'bad'"),
    ],
)
def test_unreadable_or_invalid_files(tmp_path, content, fragment):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(F.FormError, match=fragment):
        F.load_form_file(path)
    with pytest.raises(F.FormError, match="cannot read"):
        F.load_form_file(tmp_path / "missing.json")


@pytest.mark.parametrize("path", sorted(FORMS_DIR.glob("*.json")), ids=lambda p: p.name)
def test_every_shipped_form_parses(path):
    form = F.load_form_file(path)
    assert form.key == path.stem
    assert form.title["zh"] and all(f.label["zh"] for f in form.fields)
    for locale in ("zh", "en"):
        json.dumps(F.form_to_client(form, locale), ensure_ascii=False)
    assert isinstance(check(form, {})[1], dict)


def test_demo_forms_are_shipped():
    assert set(F.load_forms_dir(FORMS_DIR)) >= DEMO_FORMS


def demo(key):
    return F.load_form_file(FORMS_DIR / f"{key}.json")


def test_demo_application():
    form = demo("demo_application")
    data = {
        "household_size": 3,
        "hardship_category": "rigid_expense",
        "aid_types": ["money", "services"],
        "amount_requested": "1200.50",
        "reason": "医疗支出较大，生活困难",
        "credit_commitment_signed": True,
    }
    clean, errors = check(form, data)
    assert errors == {} and clean["amount_requested"] == Decimal("1200.50")
    errors = check(form, {**data, "household_size": 21, "credit_commitment_signed": False, "reason": "短"})[1]
    assert set(errors) == {"household_size", "credit_commitment_signed", "reason"}
    assert set(check(form, {})[1]) == set(data)


def test_demo_review_rule_reads_case_data():
    form = demo("demo_review")
    case = {"amount_requested": Decimal("1000")}
    assert check(form, {"decision": "reject", "opinion": "不符合条件"}, case)[1] == {}
    assert check(form, {"decision": "approve", "opinion": "同意"}, case)[1] == {"amount_approved": REQUIRED}
    assert check(form, {"decision": "approve", "amount_approved": "1000", "opinion": "同意"}, case)[1] == {}
    errors = check(form, {"decision": "approve", "amount_approved": "1000.01", "opinion": "同意"}, case)[1]
    assert errors == {
        "amount_approved": ["核定金额不得超过申请金额 / Approved amount may not exceed the requested amount"]
    }


def test_demo_visit_and_disbursement():
    visit = demo("demo_visit")
    clean, errors = check(
        visit, {"visit_date": "2026-03-02", "summary": "入户核实", "more_visits_needed": False}
    )
    assert errors == {} and clean["visit_date"] == dt.date(2026, 3, 2)
    disbursement = demo("demo_disbursement")
    case = {"amount_approved": Decimal("500")}
    assert check(disbursement, {"amount_paid": "500.00", "paid_on": "2026-03-09"}, case)[1] == {}
    assert set(check(disbursement, {"amount_paid": "500.01", "paid_on": "2026-03-09"}, case)[1]) == {
        "amount_paid"
    }


# --- compiled schema cache ---------------------------------------------------------------------


def test_schema_compiled_once_per_form(monkeypatch):
    form = make(field(), key="cached_form_test")
    built = []
    original = F._FormSchema.from_dict

    def counting(*args, **kwargs):
        built.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(F._FormSchema, "from_dict", counting)
    F._SCHEMAS.pop(form.sha256, None)
    for value in ("a", "b", 1):
        check(form, {"x": value})
    assert len(built) == 1
    schema = F._schema_for(form)
    assert F._schema_for(make(field(), key="cached_form_test")) is schema  # same content, same schema
    assert F._schema_for(make(field(max_length=9), key="cached_form_test")) is not schema
    assert len(built) == 2


# --- output --------------------------------------------------------------------------------------


def test_form_to_client_localises_with_fallback():
    form = make(
        field("a", "choice", choices=[{"value": "v", "label": {"zh": "甲", "en": "A"}}, {"value": "w"}]),
        field("b", "money", min="0.5", max=200000, default="1", help={"zh": "帮助"}),
        rules=[{"expr": "b > 0", "fields": ["b"], "message": {"zh": "须为正", "en": "Must be positive"}}],
        description={"zh": "说明", "en": "About"},
    )
    zh, en, en_us = (
        F.form_to_client(form, "zh"),
        F.form_to_client(form, "en"),
        F.form_to_client(form, "en-US"),
    )
    assert en_us == en
    assert zh["fields"][0]["label"] == "字段" and en["fields"][0]["label"] == "Field"
    assert en["fields"][0]["choices"] == [{"value": "v", "label": "A"}, {"value": "w", "label": "w"}]
    assert en["title"] == "测试" and en["description"] == "About"  # no English title: Chinese
    b = en["fields"][1]
    assert b["min"] == "0.5" and b["max"] == "200000" and b["places"] == 2 and b["default"] == "1"
    assert b["help"] == "帮助" and b["choices"] is None and b["required"] is False
    assert en["rules"] == [{"fields": ["b"], "message": "Must be positive"}]
    assert json.loads(json.dumps(zh)) == zh
    assert b["suggest"] is None


def test_a_string_field_picked_from_a_register_says_which():
    form = make(field("org", suggest="service_organisations", pattern="^[A-Z-]+$"))
    assert form.fields[0].suggest == "service_organisations"
    assert F.form_to_client(form, "zh")["fields"][0]["suggest"] == "service_organisations"
    # still a string field: its own checks hold (the register is checked by the step that reads it)
    assert F.validate_submission(form, {"org": "PD-SW"}) == ({"org": "PD-SW"}, {})
    assert list(F.validate_submission(form, {"org": "pd sw"})[1]) == ["org"]


def test_jsonable():
    value = {
        "a": Decimal("1.10"),
        "b": [dt.date(2026, 1, 2), (1, 2)],
        "c": {"d": dt.datetime(2026, 1, 2, 3, tzinfo=dt.UTC)},
        "e": None,
        1: "k",
    }
    assert F.jsonable(value) == {
        "a": "1.10",
        "b": ["2026-01-02", [1, 2]],
        "c": {"d": "2026-01-02T03:00:00+00:00"},
        "e": None,
        "1": "k",
    }


# --- table fields --------------------------------------------------------------------------------


def _table_form(**options):
    table = {
        "name": "workers",
        "type": "table",
        "label": {"zh": "派出社工", "en": "Social workers dispatched"},
        "required": True,
        "min_rows": 2,
        "columns": [
            {
                "name": "initials",
                "type": "string",
                "label": {"zh": "姓名缩写"},
                "required": True,
                "max_length": 10,
            },
            {
                "name": "certified",
                "type": "boolean",
                "label": {"zh": "持证"},
                "required": True,
                "must_be_true": True,
            },
            {
                "name": "years",
                "type": "decimal",
                "label": {"zh": "直接服务年限"},
                "required": True,
                "min": "2",
            },
            {"name": "since", "type": "date", "label": {"zh": "入职日期"}},
        ],
        **options,
    }
    return F.parse_form({"key": "dispatch", "title": {"zh": "派出"}, "fields": [table]})


def test_table_rows_are_cleaned_to_python_types():
    form = _table_form()
    rows = [
        {"initials": "A", "certified": True, "years": "3", "since": "2020-03-01"},
        {"initials": "B", "certified": True, "years": 2},
    ]
    clean, errors = F.validate_submission(form, {"workers": rows})
    assert errors == {}
    assert clean["workers"] == [
        {"initials": "A", "certified": True, "years": Decimal("3"), "since": dt.date(2020, 3, 1)},
        {"initials": "B", "certified": True, "years": Decimal("2")},
    ]


def test_table_errors_name_row_and_column():
    form = _table_form()
    rows = [
        {"initials": "A", "certified": True, "years": "3"},
        {"certified": False, "years": "1.5", "extra": 1},
    ]
    errors = F.validate_submission(form, {"workers": rows})[1]["workers"]
    assert any("第 2 行「持证」" in e and "(row 2, certified)" in e for e in errors)
    assert any("(row 2, years)" in e and "不能小于 2" in e for e in errors)
    assert any("(row 2, initials)" in e and "必填" in e for e in errors)
    assert any("(row 2, extra)" in e and "未知字段" in e for e in errors)
    assert not any("row 1" in e for e in errors)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ([], "必填"),
        ("x", "记录列表"),
        ([{"initials": "A", "certified": True, "years": "3"}], "至少 2 行"),
        ([1, 2], "必须是对象"),
    ],
)
def test_table_shape_refusals(value, fragment):
    errors = F.validate_submission(_table_form(), {"workers": value})[1]
    assert any(fragment in e for e in errors["workers"]), errors


def test_table_max_rows_and_rules_over_rows():
    form = F.parse_form(
        {
            "key": "dispatch",
            "title": {"zh": "派出"},
            "fields": [
                {
                    "name": "workers",
                    "type": "table",
                    "label": {"zh": "派出社工"},
                    "max_rows": 3,
                    "columns": [
                        {"name": "days", "type": "integer", "label": {"zh": "工作日"}, "required": True}
                    ],
                }
            ],
            "rules": [
                {
                    "expr": "sum([w['days'] for w in workers]) >= 40",
                    "fields": ["workers"],
                    "message": {"zh": "合计不少于40个工作日"},
                }
            ],
        }
    )
    assert F.validate_submission(form, {"workers": [{"days": 20}, {"days": 20}]})[1] == {}
    assert (
        "合计不少于40个工作日"
        in F.validate_submission(form, {"workers": [{"days": 20}, {"days": 19}]})[1]["workers"][0]
    )
    assert "最多 3 行" in F.validate_submission(form, {"workers": [{"days": 1}] * 4})[1]["workers"][0]


@pytest.mark.parametrize(
    ("columns", "fragment"),
    [
        ([], "non-empty 'columns'"),
        (None, "non-empty 'columns'"),
        (
            [
                {
                    "name": "t",
                    "type": "table",
                    "label": {"zh": "t"},
                    "columns": [{"name": "x", "type": "string", "label": {"zh": "x"}}],
                }
            ],
            "may not be tables",
        ),
        ([{"name": "x", "type": "string", "label": {"zh": "x"}, "readonly": True}], "read-only"),
        (
            [
                {"name": "x", "type": "string", "label": {"zh": "x"}},
                {"name": "x", "type": "integer", "label": {"zh": "y"}},
            ],
            "duplicate column",
        ),
        ([{"name": "x", "type": "nope", "label": {"zh": "x"}}], "unknown type"),
    ],
)
def test_table_definition_errors(columns, fragment):
    raw = {"name": "workers", "type": "table", "label": {"zh": "表"}}
    if columns is not None:
        raw["columns"] = columns
    with pytest.raises(F.FormError, match=fragment):
        F.parse_form({"key": "k", "title": {"zh": "t"}, "fields": [raw]})


def test_table_options_only_on_tables_and_client_description():
    with pytest.raises(F.FormError, match="does not apply"):
        F.parse_form(
            {
                "key": "k",
                "title": {"zh": "t"},
                "fields": [{"name": "x", "type": "string", "label": {"zh": "x"}, "min_rows": 1}],
            }
        )
    described = F.form_to_client(_table_form(), "en")["fields"][0]
    assert described["type"] == "table" and described["min_rows"] == 2 and described["max_rows"] == 200
    assert [c["name"] for c in described["columns"]] == ["initials", "certified", "years", "since"]
    assert described["columns"][2]["min"] == "2"
