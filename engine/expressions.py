"""Safe expression evaluation for BPMN conditions, timers, loops, scripts and form rules.

Nothing here calls Python's ``eval``/``exec``. Expressions are parsed with :mod:`ast`, checked against
the node types simpleeval supports plus a short whitelist of functions, and evaluated by simpleeval.
Script tasks may contain only assignments (``name = expression``), each evaluated the same way.

Modelers write things SpiffWorkflow would not accept as Python: unquoted ISO-8601 timer literals
(``P5D``, ``2026-12-01T09:00:00+08:00``, ``R/P1M``) and JUEL conditions (``${amount > 1000 && ok}``).
:func:`normalize` turns both into safe expressions.
"""

from __future__ import annotations

import ast
import datetime as dt
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from simpleeval import DEFAULT_OPERATORS, EvalWithCompoundTypes, InvalidExpression

from engine import errors

__all__ = [
    "ExpressionError",
    "ExpressionLimit",
    "check",
    "check_script",
    "evaluate",
    "execute_script",
    "gated",
    "normalize",
    "weight",
]

MAX_EXPRESSION_LENGTH = 2000

# Bounds of one evaluation (issue 18 item 10). Static limits refuse an operation *before* it runs when
# its result would be too large (a single ``10 ** 10 ** 9`` or ``'%0300000000d' % 0`` is one C call
# that no clock can interrupt); the time budget stops long chains of small steps between nodes.
MAX_INT_BITS = 3400  # about 1,000 decimal digits; far below Python's 4,300-digit str() limit
MAX_STRING_LENGTH = 100_000
MAX_FORMAT_WIDTH = 1_000  # %-formatting, f-string and format widths and precisions
MAX_WEIGHT = 200_000  # a value's size: 1 per element and per 64 bits, string lengths, aliases counted
EVAL_TIME_BUDGET = 0.5  # seconds per expression or per script


@errors.family(errors.Invalid)
class ExpressionError(ValueError):
    """An expression is outside the safe subset or failed to evaluate."""


class ExpressionLimit(ExpressionError):
    """An evaluation was refused because it would exceed a time or size bound."""


def _limit(message: str) -> ExpressionError:
    return ExpressionLimit(f"超出计算限制 / evaluation limit exceeded: {message}")


def weight(value: Any, budget: int | None = None) -> int:
    """The size of ``value`` as serialization or ``str()`` would walk it, stopping past ``budget``.

    Containers are walked with every alias counted again (``x = [x, x]`` doubles), so a small object
    graph that expands hugely is measured by its expansion; cycles exceed any budget.
    """
    limit = MAX_WEIGHT if budget is None else budget
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str | bytes | bytearray):
            total += 1 + len(item)
        elif isinstance(item, bool) or item is None:
            total += 1
        elif isinstance(item, int):
            total += 1 + item.bit_length() // 64
        elif isinstance(item, dict):
            total += 1 + len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            total += 1 + len(item)
            stack.extend(item)
        else:
            total += 1
        if total > limit:
            return total
    return total


def _check_value(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise _limit(f"integer larger than {MAX_INT_BITS} bits")
    if isinstance(value, str | bytes) and len(value) > MAX_STRING_LENGTH:
        raise _limit(f"text longer than {MAX_STRING_LENGTH} characters")
    if isinstance(value, list | tuple | set | frozenset | dict) and weight(value) > MAX_WEIGHT:
        raise _limit(f"value larger than {MAX_WEIGHT} elements")
    return value


def _int_bits(value: Any) -> int:
    return value.bit_length() if isinstance(value, int) and not isinstance(value, bool) else 0


def _sized(value: Any) -> bool:
    return isinstance(value, str | bytes | list | tuple)


def _repeat_size(seq: Any, times: Any) -> int:
    n = max(int(times), 0)
    return len(seq) * n if isinstance(seq, str | bytes) else weight(seq) * n


def _bounded_pow(a: Any, b: Any) -> Any:
    if isinstance(b, int) and not isinstance(b, bool) and isinstance(a, int | float):
        if abs(b) > 100_000:
            raise _limit(f"exponent {b} too large")
        if isinstance(a, int) and b > 0 and abs(a) > 1 and a.bit_length() * b > MAX_INT_BITS:
            raise _limit(f"{a.bit_length()}-bit number to the power {b}")
    elif isinstance(b, int | float | Decimal) and abs(float(b)) > 100_000:
        raise _limit(f"exponent {b} too large")
    return a**b


def _bounded_mult(a: Any, b: Any) -> Any:
    if _sized(a) and isinstance(b, int):
        if _repeat_size(a, b) > (MAX_STRING_LENGTH if isinstance(a, str | bytes) else MAX_WEIGHT):
            raise _limit("repetition too long")
    elif _sized(b) and isinstance(a, int):
        if _repeat_size(b, a) > (MAX_STRING_LENGTH if isinstance(b, str | bytes) else MAX_WEIGHT):
            raise _limit("repetition too long")
    elif _int_bits(a) + _int_bits(b) > MAX_INT_BITS:
        raise _limit(f"product larger than {MAX_INT_BITS} bits")
    return a * b


def _bounded_add(a: Any, b: Any) -> Any:
    if isinstance(a, str | bytes) and isinstance(b, str | bytes):
        if len(a) + len(b) > MAX_STRING_LENGTH:
            raise _limit("text too long")
    elif _sized(a) and _sized(b) and weight(a) + weight(b) > MAX_WEIGHT:
        raise _limit("sequence too long")
    return a + b


def _bounded_lshift(a: Any, b: Any) -> Any:
    if isinstance(b, int) and b > 0 and _int_bits(a) + b > MAX_INT_BITS:
        raise _limit(f"shift larger than {MAX_INT_BITS} bits")
    return a << b


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d*))?")
_NUMBER = re.compile(r"\d+")


