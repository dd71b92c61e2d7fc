"""The scheduler's unit of work. Each instance row carries ``next_wakeup_at``; a scheduler claims due
instances under the same per-instance lock a task completion takes, fires what is due (timers first,
then SLA levels in order) and recomputes the wake-up, all in one transaction: each timer and each level
happens exactly once however many schedulers run, and a scheduler killed mid-work leaves nothing half
done. Timer-start schedule occurrences are drained first."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.audit import service as audit
from engine.audit.models import AuditAction
from engine.bpmn import runtime
from engine.db import transient_conflict, utcnow
from engine.deadlines import schedules
from engine.deadlines.escalation import fire_sla_levels
from engine.deadlines.models import StartSchedule
from engine.deadlines.sla import wakeup_at
from engine.instances import optimistic, rehearsal
from engine.instances.models import InstanceStatus, ProcessInstance
from engine.kernel import bus
from engine.system import metrics
from engine.tasks.models import HumanTask, open_clause

log = logging.getLogger("assistflow.scheduler")


@dataclass
class WakeResult:
    instance_id: int
    timers: list[str] = field(default_factory=list)
    sla: list[tuple[int, int]] = field(default_factory=list)
    started_by_schedule: int | None = None


BATCH_SIZE = 20


def _due(now: dt.datetime) -> Any:
    """Running instances whose wake-up time has come, most overdue first."""
    return (
        select(ProcessInstance)
        .where(ProcessInstance.next_wakeup_at <= now, ProcessInstance.status == InstanceStatus.RUNNING)
        .order_by(ProcessInstance.next_wakeup_at, ProcessInstance.id)
    )


def claim_batch(session: Session, now: dt.datetime, size: int) -> list[ProcessInstance]:
    """Lock up to ``size`` due instances (PostgreSQL; SQLite takes one at a time)."""
    if session.get_bind().dialect.name != "postgresql":
        single = claim_due(session, now)
        return [single] if single is not None else []
    return list(session.scalars(_due(now).limit(size).with_for_update(skip_locked=True)))


def claim_due(session: Session, now: dt.datetime) -> ProcessInstance | None:
    """Lock the most overdue instance that needs attention, skipping any another worker holds."""
    stmt = _due(now).limit(1)
    if session.get_bind().dialect.name == "postgresql":
        return session.scalars(stmt.with_for_update(skip_locked=True)).one_or_none()
    from engine.instances import service as instances

    candidate = session.scalars(stmt.with_only_columns(ProcessInstance.id)).one_or_none()
    if candidate is None:
        return None
    # SQLite: read without the write lock; it is taken (the version checked) at the wake-up's first
    # write, after the timers' expressions ran (engine.instances.optimistic); one scheduler per database
    instance = instances.lock(session, candidate, deferred=True)
    if instance.next_wakeup_at is None or instance.next_wakeup_at > now:
        return None
    return instance


def wake(session: Session, instance: ProcessInstance, now: dt.datetime) -> WakeResult:
    """Fire the instance's due timers and SLA levels; the caller holds its lock and commits."""
    from engine.instances import service as instances

    result = WakeResult(instance.id)
    loaded = instances.load(session, instance)
    failed = False
    try:
        fired = runtime.fire_due_timers(loaded.wf)
    except runtime.EngineError as err:  # the timer fired, a step after it failed: keep both, open an incident
        from engine.incidents import service as incidents

        fired, failed = getattr(err, "fired", []), True
        incidents.record(session, instance, err, origin="timer")
    for bpmn_id, due in fired:
        audit.record(
            session,
            AuditAction.TIMER_FIRED,
            instance_id=instance.id,
            details={"bpmn_id": bpmn_id, "due_at": due, "fired_at": utcnow()},
        )
    if fired or failed:
        result.timers = [bpmn_id for bpmn_id, _due in fired]
        bus.emit(bus.TIMER_DUE, session, instance=instance, fired=fired)
        instances.save(session, loaded, actor_id=None)  # projects tasks, recomputes the wake-up
    open_rows = list(
        session.scalars(
            select(HumanTask)
            .where(HumanTask.instance_id == instance.id, open_clause())
            .order_by(HumanTask.id)
        )
    )
    for row in open_rows:
        meta = loaded.compiled.task_meta(row.bpmn_id)
        for level in fire_sla_levels(session, row, now, meta.properties if meta else None):
            result.sla.append((row.id, int(level)))
    wakeup = wakeup_at(instance, loaded.wf, open_rows)
    if wakeup is not None and wakeup <= now and failed:
        wakeup = now + dt.timedelta(minutes=1)  # an incident was opened: its timer is retried in a minute
    elif wakeup is not None and wakeup <= now and not fired and not result.sla:
        wakeup = now + dt.timedelta(seconds=1)  # nothing moved: never spin on one instance
    instance.next_wakeup_at = wakeup
    session.flush()
    return result


