"""A tiny synchronous event bus: handlers run in the caller's transaction, in registration order.

Events are names (the constants below); a payload is keyword arguments. :func:`emit` runs every handler
of an event; :func:`call` runs the one handler that *provides* a service for the layer below (the task
projection after a save, starting a case for a start schedule) and returns its result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# what the kernel announces
TASK_OPENED = "task_opened"  # rows=[HumanTask] just projected (flushed), loaded=Loaded, actor_id
# row=HumanTask, instance, data=validated dict (handlers may complete it: uploaded files), context
TASK_COMPLETING = "task_completing"
TASK_COMPLETED = "task_completed"  # row=HumanTask, loaded=Loaded, data=validated dict, derived, actor
TASK_ASSIGNED = "task_assigned"  # row=HumanTask now in one person's queue, actor_id, reason=None
CASE_ENDED = "case_ended"  # instance=ProcessInstance, actor_id
TIMER_DUE = "timer_due"  # instance, fired=[(bpmn_id, due_at)]
# loaded=Loaded just saved and projected, actor_id, thrown=[messages and signals it threw] (engine.messages)
STATE_SAVED = "state_saved"
# loaded=Loaded about to be saved, its ``thrown`` taken, while the write lock is deferred (SQLite): the
# waiting cases it reaches are worked out now, written after the save (engine.messages.ahead)
THROWN_AHEAD = "thrown_ahead"
# services provided to the layer below (exactly one handler each)
PROJECT = "project"  # session, loaded, actor_id -> the instance's open task rows after the step
START_CASE = "start_case"  # session, definition, unit, **kwargs -> a new ProcessInstance

Handler = Callable[..., Any]
_handlers: dict[str, list[Handler]] = {}


class NotWired(RuntimeError):
    """An event that needs a provider was sent before :func:`engine.wiring.init` registered one."""


def subscribe(event: str, handler: Handler) -> Handler:
    """Add ``handler`` for ``event`` (once: registering the same function again is a no-op)."""
    handlers = _handlers.setdefault(event, [])
    if handler not in handlers:
        handlers.append(handler)
    return handler


def unsubscribe(event: str, handler: Handler) -> None:
    """Remove ``handler`` from ``event`` (if it is there): benchmarks compare with and without a part."""
    handlers = _handlers.get(event, [])
    if handler in handlers:
        handlers.remove(handler)


def provide(event: str, handler: Handler) -> Handler:
    """Make ``handler`` the one provider of ``event`` (replacing any earlier one)."""
    _handlers[event] = [handler]
    return handler


def emit(event: str, *args: Any, **payload: Any) -> list[Any]:
    """Run every handler of ``event``; their results in order."""
    return [handler(*args, **payload) for handler in _handlers.get(event, ())]


def call(event: str, *args: Any, **payload: Any) -> Any:
    """Run the provider of ``event`` and return its result."""
    handlers = _handlers.get(event)
    if not handlers:
        raise NotWired(f"no provider for {event!r}: call engine.wiring.init() at start-up")
    return handlers[0](*args, **payload)


def handlers(event: str) -> list[Handler]:
    return list(_handlers.get(event, ()))