def _check_widths(numbers: list[str]) -> None:
    for number in numbers:
        if number == "*":
            raise _limit("'*' widths are not allowed")
        if number and len(number) > 4 or number and int(number) > MAX_FORMAT_WIDTH:
            raise _limit(f"format width or precision {number} larger than {MAX_FORMAT_WIDTH}")


def _bounded_mod(a: Any, b: Any) -> Any:
    if isinstance(a, str | bytes):
        text = a.decode("latin-1") if isinstance(a, bytes) else a
        for match in _PERCENT_SPEC.finditer(text):
            _check_widths([g for g in match.groups() if g])
        if weight(b) > MAX_WEIGHT // 10:
            raise _limit("formatted value too large")
    return a % b


_OPERATORS: dict[Any, Any] = {
    **DEFAULT_OPERATORS,
    ast.Pow: _bounded_pow,
    ast.Mult: _bounded_mult,
    ast.Add: _bounded_add,
    ast.LShift: _bounded_lshift,
    ast.Mod: _bounded_mod,
}


def _bounded_sum(values: Any, start: Any = 0) -> Any:
    if not isinstance(start, int | float | Decimal):
        raise ExpressionError("sum() adds numbers only / sum() 只能对数字求和")
    return sum(values, start)


def _to_decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError) as err:
        raise ExpressionError(f"not a number: {value!r}") from err


def _to_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def _days_between(a: Any, b: Any) -> int:
    return (_to_date(b) - _to_date(a)).days


PARAMS_KEY = "_params"  # a case's policy parameters (engine.policy): {"values": {name: value}, ...}
_PARAM_DECIMAL = re.compile(r"^-?\d{1,12}(\.\d{1,6})?$")


def _param_reader(names: Mapping[str, Any]) -> Any:
    """``param('name')``: the value of a policy parameter the case keeps (decimals as Decimal)."""

    def param(name: Any) -> Any:
        kept = names.get(PARAMS_KEY)
        values = kept.get("values") if isinstance(kept, dict) else None
        if not isinstance(name, str) or not isinstance(values, dict) or name not in values:
            raise ExpressionError(f"参数不存在 / no policy parameter {str(name)[:40]!r} for this case")
        value = values[name]
        return Decimal(value) if isinstance(value, str) and _PARAM_DECIMAL.match(value) else value

    return param


def _no_parameters(name: Any) -> Any:
    raise ExpressionError(f"参数不存在 / no policy parameter {str(name)[:40]!r} for this case")


SAFE_FUNCTIONS: dict[str, Any] = {
    "param": _no_parameters,  # bound to the case's parameters at evaluation
    "len": len,
    "min": min,
    "max": max,
    "abs": abs,
    "round": round,
    "sum": _bounded_sum,
    "any": any,
    "all": all,
    "int": int,
    "str": str,
    "bool": bool,
    "float": float,
    "sorted": sorted,
    "list": list,
    "dict": dict,
    "set": set,
    "tuple": tuple,
    "Decimal": _to_decimal,
    "decimal": _to_decimal,
    "date": _to_date,
    "days_between": _days_between,
}

SAFE_NAMES: dict[str, Any] = {
    "True": True,
    "False": False,
    "None": None,
    "true": True,
    "false": False,
    "null": None,
}

# Node types simpleeval's compound evaluator knows, read from the library itself.
_EVALUATOR_NODES: tuple[type, ...] = tuple(EvalWithCompoundTypes().nodes.keys())
_STRUCTURAL_NODES: tuple[type, ...] = (
    ast.Expression,
    ast.Load,
    ast.operator,
    ast.unaryop,
    ast.cmpop,
    ast.boolop,
    ast.comprehension,
    ast.Store,
    ast.keyword,
    ast.expr_context,
)

