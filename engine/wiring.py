"""Engine start-up: who reacts to what the kernel announces (``engine.kernel.bus``).

Called once by the app factory (and by anything else that runs the engine). Registration lives here,
not in import side effects of the modules below, so that the execution path imports in one direction
only: instances (load, step, save) → kernel bus ← task projection, deadlines, procedures' rules, step
records, notices of new work.
"""

from __future__ import annotations

from engine import errors
from engine.kernel import bus

# The kernel imports nothing of the engine (not even engine.errors): its one exception joins its error
# family here, where the engine is put together.
errors.family(errors.Unavailable)(bus.NotWired)

_done = False


def init() -> None:
    """Subscribe the engine's parts to the kernel's events (idempotent)."""
    global _done
    if _done:
        return
    from engine import procedures
    from engine.attachments import materials
    from engine.instances import service as instances
    from engine.kernel import bus
    from engine.messages import ahead
    from engine.messages import service as messages
    from engine.notifications import new_work
    from engine.procedures import (  # noqa: F401  (rules)
        applicants,
        bridge,
        bridge_groups,
        bridge_rules,
        ca_project,
        ca_reports,
        ca_review,
        comprehensive,
        service_referral,
        special_care,
        street_response,
        twinning,
        twinning_rules,
    )
    from engine.records import service as records
    from engine.system import metrics
    from engine.tasks import initiator
    from engine.tasks import service as tasks

    bus.provide(bus.PROJECT, tasks.sync)
    bus.provide(bus.START_CASE, instances.create)
    bus.subscribe(bus.TASK_COMPLETING, materials.on_completing)
    bus.subscribe(bus.TASK_COMPLETED, records.write)
    bus.subscribe(bus.TASK_OPENED, initiator.on_task_opened)
    bus.subscribe(bus.TASK_OPENED, new_work.on_task_opened)
    bus.subscribe(bus.TASK_ASSIGNED, new_work.on_task_assigned)
    bus.subscribe(bus.TASK_COMPLETED, metrics.on_task_completed)
    bus.subscribe(bus.TIMER_DUE, metrics.on_timer_due)
    bus.subscribe(bus.STATE_SAVED, messages.on_saved)
    bus.subscribe(bus.THROWN_AHEAD, ahead.on_thrown)
    new_work.install()
    procedures.loaded()
    _done = True
