"""Service-level errors; the web layer maps each to an HTTP status."""

from __future__ import annotations


class ServiceError(Exception):
    code = "error"

    def __init__(self, message: str, fields: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class NotFound(ServiceError):
    code = "not_found"


class Forbidden(ServiceError):
    code = "forbidden"


class Conflict(ServiceError):
    """The target changed under the caller (stale task, concurrent update)."""

    code = "conflict"


class Invalid(ServiceError):
    """Input failed validation; ``fields`` maps each field to its messages."""

    code = "validation_failed"

    @classmethod
    def on(cls, field: str, message: str) -> Invalid:
        """A refusal of one field, whose own message is the whole refusal's."""
        return cls(message, {field: [message]})


class Unauthorized(ServiceError):
    code = "unauthorized"


class TooManyAttempts(ServiceError):
    """Refused for a while after repeated failures; ``retry_after`` is in seconds."""

    code = "too_many_requests"

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after