# ISO-8601 literals as modelers write them unquoted in timer definitions.
_ISO_DURATION = r"P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?"
_ISO_DATETIME = r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?"
_ISO_CYCLE = rf"R\d*(/({_ISO_DATETIME}|{_ISO_DURATION})){{1,2}}"
_ISO_LITERAL = re.compile(rf"^({_ISO_DURATION}|{_ISO_DATETIME}|{_ISO_CYCLE})$")


def is_iso_literal(text: str) -> bool:
    return bool(_ISO_LITERAL.match(text.strip()))


def _juel_to_python(body: str) -> str:
    out = body.replace("&&", " and ").replace("||", " or ")
    out = re.sub(r"!(?!=)", " not ", out)
    out = re.sub(r"\beq\b", "==", out)
    out = re.sub(r"\bne\b", "!=", out)
    return out


@lru_cache(maxsize=4096)
def normalize(expression: str) -> str:
    """Return a safe-evaluator expression for what a modeler wrote."""
    text = (expression or "").strip()
    if text.startswith("${") and text.endswith("}") or text.startswith("#{") and text.endswith("}"):
        text = _juel_to_python(text[2:-1].strip())
    if is_iso_literal(text):
        return repr(text)
    return text


@lru_cache(maxsize=4096)
def _parse(expression: str) -> ast.Expression:
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_EXPRESSION_LENGTH} characters")
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as err:
        raise ExpressionError(f"syntax error in expression {expression!r}: {err.msg}") from err
    _check_tree(tree, expression)
    return tree


def _check_tree(tree: ast.AST, source: str) -> None:
    for node in ast.walk(tree):
        if isinstance(node, _STRUCTURAL_NODES):
            continue
        if not isinstance(node, _EVALUATOR_NODES):
            raise ExpressionError(f"{type(node).__name__} is not allowed in expression {source!r}")
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise ExpressionError(f"attribute {node.attr!r} is not allowed in expression {source!r}")
        if isinstance(node, ast.Name) and node.id.startswith("__"):
            raise ExpressionError(f"name {node.id!r} is not allowed in expression {source!r}")
        if isinstance(node, ast.Call) and (
            not isinstance(node.func, ast.Name) or node.func.id not in SAFE_FUNCTIONS
        ):
            name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            raise ExpressionError(
                f"function {name!r} is not allowed in expression {source!r}; "
                f"allowed: {', '.join(sorted(SAFE_FUNCTIONS))}"
            )


def check(expression: str) -> None:
    """Raise :class:`ExpressionError` if ``expression`` is outside the safe subset."""
    _parse(normalize(expression))


_VALUE_TYPES = (str, bytes, int, float, bool, Decimal, dt.date, list, dict, set, tuple, frozenset)


def _is_function_or_type(value: Any) -> bool:
    """A type, a function, or a builtin not bound to a plain value (``len``; not ``"abc".upper``)."""
    if isinstance(value, type):
        return True
    if not callable(value):
        return False
    return not isinstance(getattr(value, "__self__", None), _VALUE_TYPES)


class _Evaluator(EvalWithCompoundTypes):
    """simpleeval's evaluator, refusing attributes and subscripts of the functions and types themselves.

    ``int.real`` or ``str.maketrans`` would hand out descriptors and unbound methods of built-in types;
    attributes of values (``(1).real``, ``"abc".upper``) stay as simpleeval allows them.
    """

    def _eval_attribute(self, node: ast.Attribute) -> Any:
        if _is_function_or_type(self._eval(node.value)):
            raise ExpressionError(f"attribute {node.attr!r} of a function or type is not allowed")
        return super()._eval_attribute(node)

    def _eval_subscript(self, node: ast.Subscript) -> Any:
        # ``list[0]`` would make a typing alias (types.GenericAlias), not a value
        if _is_function_or_type(self._eval(node.value)):
            raise ExpressionError("subscripting a function or type is not allowed")
        return super()._eval_subscript(node)

    # -- bounds (issue 18 item 10) --
    deadline: float = 0.0
    _CHECKED = (ast.BinOp, ast.Call, ast.List, ast.Tuple, ast.Set, ast.Dict, ast.ListComp, ast.DictComp)

    def start_clock(self) -> None:
        self.deadline = time.monotonic() + EVAL_TIME_BUDGET

    def _eval(self, node: ast.AST) -> Any:
        if time.monotonic() > self.deadline:
            raise _limit(f"time budget of {EVAL_TIME_BUDGET} s used up")
        value = super()._eval(node)
        if isinstance(node, self._CHECKED):
            _check_value(value)
        return value

    def _eval_formattedvalue(self, node: ast.FormattedValue) -> Any:
        if node.format_spec:
            spec = str(self._eval(node.format_spec))
            _check_widths(_NUMBER.findall(spec))
        return super()._eval_formattedvalue(node)


