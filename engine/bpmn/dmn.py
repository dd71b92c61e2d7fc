"""DMN decision tables: read safely, checked cell by cell, evaluated by the safe expression evaluator.

A DMN file (1.1 to 1.5, as dmn-js and Camunda Modeler write it) holds one decision with one decision
table; the decision's id is the key business-rule tasks name. Cells are FEEL-ish *simple unary tests*:

* ``-`` or an empty cell matches anything;
* a value (``"district"``, ``20000``, ``true``, ``param('district_threshold')``) matches an equal input;
* a comparison ``< 5``, ``<= 5``, ``> param('x')``, ``>= 5``, ``!= "a"``, ``= 3``;
* a range ``[1..10]`` (both ends included), ``(1..10)`` or ``]1..10[`` (ends excluded), mixed ends;
* a list of the above, comma separated (any one matches): ``"dibao","dibao_edge"``, ``< 0, > 100``;
* ``not(...)`` of a list; ``null`` matches a missing input;
* an expression with ``?`` standing for the input (``? % 2 == 0``), as SpiffWorkflow writes them.

Every value, endpoint and output entry is an expression of :mod:`engine.expressions` (never Python
``eval``): it may read the case data and ``param('name')``. Hit policies: UNIQUE (more than one match is
an error), FIRST, ANY (matches must agree), RULE ORDER and COLLECT (lists; COLLECT may aggregate with
SUM, MIN, MAX or COUNT). No match leaves each output ``None`` (an empty list for the list policies).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from lxml import etree

from engine import expressions
from engine.bpmn.xmlsafe import BpmnInvalid, Problem, parse_xml, sha256_of, to_utf8

MAX_RULES = 500
MAX_COLUMNS = 30
_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,99}$")
HIT_POLICIES = ("UNIQUE", "FIRST", "ANY", "RULE ORDER", "COLLECT")
AGGREGATIONS = ("SUM", "MIN", "MAX", "COUNT")
_COMPARISON = re.compile(r"^(<=|>=|!=|<|>|=)\s*(.+)$", re.S)
_RANGE = re.compile(r"^([\[\(\]])\s*(.+?)\s*\.\.\s*(.+?)\s*([\]\)\[])$", re.S)
_NOT = re.compile(r"^not\s*\((.*)\)$", re.S)


class DecisionError(expressions.ExpressionError):
    """A decision table could not be evaluated on the given inputs (names the rows concerned)."""


@dataclass(frozen=True)
class Test:
    """One unary test of a cell: ``kind`` is any / eq / cmp / range / null / expr."""

    kind: str
    op: str = ""
    low: str = ""
    high: str = ""
    low_open: bool = False
    high_open: bool = False


@dataclass(frozen=True)
class Cell:
    text: str
    tests: tuple[Test, ...]
    negated: bool = False

    @property
    def matches_all(self) -> bool:
        return not self.negated and any(t.kind == "any" for t in self.tests)


@dataclass(frozen=True)
class Input:
    id: str
    label: str
    expression: str
    type_ref: str = ""


@dataclass(frozen=True)
class Output:
    id: str
    label: str
    name: str
    type_ref: str = ""


@dataclass(frozen=True)
class Rule:
    id: str
    row: int  # 1-based, as the table shows it
    cells: tuple[Cell, ...]
    outputs: tuple[str, ...]
    description: str = ""


@dataclass
class DecisionTable:
    key: str  # the decision's id: what a business-rule task names
    name: str
    hit_policy: str
    aggregation: str
    inputs: list[Input]
    outputs: list[Output]
    rules: list[Rule]
    sha256: str = ""
    problems: list[Problem] = field(default_factory=list)  # warnings (never errors) of a readable table


@dataclass(frozen=True)
class Outcome:
    result: dict[str, Any]
    matched: list[int]  # the rows that matched, 1-based


def _local(el: Any) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _children(el: Any, name: str) -> list[Any]:
    return [c for c in el if _local(c) == name]


def _text_of(el: Any) -> str:
    found = _children(el, "text")
    return (found[0].text or "").strip() if found else ""


def _split_top(text: str) -> list[str]:
    """Split on commas outside quotes, brackets and parentheses."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def _has_question_mark(text: str) -> bool:
    return "?" in re.sub(r"\"[^\"]*\"|'[^']*'", "", text)