def run_due(
    session_factory: Any,
    *,
    limit: int = 10_000,
    now: dt.datetime | None = None,
    stop: Callable[[], bool] | None = None,
) -> list[WakeResult]:
    """Drain due work — schedule occurrences, then instance wake-ups.

    A schedule occurrence is one transaction; instance wake-ups are claimed in small batches (each
    under its own savepoint) so that commits are shared, and the locks are held only for the batch.
    ``stop`` is asked before each transaction: a shutdown finishes the batch in hand and takes no other.
    """
    done: list[WakeResult] = []
    _sweep_messages(session_factory, now)
    while len(done) < limit and not (stop is not None and stop()):
        with session_factory() as session:
            moment = now or utcnow()
            claimed: list[int] = []
            try:
                scheduled = _run_schedule(session, moment, claimed)
                if scheduled is not None:
                    session.commit()
            except optimistic.StaleStep:  # SQLite: the occurrence was run meanwhile (a deferred claim)
                session.rollback()
                continue
            except Exception as err:
                session.rollback()
                if _ended_by_deadlock(err, "schedule", claimed[-1:]):  # claimed again at once
                    continue
                log.exception("schedule %s failed; retried in a minute", claimed[-1] if claimed else None)
                for schedule_id in claimed[-1:]:
                    _postpone_schedule(session_factory, schedule_id)
                continue
            if scheduled is not None:
                done.append(scheduled)
                continue
            if session.get_bind().dialect.name == "sqlite":  # one instance a pass, its lock deferred
                claimed.clear()
                try:
                    woke = _wake_deferred(session, moment, claimed)
                except optimistic.StaleStep:
                    session.rollback()  # the case changed since it was read: claimed again, read afresh
                    continue
                except Exception:
                    session.rollback()
                    log.exception(
                        "wake-up of instance %s failed; postponed", claimed[-1] if claimed else None
                    )
                    for instance_id in claimed[-1:]:
                        _postpone(session_factory, instance_id)
                    continue
                if woke is None:
                    session.rollback()
                    break
                session.commit()
                done.append(woke)
                continue
            batch = claim_batch(session, moment, BATCH_SIZE)
            if not batch:
                session.rollback()
                break
            failed = []
            for instance in batch:
                try:
                    with session.begin_nested():  # one failing instance does not undo the others
                        done.append(wake(session, instance, moment))
                except Exception as err:
                    if _ended_by_deadlock(err, "wake-up of instance", instance.id):  # still due: next pass
                        continue
                    log.exception("wake-up of instance %s failed; postponed", instance.id)
                    failed.append(instance.id)
            session.commit()
            for instance_id in failed:
                _postpone(session_factory, instance_id)
    return done


def _ended_by_deadlock(err: Exception, what: str, which: Any) -> bool:
    """Did the database end this work only to break a deadlock with another transaction? Then it is
    counted and logged, neither failed nor postponed: it is still due and runs again."""
    if not transient_conflict(err):
        return False
    metrics.CONFLICT_RETRIES.labels("scheduler").inc()
    log.warning("%s %s ended by a concurrent transaction", what, which)
    return True


@rehearsal.stepping  # SQLite: the start's expressions are evaluated before the write lock (issue 18 item 10)
def _run_schedule(session: Session, moment: dt.datetime, claimed: list[int]) -> WakeResult | None:
    """Claim the most overdue schedule occurrence and start its case (``claimed`` names it)."""
    schedule = schedules.claim_due(session, moment)
    if schedule is None:
        return None
    claimed.append(schedule.id)
    started = schedules.run(session, schedule)
    return WakeResult(started.id, started_by_schedule=schedule.id)


@rehearsal.stepping  # SQLite: the wake-up's expressions are evaluated before the write lock (item 10)
def _wake_deferred(session: Session, moment: dt.datetime, claimed: list[int]) -> WakeResult | None:
    """Claim the most overdue case on SQLite, its lock deferred (read afresh on each attempt), and wake
    it (``claimed`` names it); ``None`` when none is due."""
    instance = claim_due(session, moment)
    if instance is None:
        return None
    claimed.append(instance.id)
    return wake(session, instance, moment)


def _sweep_messages(session_factory: Any, now: dt.datetime | None) -> None:
    """Expired kept messages are dropped (audited); kept ones whose case waits again are delivered."""
    from engine.messages import service as messages

    with session_factory() as session:
        try:
            messages.sweep(session, now)
            session.commit()
        except Exception:
            session.rollback()
            log.exception("message sweep failed; tried again at the next pass")


def _postpone_schedule(session_factory: Any, schedule_id: int) -> None:
    with session_factory() as session:
        row = session.get(StartSchedule, schedule_id)
        if row is not None and row.next_run_at is not None:
            row.next_run_at = max(row.next_run_at, utcnow()) + dt.timedelta(minutes=1)
            session.commit()


def _postpone(session_factory: Any, instance_id: int) -> None:
    """After a failing wake-up, try again in a minute instead of at once."""
    with session_factory() as session:
        row = session.get(ProcessInstance, instance_id)
        if row is not None:
            row.next_wakeup_at = utcnow() + dt.timedelta(minutes=1)
            session.commit()