# -- the gate (issue 18 item 10) --
# A caller may stand at every evaluation of this thread (engine.instances.rehearsal: on SQLite, none may
# run while the transaction holds the database's write lock). The gate is given what is evaluated
# (``"expression"`` or ``"script"``), its text, its variables and the evaluation itself; it answers the
# result: the evaluation's, one it worked out before for the same inputs, or it raises to have the
# evaluation done elsewhere. A script's result is the mapping of the names it assigned.
Gate = Callable[[str, str, Mapping[str, Any], Callable[[], Any]], Any]
_GATE: ContextVar[Gate | None] = ContextVar("assistflow_evaluation_gate", default=None)


@contextmanager
def gated(gate: Gate | None) -> Iterator[None]:
    """Put ``gate`` (``None``: none) at every evaluation of this context while the block runs."""
    token = _GATE.set(gate)
    try:
        yield
    finally:
        _GATE.reset(token)


def evaluate(expression: str, names: Mapping[str, Any]) -> Any:
    """Evaluate ``expression`` with ``names`` (task or form data) as variables."""
    gate = _GATE.get()
    if gate is None:
        return _evaluate(expression, names)
    return gate("expression", expression, names, lambda: _evaluate(expression, names))


def _evaluate(expression: str, names: Mapping[str, Any]) -> Any:
    text = normalize(expression)
    tree = _parse(text)
    evaluator = _Evaluator(
        operators=dict(_OPERATORS),
        functions={**SAFE_FUNCTIONS, "param": _param_reader(names)},
        names={**SAFE_NAMES, **names},
    )
    evaluator.start_clock()
    try:
        return evaluator.eval(text, previously_parsed=tree.body)  # results checked node by node
    except ExpressionError:
        raise
    except InvalidExpression as err:
        raise ExpressionError(f"cannot evaluate {text!r}: {err}") from err
    except Exception as err:  # arithmetic errors, type errors on user data
        raise ExpressionError(f"cannot evaluate {text!r}: {type(err).__name__}: {err}") from err


@lru_cache(maxsize=1024)
def _parse_script(script: str) -> tuple[tuple[str, str, ast.Expression], ...]:
    try:
        module = ast.parse(script, mode="exec")
    except SyntaxError as err:
        raise ExpressionError(f"syntax error in script line {err.lineno}: {err.msg}") from err
    steps: list[tuple[str, str, ast.Expression]] = []
    for stmt in module.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            target = stmt.targets[0].id
            value = stmt.value
        elif isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name):
            target = stmt.target.id
            value = ast.BinOp(left=ast.Name(id=target, ctx=ast.Load()), op=stmt.op, right=stmt.value)
        else:
            raise ExpressionError(
                f"script line {stmt.lineno}: only assignments 'name = expression' are allowed, "
                f"found {type(stmt).__name__}"
            )
        if target.startswith("_"):
            raise ExpressionError(f"script line {stmt.lineno}: variable {target!r} is not allowed")
        tree = ast.Expression(body=ast.fix_missing_locations(ast.copy_location(value, stmt)))
        source = ast.unparse(value)
        _check_tree(tree, source)
        steps.append((target, source, tree))
    return tuple(steps)


def check_script(script: str) -> None:
    """Raise :class:`ExpressionError` unless ``script`` is a list of safe assignments."""
    _parse_script(script or "")


def execute_script(script: str, data: dict[str, Any]) -> None:
    """Run a script of safe assignments, updating ``data`` in place."""
    gate = _GATE.get()
    if gate is None:
        _execute_script(script, data)
        return

    def run() -> dict[str, Any]:
        scratch = dict(data)  # the script's names are read from the data; what it assigns is kept apart
        _execute_script(script, scratch)
        return {target: scratch[target] for target, _source, _tree in _parse_script(script or "")}

    data.update(gate("script", script, data, run))


def _execute_script(script: str, data: dict[str, Any]) -> None:
    deadline = time.monotonic() + EVAL_TIME_BUDGET
    for target, source, tree in _parse_script(script or ""):
        evaluator = _Evaluator(
            operators=dict(_OPERATORS),
            functions={**SAFE_FUNCTIONS, "param": _param_reader(data)},
            names={**SAFE_NAMES, **data},
        )
        evaluator.deadline = deadline  # one budget for the whole script
        try:
            data[target] = evaluator.eval(source, previously_parsed=tree.body)
        except ExpressionError as err:
            raise type(err)(f"script assignment to {target!r} failed: {err}") from err
        except Exception as err:
            raise ExpressionError(
                f"script assignment to {target!r} failed: {type(err).__name__}: {err}"
            ) from err
