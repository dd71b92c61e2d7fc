"""One JSON error shape for every failure: {"error": code, "message": ..., "fields": {...}}."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Response, jsonify, request
from flask.typing import ResponseReturnValue
from flask_smorest import Api
from sqlalchemy.exc import DataError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from api.schemas import ErrorSchema
from engine import errors as engine_errors
from engine.attachments.cipher import CorruptFile
from engine.attachments.storage import StorageError
from engine.audit.checkpoint import CheckpointError
from engine.audit.signing import AuditKeysNotConfigured
from engine.bpmn.errorevents import ServiceFailure
from engine.bpmn.parsing import BpmnInvalid, BpmnTooLarge
from engine.bpmn.runtime import EngineError
from engine.crypto import DecryptionError, KeysNotConfigured
from engine.db import transient_conflict
from engine.deadlines.calendar import DeadlineError
from engine.deadlines.schedules import ScheduleError
from engine.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    ServiceError,
    TooLarge,
    TooManyAttempts,
    Unauthorized,
    Unavailable,
)
from engine.expressions import ExpressionError
from engine.forms.model import FormError
from engine.instances.rehearsal import Unrehearsed
from engine.kernel.bus import NotWired
from engine.users.password_pool import PasswordPoolBusy

# The one error table: each engine error family (engine/errors.py) answers with one HTTP status.
STATUS: dict[type[ServiceError], int] = {
    NotFound: 404,
    Forbidden: 403,
    Conflict: 409,
    TooLarge: 413,
    Invalid: 422,
    Unauthorized: 401,
    TooManyAttempts: 429,
    Unavailable: 503,
    ServiceError: 400,
}

# Engine exceptions that keep a builtin base (ValueError, RuntimeError) and name their family with
# ``engine.errors.family``; each gets the same handler as a ServiceError.
FAMILY_MEMBERS: tuple[type[Exception], ...] = (
    BpmnInvalid,
    BpmnTooLarge,
    FormError,
    ExpressionError,
    DeadlineError,
    ScheduleError,
    EngineError,
    KeysNotConfigured,
    DecryptionError,
    AuditKeysNotConfigured,
    CheckpointError,
    NotWired,
    CorruptFile,
    StorageError,
    ServiceFailure,
    Unrehearsed,
    PasswordPoolBusy,
)

# What an Unavailable error says: never the configuration detail (key names, file paths) it carries.
UNAVAILABLE_MESSAGE = "服务暂时不可用（配置或存储问题），请联系管理员 / service unavailable (configuration or storage), contact an administrator"


def status_of(cls: type[BaseException]) -> int | None:
    """The HTTP status of an engine exception class, through its family; None if it has none."""
    kind = engine_errors.family_of(cls)
    return STATUS.get(kind) if kind is not None else None


HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "too_many_requests",
}

HTTP_MESSAGES = {
    400: "请求格式错误 / malformed request",
    401: "需要登录 / authentication required",
    403: "无权操作 / forbidden",
    404: "资源不存在 / not found",
    405: "不支持的方法 / method not allowed",
    413: "请求体过大 / request body too large",
    422: "数据校验失败 / validation failed",
    429: "请求过于频繁，请稍后再试 / too many requests, try again later",
}


# The staff web app's error page (status -> response), installed by ``api.web``: a browser that asks for a
# page outside the API gets HTML; the API and clients that asked for JSON get the JSON error shape.
HTML_ERROR_PAGE: list[Callable[[int], ResponseReturnValue]] = []


def _wants_html() -> bool:
    if not HTML_ERROR_PAGE or request.path == "/api" or request.path.startswith("/api/"):
        return False
    accept = request.accept_mimetypes
    return not accept["application/json"] > accept["text/html"]


# An error answer stays small whatever was sent: a body with 350,000 unknown keys, or a megabyte id
# quoted back, must not turn into a ten-megabyte answer.
MAX_ERROR_FIELDS = 20
MAX_MESSAGES_PER_FIELD = 5
MAX_FIELD_NAME = 100
MAX_TEXT = 300
MAX_MESSAGE = 1000


def _clip(text: Any, limit: int = MAX_TEXT) -> str:
    text = str(text)
    return text if len(text) <= limit else f"{text[:limit]}…（{len(text)}）"


def capped_fields(fields: dict[str, Any]) -> dict[str, list[str]]:
    """The first ``MAX_ERROR_FIELDS`` fields (names and messages clipped); the rest counted under
    ``_more``."""
    out: dict[str, list[str]] = {}
    for name, messages in list(fields.items())[:MAX_ERROR_FIELDS]:
        listed = messages if isinstance(messages, list) else [messages]
        out[_clip(name, MAX_FIELD_NAME)] = [_clip(m) for m in listed[:MAX_MESSAGES_PER_FIELD]]
    if len(fields) > MAX_ERROR_FIELDS:
        more = len(fields) - MAX_ERROR_FIELDS
        out["_more"] = [f"另有 {more} 个字段有问题 / {more} more field(s) with problems"]
    return out


def error_response(
    status: int, message: str, fields: dict[str, Any] | None = None, code: str | None = None
) -> tuple[Response, int]:
    body = {
        "error": code or HTTP_CODES.get(status, "error"),
        "message": _clip(message, MAX_MESSAGE),
        "fields": capped_fields(fields or {}),
    }
    return jsonify(body), status


def _flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """webargs nests messages by location and field; flatten to 'field' / 'field.sub'."""
    out: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            if key in ("json", "query", "form", "files", "headers", "view_args") and not prefix:
                out.update(_flatten(value, ""))
            else:
                out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        out[prefix or "_request"] = list(messages)
    else:
        out[prefix or "_request"] = [str(messages)]
    return out


class JsonApi(Api):
    """flask-smorest Api whose HTTP errors use the project's error shape."""

    ERROR_SCHEMA = ErrorSchema  # documented error responses describe the real body

    def handle_http_exception(self, error: HTTPException) -> ResponseReturnValue:
        status = error.code or 500
        data = getattr(error, "data", None) or {}
        fields = _flatten(data.get("messages")) if "messages" in data else {}
        message = HTTP_MESSAGES.get(status, error.description or "error")
        if status == 422 and fields:
            message = "数据校验失败 / validation failed"
        if status == 400 and fields:
            message = "请求格式错误 / malformed request: " + "; ".join(
                _clip(m)
                for ms in list(fields.values())[:MAX_ERROR_FIELDS]
                for m in ms[:MAX_MESSAGES_PER_FIELD]
            )
        return error_response(status, message, fields)


