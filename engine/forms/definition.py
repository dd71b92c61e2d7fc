"""Parsing form definitions (JSON objects or ``<key>.json`` files) into :class:`FormDefinition`."""

from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path
from typing import Any

from engine import expressions
from engine.forms.fielddefs import _check_expression, _field, _labels
from engine.forms.model import _NAME, FORM_KEYS, RULE_KEYS, FormDefinition, FormError, RuleDef


def _free_names(expr: str) -> frozenset[str]:
    """Variables an (already checked) expression reads: names minus functions, constants, loop targets."""
    tree = ast.parse(expressions.normalize(expr), mode="eval")
    loaded: set[str] = set()
    stored: set[str] = set()
    called: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (stored if isinstance(node.ctx, ast.Store) else loaded).add(node.id)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            called.add(node.func.id)
    return frozenset(loaded - stored - called - set(expressions.SAFE_NAMES))


def _rule(raw: Any, index: int, form_key: str, names: list[str]) -> RuleDef:
    where = f"form '{form_key}', rule {index + 1}"
    if not isinstance(raw, dict):
        raise FormError(f"{where}: must be an object with 'expr' (and optional 'fields', 'message')")
    if set(raw) - RULE_KEYS:
        raise FormError(f"{where}: unknown keys {sorted(set(raw) - RULE_KEYS)}")
    expr = _check_expression(raw.get("expr"), f"{where}, expr")
    targets = raw.get("fields", [])
    if not isinstance(targets, list) or any(t not in names for t in targets):
        raise FormError(f"{where}: 'fields' must list fields of this form, got {targets!r}")
    message = _labels(raw.get("message", {"zh": "数据不符合规则", "en": "Rule not met"}), f"{where}, message")
    return RuleDef(expr, tuple(targets), message or {}, _free_names(expr))


def parse_form(raw: Any) -> FormDefinition:
    """Check a form definition (a JSON object) and return it parsed; :class:`FormError` if invalid."""
    if not isinstance(raw, dict):
        raise FormError("a form definition must be a JSON object")
    key = raw.get("key")
    if not isinstance(key, str) or not _NAME.fullmatch(key):
        raise FormError(f"form key {key!r} must be an identifier (ASCII letters, digits, '_')")
    try:
        canonical = json.dumps(
            raw, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
        )
    except (TypeError, ValueError) as err:
        raise FormError(f"form '{key}': not plain JSON: {err}") from err
    raw = json.loads(canonical)  # a private copy: callers mutating theirs cannot desynchronize sha256
    unknown = set(raw) - FORM_KEYS
    if unknown:
        raise FormError(f"form '{key}': unknown keys {sorted(unknown)}")
    items = raw.get("fields")
    if not isinstance(items, list) or not items:
        raise FormError(f"form '{key}': needs a non-empty 'fields' list")
    parsed = tuple(_field(item, key) for item in items)
    names = [f.name for f in parsed]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise FormError(f"form '{key}': duplicate field names {duplicates}")
    rules = raw.get("rules", [])
    if not isinstance(rules, list):
        raise FormError(f"form '{key}': 'rules' must be a list")
    return FormDefinition(
        key=key,
        title=_labels(raw.get("title"), f"form '{key}', title") or {},
        description=_labels(raw.get("description"), f"form '{key}', description", required=False),
        fields=parsed,
        rules=tuple(_rule(rule, i, key, names) for i, rule in enumerate(rules)),
        raw=raw,
        sha256=hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
    )


def load_form_file(path: str | Path) -> FormDefinition:
    """Read and parse one ``<key>.json`` file; the file name stem must equal the form key."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise FormError(f"{path.name}: cannot read form: {err}") from err
    try:
        form = parse_form(raw)
    except FormError as err:
        raise FormError(f"{path.name}: {err}") from err
    if form.key != path.stem:
        raise FormError(f"{path.name}: file name must equal the form key '{form.key}'")
    return form


def load_forms_dir(path: str | Path) -> dict[str, FormDefinition]:
    """Every ``*.json`` form in a directory, by key."""
    return {form.key: form for form in (load_form_file(p) for p in sorted(Path(path).glob("*.json")))}
