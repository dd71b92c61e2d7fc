"""Service-level errors, grouped in families; ``api.errors.STATUS`` maps each family to one HTTP status.

Every exception class the engine defines belongs to exactly one family: a :class:`ServiceError`
subclass belongs to the most specific family among its bases; an exception that keeps a builtin base
(``ValueError``, ``RuntimeError``, so that callers catching those still work) names its family with the
:func:`family` decorator. ``tests/api/test_error_table.py`` checks that none is left out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar


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


class TooLarge(Invalid):
    """Input refused because of its size alone."""

    code = "payload_too_large"


class Unavailable(ServiceError):
    """The service cannot answer now: keys or a provider not configured, a store that cannot be read."""

    code = "service_unavailable"


class Unauthorized(ServiceError):
    code = "unauthorized"


class TooManyAttempts(ServiceError):
    """Refused for a while after repeated failures; ``retry_after`` is in seconds."""

    code = "too_many_requests"

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


# The families, most specific first where one extends another (TooLarge is an Invalid).
FAMILIES: tuple[type[ServiceError], ...] = (
    NotFound,
    Forbidden,
    Conflict,
    TooLarge,
    Invalid,
    Unauthorized,
    TooManyAttempts,
    Unavailable,
    ServiceError,  # the base, for an error raised as itself: a plain 400
)

E = TypeVar("E", bound=type[BaseException])


def family(kind: type[ServiceError]) -> Callable[[E], E]:
    """Class decorator: ``kind`` is the family of an engine exception that is not a ServiceError."""
    if kind not in FAMILIES:
        raise TypeError(f"{kind.__name__} is not an error family")

    def mark(cls: E) -> E:
        cls.error_family = kind  # type: ignore[attr-defined]
        return cls

    return mark


def family_of(cls: type[BaseException]) -> type[ServiceError] | None:
    """The family of an exception class: its own mark first, else the most specific family it extends."""
    marked = cls.__dict__.get("error_family")
    if marked is not None:
        return marked
    for base in cls.__mro__:
        if base in FAMILIES:
            return base
        marked = base.__dict__.get("error_family")
        if marked is not None:
            return marked
    return None
