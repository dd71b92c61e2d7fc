"""Property-based tests (hypothesis): the safe evaluator and form validation under arbitrary input.

Properties:
* expressions and scripts either evaluate or raise :class:`ExpressionError` — never anything else —
  and nothing they return reaches outside the sandbox (no module, code, frame, class or function
  beyond the whitelisted helpers); nothing they run touches the file system;
* form validation returns (clean data, messages per field) for any submission and any context — it
  never raises — and what it returns is JSON-storable with money as Decimal, never float.

Bounded: ``max_examples`` per property below, no deadline; the whole file runs in a few seconds.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import types
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import expressions as ex
from engine import forms as F
from engine.db import dumps
from tests.conftest import figure

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = 200
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    database=None,
)
TRIED: dict[str, int] = {}
figure("hypothesis", lambda: ", ".join(f"{k}: {v}" for k, v in sorted(TRIED.items())))


def _count(name: str) -> None:
    TRIED[name] = TRIED.get(name, 0) + 1


# --- the oracle: what an evaluation may hand back -----------------------------------------------

_SAFE_SCALARS = (int, float, Decimal, str, bool, type(None), dt.date, dt.datetime, bytes, complex)
_ALLOWED_CALLABLES = {id(v) for v in ex.SAFE_FUNCTIONS.values()}


def _inside_sandbox(value, depth: int = 0) -> bool:
    if depth > 50:
        return True
    if isinstance(value, _SAFE_SCALARS):
        return True
    if isinstance(value, list | tuple | set | frozenset):
        return all(_inside_sandbox(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(_inside_sandbox(k, depth + 1) and _inside_sandbox(v, depth + 1) for k, v in value.items())
    if id(value) in _ALLOWED_CALLABLES:
        return True
    if isinstance(value, types.ModuleType | types.CodeType | types.FrameType | type | types.FunctionType):
        return False
    if callable(value):  # a bound method of a safe value (e.g. "abc".upper) is harmless
        return isinstance(value, types.BuiltinMethodType) and isinstance(
            getattr(value, "__self__", None), _SAFE_SCALARS + (list, dict, set, tuple)
        )
    return isinstance(value, range | types.GeneratorType | map | filter | zip | enumerate | reversed)


# --- generators ---------------------------------------------------------------------------------

CANARY = Path("/tmp/assistflow-hypothesis-canary")
NAMES = ["amount", "x", "items", "data", "decision", "n"]
DANGEROUS_NAMES = [
    "__import__",
    "__builtins__",
    "open",
    "eval",
    "exec",
    "compile",
    "getattr",
    "setattr",
    "globals",
    "locals",
    "vars",
    "type",
    "object",
    "input",
    "breakpoint",
    "_private",
]
ATTRIBUTES = [
    "__class__",
    "__mro__",
    "__subclasses__",
    "__globals__",
    "__builtins__",
    "__code__",
    "__dict__",
    "__init__",
    "__getattribute__",
    "func_globals",
    "gi_frame",
    "f_globals",
    "format",
    "format_map",
    "mro",
    "upper",
    "keys",
    "items",
    "get",
    "real",
    "conjugate",
]
CANNED = [
    f"__import__('os').system('touch {CANARY}')",
    f"open('{CANARY}', 'w').write('x')",
    "().__class__.__bases__[0].__subclasses__()",
    "'{0.__class__.__mro__}'.format(1)",
    "str.format('{0.__init__.__globals__}', x)",
    "[c for c in ().__class__.__base__.__subclasses__()]",
    "(lambda: 1)()",
    "type(x)",
    "getattr(x, '__class__')",
    "int.__subclasses__()",
    "Decimal.__module__",
    "date.today.__self__",
    "(x for x in items).gi_frame.f_globals",
    "9 ** 9 ** 9",
    "'a' * 10 ** 9",
    "[1] * 10 ** 9",
    "sum(range(10 ** 12))",
    "${amount > 1000 && !done}",
    "P5D",
    "R/P1M",
]
LITERALS = st.one_of(
    st.integers(-(10**20), 10**20).map(repr),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=8).map(repr),
    st.sampled_from(["True", "False", "None", "[]", "{}", "()", "''", "P5D", "'2026-01-31'"]),
)
BINOPS = ["+", "-", "*", "/", "//", "%", "**", "==", "!=", "<", ">=", " and ", " or ", " in ", " if x else "]


def _exprs() -> st.SearchStrategy[str]:
    leaves = st.one_of(LITERALS, st.sampled_from(NAMES + DANGEROUS_NAMES + list(ex.SAFE_FUNCTIONS)))

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.tuples(inner, st.sampled_from(BINOPS), inner).map(lambda t: f"({t[0]}{t[1]}{t[2]})"),
            st.tuples(st.sampled_from(["-", "not ", "~"]), inner).map(lambda t: f"({t[0]}{t[1]})"),
            st.tuples(inner, st.sampled_from(ATTRIBUTES)).map(lambda t: f"{t[0]}.{t[1]}"),
            st.tuples(inner, inner).map(lambda t: f"{t[0]}[{t[1]}]"),
            st.tuples(
                st.sampled_from(list(ex.SAFE_FUNCTIONS) + DANGEROUS_NAMES), st.lists(inner, max_size=3)
            ).map(lambda t: f"{t[0]}({', '.join(t[1])})"),
            st.tuples(inner, inner).map(lambda t: f"[{t[0]} for v in {t[1]}]"),
            st.lists(inner, max_size=3).map(lambda xs: f"[{', '.join(xs)}]"),
            st.tuples(inner, inner).map(lambda t: f"{{{t[0]}: {t[1]}}}"),
            st.tuples(inner).map(lambda t: f"lambda: {t[0]}"),
            st.tuples(inner).map(lambda t: "${" + t[0].replace(" and ", " && ") + "}"),
        )

    return st.one_of(st.sampled_from(CANNED), st.recursive(leaves, extend, max_leaves=12))


JSON_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(10**30), 10**30),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=20),
        st.sampled_from(["2026-11-20", "2026-11-20T10:00:00+08:00", "1200.50", "0.001", "1e5", "NaN"]),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=10,
)
NAME_VALUES = st.dictionaries(st.sampled_from(NAMES), JSON_VALUES, max_size=6)


def _evaluates_safely(expression: str, names: dict) -> None:
    try:
        result = ex.evaluate(expression, names)
    except ex.ExpressionError:
        return
    assert _inside_sandbox(result), (expression, type(result), result)


@pytest.fixture(autouse=True, scope="module")
def _canary():
    CANARY.unlink(missing_ok=True)
    yield
    assert not CANARY.exists(), "an expression touched the file system"


@SETTINGS
@given(expression=_exprs(), names=NAME_VALUES)
def test_generated_expressions_never_escape_or_crash(expression, names):
    _count("expressions (generated ASTs)")
    _evaluates_safely(expression, names)


@SETTINGS
@given(expression=st.text(max_size=200), names=NAME_VALUES)
def test_arbitrary_text_never_escapes_or_crashes(expression, names):
    _count("expressions (arbitrary text)")
    _evaluates_safely(expression, names)
    with contextlib.suppress(ex.ExpressionError):
        ex.check(expression)


@SETTINGS
@given(
    lines=st.lists(
        st.one_of(
            st.tuples(st.sampled_from(NAMES + ["_x", "__class__", "y"]), _exprs()).map(
                lambda t: f"{t[0]} = {t[1]}"
            ),
            st.text(max_size=40),
            st.sampled_from(["import os", "del x", "x.y = 1", "def f(): pass", "x += 1", "for i in x: pass"]),
        ),
        max_size=5,
    ),
    names=NAME_VALUES,
)
def test_scripts_only_assign_and_never_crash(lines, names):
    _count("scripts")
    data = dict(names)
    try:
        ex.execute_script("\n".join(lines), data)
    except ex.ExpressionError:
        return
    for value in data.values():
        assert _inside_sandbox(value), lines


@pytest.mark.parametrize(
    "text",
    ["\x00", "1\x00", "(" * 300 + ")" * 300, "-" * 5000 + "1", "not " * 600 + "x", "x" + ".real" * 400],
)
def test_pathological_text_is_evaluated_or_refused_never_crashed(text):
    _evaluates_safely(text, {"x": 1})


# --- forms --------------------------------------------------------------------------------------

ALL_TYPES_FORM = F.parse_form(
    {
        "key": "prop_all_types",
        "title": {"zh": "全部类型"},
        "fields": [
            {"name": "s", "type": "string", "label": {"zh": "s"}, "max_length": 20, "pattern": "^[a-z]*$"},
            {"name": "t", "type": "text", "label": {"zh": "t"}},
            {"name": "i", "type": "integer", "label": {"zh": "i"}, "min": 0, "max": 100},
            {"name": "d", "type": "decimal", "label": {"zh": "d"}, "places": 3},
            {"name": "m", "type": "money", "label": {"zh": "m"}, "required": True, "min": "0.01"},
            {"name": "b", "type": "boolean", "label": {"zh": "b"}},
            {"name": "day", "type": "date", "label": {"zh": "day"}},
            {"name": "at", "type": "datetime", "label": {"zh": "at"}},
            {
                "name": "c",
                "type": "choice",
                "label": {"zh": "c"},
                "choices": [{"value": "a", "label": {"zh": "A"}}, {"value": "b", "label": {"zh": "B"}}],
            },
            {
                "name": "mc",
                "type": "multi_choice",
                "label": {"zh": "mc"},
                "choices": [{"value": "a", "label": {"zh": "A"}}, {"value": "b", "label": {"zh": "B"}}],
            },
            {"name": "idn", "type": "id_number", "label": {"zh": "idn"}},
            {"name": "ph", "type": "phone", "label": {"zh": "ph"}},
            {"name": "ro", "type": "string", "label": {"zh": "ro"}, "readonly": True},
            {"name": "req_if", "type": "string", "label": {"zh": "r"}, "required_if": "b == True"},
        ],
        "rules": [
            {"expr": "m <= i * 100", "fields": ["m"], "message": {"zh": "规则", "en": "rule"}},
            {"expr": "len(t) < 50", "fields": ["t"], "message": {"zh": "规则2"}},
        ],
    }
)
REAL_FORMS = sorted(F.load_forms_dir(ROOT / "forms").values(), key=lambda f: f.key)
FORMS = [ALL_TYPES_FORM, *REAL_FORMS]


def _submissions(form: F.FormDefinition) -> st.SearchStrategy:
    names = [f.name for f in form.fields]
    keys = st.one_of(st.sampled_from(names), st.text(max_size=12)) if names else st.text(max_size=12)
    return st.one_of(
        st.dictionaries(keys, JSON_VALUES, max_size=len(names) + 3),
        JSON_VALUES,  # not even an object
    )


def _no_float(value) -> bool:
    if isinstance(value, float):
        return False
    if isinstance(value, dict):
        return all(_no_float(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(_no_float(v) for v in value)
    return True


@SETTINGS
@given(data=st.data())
def test_form_validation_never_crashes(data):
    form = data.draw(st.sampled_from(FORMS), label="form")
    submission = data.draw(_submissions(form), label="submission")
    context = data.draw(NAME_VALUES, label="context")
    _count("form submissions")
    clean, errors = F.validate_submission(form, submission, context)
    assert isinstance(clean, dict) and isinstance(errors, dict)
    for name, messages in errors.items():
        assert isinstance(name, str) and messages and all(isinstance(m, str) and m for m in messages)
    json.loads(dumps(F.jsonable(clean)))  # storable as it is
    money = {f.name for f in form.fields if f.type in ("money", "decimal")}
    for name in money & set(clean):
        assert clean[name] is None or isinstance(clean[name], Decimal)
    assert _no_float({k: v for k, v in clean.items() if k in {f.name for f in form.fields}})
    if not errors:
        assert set(clean) <= {f.name for f in form.fields}, "unknown fields are refused, never kept"
