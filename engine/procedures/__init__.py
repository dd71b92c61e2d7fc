"""Host-side rules of the seed procedures that need the database (not expressible in BPMN or forms).

A hook runs when a user task of a procedure is completed, after its form validated and under the
instance lock, before the workflow moves on. It may return extra data for the case (merged into the
task's data) or raise :class:`engine.errors.Invalid` to refuse with the rule named.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from engine.kernel import bus

Hook = Callable[[Session, Any, Any, dict[str, Any]], dict[str, Any] | None]
BEFORE_COMPLETE: dict[tuple[str, str], list[Hook]] = {}
StartHook = Callable[[Session, Any, dict[str, Any]], dict[str, Any] | None]
ON_START: dict[str, list[StartHook]] = {}


def on_start(process_key: str) -> Callable[[StartHook], StartHook]:
    """Register a hook that adds data to a new instance of ``process_key`` (e.g. figures for a report)."""

    def register(fn: StartHook) -> StartHook:
        ON_START.setdefault(process_key, []).append(fn)
        return fn

    return register


def run_on_start(session: Session, process_key: str, unit: Any, data: dict[str, Any]) -> dict[str, Any]:
    _ensure_loaded()
    extra: dict[str, Any] = {}
    for hook in ON_START.get(process_key, []):
        extra.update(hook(session, unit, {**data, **extra}) or {})
    return extra


def before_complete(process_key: str, bpmn_id: str) -> Callable[[Hook], Hook]:
    def register(fn: Hook) -> Hook:
        BEFORE_COMPLETE.setdefault((process_key, bpmn_id), []).append(fn)
        return fn

    return register


_loaded = False


def _ensure_loaded() -> None:
    """The rule modules register themselves when :func:`engine.wiring.init` imports them at start-up
    (importing them from here would close an import circle: they use the instances layer)."""
    if not _loaded:
        raise bus.NotWired("procedure rules not loaded: call engine.wiring.init() at start-up")


def run_before_complete(session: Session, instance: Any, row: Any, data: dict[str, Any]) -> dict[str, Any]:
    _ensure_loaded()
    extra: dict[str, Any] = {}
    for hook in BEFORE_COMPLETE.get((instance.process_key, row.bpmn_id), []):
        extra.update(hook(session, instance, row, {**data, **extra}) or {})
    return extra


def loaded() -> None:
    """Called by :func:`engine.wiring.init` once the rule modules are imported."""
    global _loaded
    _loaded = True
