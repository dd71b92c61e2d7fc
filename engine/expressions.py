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
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from simpleeval import EvalWithCompoundTypes, InvalidExpression

__all__ = [
    "ExpressionError",
    "check",
    "check_script",
    "evaluate",
    "execute_script",
    "normalize",
]

MAX_EXPRESSION_LENGTH = 2000


class ExpressionError(ValueError):
    """An expression is outside the safe subset or failed to evaluate."""


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


SAFE_FUNCTIONS: dict[str, Any] = {
    "len": len,
    "min": min,
    "max": max,
    "abs": abs,
    "round": round,
    "sum": sum,
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


def evaluate(expression: str, names: Mapping[str, Any]) -> Any:
    """Evaluate ``expression`` with ``names`` (task or form data) as variables."""
    text = normalize(expression)
    tree = _parse(text)
    evaluator = _Evaluator(functions=dict(SAFE_FUNCTIONS), names={**SAFE_NAMES, **names})
    try:
        return evaluator.eval(text, previously_parsed=tree.body)
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
    for target, source, tree in _parse_script(script or ""):
        evaluator = _Evaluator(functions=dict(SAFE_FUNCTIONS), names={**SAFE_NAMES, **data})
        try:
            data[target] = evaluator.eval(source, previously_parsed=tree.body)
        except Exception as err:
            raise ExpressionError(
                f"script assignment to {target!r} failed: {type(err).__name__}: {err}"
            ) from err