def register(app: Flask) -> None:
    def _engine_error(err: Exception) -> ResponseReturnValue:
        kind = engine_errors.family_of(type(err))
        status = STATUS[kind] if kind is not None else 500
        code = kind.code if kind is not None else "internal_error"
        if isinstance(err, BpmnInvalid):
            body = {
                "error": "payload_too_large" if status == 413 else "bpmn_invalid",
                "message": "BPMN 无法部署 / BPMN refused: " + "; ".join(str(p) for p in err.problems[:5]),
                "fields": {"file": [str(p) for p in err.problems]},
                "problems": [p.as_dict() for p in err.problems],
            }
            return jsonify(body), status
        if isinstance(err, ServiceError):
            response = error_response(status, err.message, err.fields, err.code)
        elif status == 503:
            response = error_response(status, UNAVAILABLE_MESSAGE, code=code)
        else:
            response = error_response(status, str(err), code=code)
        if isinstance(err, TooManyAttempts) or getattr(err, "retry_after", None) is not None:
            response[0].headers["Retry-After"] = str(err.retry_after)  # type: ignore[attr-defined]
        elif status == 503:
            response[0].headers["Retry-After"] = "60"
        return response

    app.register_error_handler(ServiceError, _engine_error)
    for member in FAMILY_MEMBERS:
        app.register_error_handler(member, _engine_error)

    @app.errorhandler(IntegrityError)
    def _integrity(_err: IntegrityError) -> ResponseReturnValue:
        return error_response(
            409, "数据冲突（可能已被他人提交），请刷新后重试 / conflicting change, reload and retry"
        )

    @app.errorhandler(DataError)
    def _data_error(_err: DataError) -> ResponseReturnValue:
        # A value the database cannot hold (out of range, a NUL character) that validation let through.
        return error_response(
            422, "数据超出允许范围或含有无效字符 / a value is out of range or contains invalid characters"
        )

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def _database_unavailable(err: Exception) -> ResponseReturnValue:
        if transient_conflict(err):
            # a deadlock with concurrent work that the request's own attempts did not get past
            return error_response(
                409,
                "与同时进行的其他操作冲突，请稍后重试 / conflicted with work done at the same moment, retry",
            )
        # The connection dropped (database restarted, connection killed): the transaction is gone
        # whole; the client may retry (task completions safely, with an Idempotency-Key).
        response, status = error_response(
            503,
            "数据库暂时不可用，请稍后重试 / database temporarily unavailable, retry shortly",
            code="service_unavailable",
        )
        response.headers["Retry-After"] = "1"
        return response, status

    @app.errorhandler(StaleDataError)
    def _stale(_err: StaleDataError) -> ResponseReturnValue:
        return error_response(409, "数据已被他人修改，请刷新后重试 / changed concurrently, reload and retry")

    @app.errorhandler(404)
    def _not_found(_err: Exception) -> ResponseReturnValue:
        if _wants_html():
            return HTML_ERROR_PAGE[0](404)
        return error_response(404, HTTP_MESSAGES[404])

    @app.errorhandler(405)
    def _method(_err: Exception) -> ResponseReturnValue:
        if _wants_html():
            return HTML_ERROR_PAGE[0](405)
        return error_response(405, HTTP_MESSAGES[405])

    @app.errorhandler(413)
    def _too_large(_err: Exception) -> ResponseReturnValue:
        if _wants_html():
            return HTML_ERROR_PAGE[0](413)
        return error_response(413, HTTP_MESSAGES[413])

    @app.errorhandler(500)
    def _internal(_err: Exception) -> ResponseReturnValue:
        if _wants_html():
            return HTML_ERROR_PAGE[0](500)
        return error_response(500, "服务器内部错误 / internal error", code="internal_error")