def _one_test(text: str) -> Test:
    if text in ("", "-"):
        return Test("any")
    if text == "null":
        return Test("null")
    if _has_question_mark(text):
        expression = re.sub(r"\?(?=(?:[^'\"]|['\"][^'\"]*['\"])*$)", "dmn_input", text)
        expressions.check(expression)
        return Test("expr", low=expression)
    ranged = _RANGE.match(text)
    if ranged:
        opening, low, high, closing = ranged.groups()
        expressions.check(low)
        expressions.check(high)
        return Test("range", low=low, high=high, low_open=opening in "(]", high_open=closing in ")[")
    compared = _COMPARISON.match(text)
    if compared:
        op, operand = compared.groups()
        expressions.check(operand.strip())
        return Test("cmp", op="==" if op == "=" else op, low=operand.strip())
    expressions.check(text)
    return Test("eq", low=text)


def parse_cell(text: str | None) -> Cell:
    """A cell's unary tests; :class:`expressions.ExpressionError` when a part cannot be read."""
    raw = (text or "").strip()
    negated = _NOT.match(raw)
    body = negated.group(1).strip() if negated else raw
    tests = tuple(_one_test(part) for part in (_split_top(body) if body not in ("", "-") else [body]))
    return Cell(raw, tests, negated=bool(negated))


def _num(value: Any) -> Any:
    """Numbers compare as Decimal (a float input against an integer or decimal endpoint)."""
    if isinstance(value, float):
        return Decimal(str(value))
    return value


def _compare(op: str, left: Any, right: Any) -> bool:
    left, right = _num(left), _num(right)
    if left is None or right is None:
        if op == "==":
            return left is right
        return op == "!=" and left is not right
    try:
        if op == "==":
            return bool(left == right)
        if op == "!=":
            return bool(left != right)
        if op == "<":
            return bool(left < right)
        if op == "<=":
            return bool(left <= right)
        if op == ">":
            return bool(left > right)
        return bool(left >= right)
    except TypeError:  # a text against a number: FEEL's null, no match
        return False


def _test(test: Test, value: Any, names: dict[str, Any]) -> bool:
    if test.kind == "any":
        return True
    if test.kind == "null":
        return value is None
    if test.kind == "eq":
        return _compare("==", value, expressions.evaluate(test.low, names))
    if test.kind == "cmp":
        return _compare(test.op, value, expressions.evaluate(test.low, names))
    if test.kind == "range":
        low = expressions.evaluate(test.low, names)
        high = expressions.evaluate(test.high, names)
        return _compare(">" if test.low_open else ">=", value, low) and _compare(
            "<" if test.high_open else "<=", value, high
        )
    return bool(expressions.evaluate(test.low, {**names, "dmn_input": value}))


def cell_matches(cell: Cell, value: Any, names: dict[str, Any]) -> bool:
    matched = any(_test(t, value, names) for t in cell.tests)
    return not matched if cell.negated else matched


def input_value(column: Input, names: dict[str, Any]) -> Any:
    """An input column's value: its expression on the data (a name the data lacks reads as null)."""
    text = column.expression
    if _IDENTIFIER.match(text) and text not in names and text not in expressions.SAFE_NAMES:
        return None
    return expressions.evaluate(text, names)


def coerce_inputs(table: DecisionTable, inputs: dict[str, Any]) -> dict[str, Any]:
    """Entered text as the input columns' types say (the "try it" panel): numbers as Decimal,
    ``true``/``false`` (是/否) as booleans, an empty entry as null."""
    out = dict(inputs)
    for column in table.inputs:
        name = column.expression
        value = out.get(name)
        if not isinstance(value, str) or not _IDENTIFIER.match(name):
            continue
        text = value.strip().replace(",", "")
        kind = column.type_ref.lower()
        if text == "":
            out[name] = None
        elif kind in ("number", "integer", "long", "double", "decimal"):
            try:
                out[name] = Decimal(text)
            except ArithmeticError as err:
                raise DecisionError(f"“{column.label}”应为数字 / {name}: not a number") from err
        elif kind == "boolean":
            if text.lower() not in ("true", "false", "是", "否"):
                raise DecisionError(f"“{column.label}”应为是或否 / {name}: true or false")
            out[name] = text.lower() in ("true", "是")
    return out


