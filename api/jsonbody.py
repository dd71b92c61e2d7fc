"""JSON from clients, parsed with limits: nesting depth, and Python's own limit on integer digits.

``json.loads`` answers a 100,000-deep array with RecursionError and a 5,000-digit integer with a plain
ValueError; both became 500s. :func:`loads` turns them — and any structure nested deeper than
``MAX_DEPTH`` (stored case data is walked recursively later, by masking and encryption) — into a
:class:`json.JSONDecodeError`, which every caller already answers as malformed JSON (400/422). The REST
API's argument parser uses it for every JSON body.

``NaN``, ``Infinity`` and ``-Infinity`` are not JSON (RFC 8259) although Python's reader accepts them:
they are refused as malformed (400) too, rather than reaching validation as floats.
"""

from __future__ import annotations

import json
from typing import Any

from flask_smorest.arguments import ArgumentsMixin
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request

MAX_DEPTH = 32
# The document given with a refusal: webargs reads an empty one as "no body at all".
_DOC = "<request body>"


def _too_deep(value: Any) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON (RFC 8259)")


def _decoded(data: bytes) -> str:
    """UTF-8 text of a body, as webargs decodes it (a decoding error is a JSONDecodeError)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise json.JSONDecodeError(f"Bytes decoding error : {exc.reason}", _DOC, exc.start) from None


def loads(data: str | bytes) -> Any:
    """``json.loads`` that refuses (JSONDecodeError) too-deep nesting, oversized integers and the
    non-JSON constants ``NaN``, ``Infinity``, ``-Infinity``."""
    try:
        text = data if isinstance(data, str) else _decoded(data)
        value = json.loads(text, parse_constant=_not_json)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise json.JSONDecodeError(f"nested deeper than {MAX_DEPTH} levels", _DOC, 0) from None
    except ValueError as err:  # "Exceeds the limit (4300 digits) for integer string conversion", NaN
        raise json.JSONDecodeError(f"not JSON: {str(err)[:120]}", _DOC, 0) from None
    if _too_deep(value):
        raise json.JSONDecodeError(f"nested deeper than {MAX_DEPTH} levels", _DOC, 0)
    return value


class LimitedFlaskParser(FlaskParser):
    """webargs' Flask parser with :func:`loads` for JSON bodies (a refusal is its usual 400)."""

    def _raw_load_json(self, req: Any) -> Any:
        if not is_json_request(req):
            return core.missing
        return loads(req.get_data(cache=True))


def install() -> None:
    """Every ``@blp.arguments`` uses the limited parser (set before the route modules are imported)."""
    ArgumentsMixin.ARGUMENTS_PARSER = LimitedFlaskParser()
