"""Host-side rules of the seed procedures that need the database (not expressible in BPMN or forms).

A hook runs when a user task of a procedure is completed, after its form validated and under the
instance lock, before the workflow moves on. It may return extra data for the case (merged into the
task's data) or raise :class:`engine.errors.Invalid` to refuse with the rule named.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

Hook = Callable[[Session, Any, Any, dict[str, Any]], dict[str, Any] | None]
BEFORE_COMPLETE: dict[tuple[str, str], list[Hook]] = {}


def before_complete(process_key: str, bpmn_id: str) -> Callable[[Hook], Hook]:
    def register(fn: Hook) -> Hook:
        BEFORE_COMPLETE.setdefault((process_key, bpmn_id), []).append(fn)
        return fn

    return register


_loaded = False


def run_before_complete(session: Session, instance: Any, row: Any, data: dict[str, Any]) -> dict[str, Any]:
    global _loaded
    if not _loaded:
        load()
        _loaded = True
    extra: dict[str, Any] = {}
    for hook in BEFORE_COMPLETE.get((instance.process_key, row.bpmn_id), []):
        extra.update(hook(session, instance, row, {**data, **extra}) or {})
    return extra


def load() -> None:
    """Import the modules that register hooks."""
    from engine.procedures import comprehensive  # noqa: F401