def decide(table: DecisionTable, data: dict[str, Any]) -> Outcome:
    """Evaluate the table on ``data``: the outputs (per the hit policy) and the rows that matched."""
    names = dict(data)
    try:
        values = [input_value(column, names) for column in table.inputs]
    except expressions.ExpressionError as err:
        raise DecisionError(
            f"决策表“{table.key}”的输入无法计算 / decision '{table.key}': input: {err}"
        ) from err
    matched: list[Rule] = []
    for rule in table.rules:
        try:
            if all(
                cell.matches_all or cell_matches(cell, v, names)
                for cell, v in zip(rule.cells, values, strict=True)
            ):
                matched.append(rule)
        except expressions.ExpressionError as err:
            raise DecisionError(
                f"决策表“{table.key}”第 {rule.row} 行无法计算 / decision '{table.key}' row {rule.row}: {err}"
            ) from err
        if matched and table.hit_policy == "FIRST":
            break
    rows = [r.row for r in matched]
    try:
        outputs = [_rule_outputs(table, rule, names) for rule in matched]
    except expressions.ExpressionError as err:
        raise DecisionError(
            f"决策表“{table.key}”的输出无法计算 / decision '{table.key}': output: {err}"
        ) from err
    if table.hit_policy in ("RULE ORDER", "COLLECT"):
        result: dict[str, Any] = {o.name: [out[o.name] for out in outputs] for o in table.outputs}
        if table.hit_policy == "COLLECT" and table.aggregation:
            result = {name: _aggregate(table.aggregation, values_) for name, values_ in result.items()}
        return Outcome(result, rows)
    if table.hit_policy == "UNIQUE" and len(matched) > 1:
        raise DecisionError(
            f"决策表“{table.key}”有多行同时命中（第 {', '.join(map(str, rows))} 行），唯一命中策略不允许 / "
            f"decision '{table.key}': rows {rows} all match under hit policy UNIQUE"
        )
    if table.hit_policy == "ANY" and any(out != outputs[0] for out in outputs[1:]):
        raise DecisionError(
            f"决策表“{table.key}”命中的行输出不一致（第 {', '.join(map(str, rows))} 行）/ "
            f"decision '{table.key}': rows {rows} match with different outputs under hit policy ANY"
        )
    if not outputs:
        return Outcome({o.name: None for o in table.outputs}, rows)
    return Outcome(outputs[0], rows)


def _rule_outputs(table: DecisionTable, rule: Rule, names: dict[str, Any]) -> dict[str, Any]:
    return {
        column.name: (expressions.evaluate(text, names) if text and text != "-" else None)
        for column, text in zip(table.outputs, rule.outputs, strict=True)
    }


def _aggregate(how: str, values: list[Any]) -> Any:
    if how == "COUNT":
        return len(values)
    numbers = [v for v in values if v is not None]
    if not numbers:
        return None
    if how == "SUM":
        return sum(numbers, Decimal(0) if any(isinstance(n, Decimal) for n in numbers) else 0)
    return min(numbers) if how == "MIN" else max(numbers)


# --- reading a file ----------------------------------------------------------------------------------


def _problem(message: str, el: Any = None) -> Problem:
    return Problem(
        message,
        el.get("id") if el is not None else None,
        el.sourceline if el is not None else None,
        name=(el.get("name") or el.get("label")) if el is not None else None,
    )


