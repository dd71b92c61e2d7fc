"""Structured logs: one JSON line per request and per scheduler job (issue 20).

``ASSISTFLOW_LOG_FORMAT=json`` (the default) writes JSON lines to stderr; ``text`` writes the classic
one-line format (``make run`` uses it, for a person reading the console). ``ASSISTFLOW_LOG_LEVEL``
(default INFO) sets the level.

A request's line names its method, its route *pattern* (``/api/v1/tasks/<int:task_id>``, never the
path with its query string, which may carry an ID number being searched), the status, the duration, the
request id (taken from ``X-Request-ID`` when it is a plain token, else made, and echoed in the
response's ``X-Request-ID``), the user id, and the case and task ids when the route names them.
No body, no query string, no header value is logged; an exception is logged with its type and stack
frames but without its message (a database error quotes the values it refused).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import sys
import time
import traceback
import uuid
from typing import Any

from flask import Flask, Response, g, request
from sqlalchemy import inspect as sa_inspect

FORMAT_ENV, LEVEL_ENV = "ASSISTFLOW_LOG_FORMAT", "ASSISTFLOW_LOG_LEVEL"
# the fields a record may carry in ``extra`` that a line shows (anything else stays out)
FIELDS = (
    "request_id",
    "method",
    "route",
    "status",
    "duration_ms",
    "user_id",
    "case_id",
    "task_id",
    "job",
    "outcome",
    "count",
)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
request_log = logging.getLogger("assistflow.requests")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            line["exc_type"] = record.exc_info[0].__name__
            line["stack"] = "".join(traceback.format_tb(record.exc_info[2]))[-4000:]
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        extra = " ".join(f"{n}={getattr(record, n)}" for n in FIELDS if getattr(record, n, None) is not None)
        return f"{base} {extra}" if extra else base


def formatter(kind: str | None = None) -> logging.Formatter:
    kind = (kind or os.environ.get(FORMAT_ENV) or "json").lower()
    if kind not in ("json", "text"):
        raise ValueError(f"{FORMAT_ENV} must be json or text, not {kind!r}")
    return JsonFormatter() if kind == "json" else TextFormatter()


def configure(kind: str | None = None, stream: Any = None) -> logging.Handler:
    """Route the ``assistflow`` loggers (and warnings of libraries) to one stderr handler in the chosen
    format; werkzeug's own access lines (the full path, query string included) are silenced, the
    request line replaces them."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(kind))
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_assistflow", False)]:
        root.removeHandler(old)
    handler._assistflow = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("assistflow").setLevel(os.environ.get(LEVEL_ENV, "INFO").upper())
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    return handler


def _user_id(user: Any) -> Any:
    """The user's id from the identity map's key: it holds when the row was expired and detached by a
    commit in the view (reading ``user.id`` would then try to load it again)."""
    if user is None:
        return None
    state = sa_inspect(user, raiseerr=False)
    if state is not None and state.identity:
        return state.identity[0]
    return getattr(user, "id", None)


def _ids() -> dict[str, Any]:
    args = request.view_args or {}
    user = g.get("current_user") or g.get("web_user")
    return {
        "user_id": _user_id(user),
        "case_id": args.get("instance_id") or g.get("log_case_id"),
        "task_id": args.get("task_id"),
    }


def route_of() -> str:
    """The route's pattern (bounded: the metrics label it too); unmatched paths share one name."""
    rule = request.url_rule
    return rule.rule if rule is not None else "<unmatched>"


def register(app: Flask, on_request: Any = None) -> None:
    """Give each request an id and write its line (``on_request(route, method, status, seconds)`` is
    also told, for the metrics)."""

    @app.before_request
    def _start() -> None:
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        g.request_started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        started = g.get("request_started")
        if started is None:  # a request refused before our first hook ran
            return response
        elapsed = time.perf_counter() - started
        route = route_of()
        response.headers["X-Request-ID"] = g.request_id
        if on_request is not None:
            on_request(route, request.method, response.status_code, elapsed)
        request_log.info(
            "%s %s %s",
            request.method,
            route,
            response.status_code,
            extra={
                "request_id": g.request_id,
                "method": request.method,
                "route": route,
                "status": response.status_code,
                "duration_ms": round(elapsed * 1000, 1),
                **_ids(),
            },
        )
        return response