def check_dmn(data: bytes | str) -> tuple[DecisionTable | None, list[Problem]]:
    """Every problem of a DMN file at once, and its table when there is none. Unreadable XML raises
    :class:`BpmnInvalid` (its first problem)."""
    raw = to_utf8(data, any_root=True)
    root = parse_xml(raw, any_root=True).getroot()
    namespace = etree.QName(root).namespace or ""
    if _local(root) != "definitions" or "DMN" not in namespace.upper():
        raise BpmnInvalid(
            [
                Problem(
                    f"根元素必须是 DMN definitions / root element must be DMN definitions, found {root.tag}"
                )
            ]
        )
    decisions = _children(root, "decision")
    if len(decisions) != 1:
        return None, [_problem("文件应包含且只包含一个决策 / the file must hold exactly one decision", root)]
    decision = decisions[0]
    key = decision.get("id") or ""
    problems: list[Problem] = []
    if not _KEY.match(key):
        problems.append(_problem(f"决策 id 无效 / invalid decision id '{key[:100]}'", decision))
    tables = _children(decision, "decisionTable")
    if len(tables) != 1:
        problems.append(
            _problem("决策应包含一个决策表 / the decision must hold one decision table", decision)
        )
        return None, problems
    table_el = tables[0]
    hit_policy = (table_el.get("hitPolicy") or "UNIQUE").upper()
    aggregation = (table_el.get("aggregation") or "").upper()
    if hit_policy not in HIT_POLICIES:
        problems.append(_problem(f"不支持的命中策略 / unsupported hit policy {hit_policy}", table_el))
    if aggregation and (hit_policy != "COLLECT" or aggregation not in AGGREGATIONS):
        problems.append(_problem(f"不支持的汇总方式 / unsupported aggregation {aggregation}", table_el))
    inputs = []
    for el in _children(table_el, "input"):
        expression = ""
        for ie in _children(el, "inputExpression"):
            expression = _text_of(ie)
        if not expression:
            problems.append(_problem("输入列没有表达式 / an input column has no expression", el))
        else:
            try:
                expressions.check(expression)
            except expressions.ExpressionError as err:
                problems.append(_problem(f"输入表达式无效 / invalid input expression: {err}", el))
        type_ref = next((ie.get("typeRef") or "" for ie in _children(el, "inputExpression")), "")
        inputs.append(Input(el.get("id") or "", el.get("label") or expression, expression, type_ref))
    outputs = []
    for el in _children(table_el, "output"):
        name = el.get("name") or ""
        if not _IDENTIFIER.match(name):
            problems.append(
                _problem(f"输出列名称无效 / output column name '{name[:64]}' is not a variable name", el)
            )
        outputs.append(Output(el.get("id") or "", el.get("label") or name, name, el.get("typeRef") or ""))
    if not outputs:
        problems.append(_problem("决策表没有输出列 / the decision table has no output column", table_el))
    if len(inputs) + len(outputs) > MAX_COLUMNS:
        problems.append(
            _problem(f"列过多（最多 {MAX_COLUMNS} 列）/ more than {MAX_COLUMNS} columns", table_el)
        )
    rule_els = _children(table_el, "rule")
    if len(rule_els) > MAX_RULES:
        problems.append(_problem(f"规则过多（最多 {MAX_RULES} 行）/ more than {MAX_RULES} rules", table_el))
    rules = []
    for row, el in enumerate(rule_els[:MAX_RULES], start=1):
        rule, found = _read_rule(el, row, len(inputs), len(outputs))
        problems += found
        rules.append(rule)
    if problems:
        return None, problems
    table = DecisionTable(
        key=key,
        name=" ".join((decision.get("name") or key).split()),
        hit_policy=hit_policy,
        aggregation=aggregation,
        inputs=inputs,
        outputs=outputs,
        rules=rules,
        sha256=sha256_of(raw),
    )
    return table, []


def _read_rule(el: Any, row: int, n_inputs: int, n_outputs: int) -> tuple[Rule, list[Problem]]:
    problems = []
    entries = _children(el, "inputEntry")
    results = _children(el, "outputEntry")
    if len(entries) != n_inputs or len(results) != n_outputs:
        problems.append(
            _problem(f"第 {row} 行的单元格数与列数不符 / row {row}: cells do not match the columns", el)
        )
    cells = []
    for entry in entries:
        try:
            cells.append(parse_cell(_text_of(entry)))
        except expressions.ExpressionError as err:
            problems.append(_problem(f"第 {row} 行的条件无效 / row {row}: invalid input entry: {err}", entry))
    texts = []
    for entry in results:
        text = _text_of(entry)
        if text and text != "-":
            try:
                expressions.check(text)
            except expressions.ExpressionError as err:
                problems.append(
                    _problem(f"第 {row} 行的输出无效 / row {row}: invalid output entry: {err}", entry)
                )
        texts.append(text)
    descriptions = _children(el, "description")
    description = (descriptions[0].text or "").strip() if descriptions else ""
    return Rule(el.get("id") or "", row, tuple(cells), tuple(texts), description), problems


def read_dmn(data: bytes | str) -> DecisionTable:
    """The decision table of a DMN file; :class:`BpmnInvalid` with every problem when it has any."""
    table, problems = check_dmn(data)
    if table is None:
        raise BpmnInvalid(problems)
    return table
