"""The APScheduler wiring: a short interval job drains due wake-ups; another seals new audit events
into the hash chain; another writes a signed checkpoint of the chain head outside the database
(``engine.audit.checkpoint``); another sends the e-mail outbox.

The due work itself lives in the database (``process_instance.next_wakeup_at``, the notification
outbox), so any number of these schedulers can run against one PostgreSQL database, a restarted one
catches up, and APScheduler only provides the heartbeat.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from engine.attachments import sweep
from engine.audit import chain, checkpoint
from engine.db import SHANGHAI
from engine.deadlines import service as deadlines
from engine.notifications import mailer
from engine.system import metrics
from engine.system.heartbeat import INTERVAL_SECONDS, Heartbeat

log = logging.getLogger("assistflow.scheduler")
logging.getLogger("apscheduler").setLevel(logging.ERROR)

jobs_log = logging.getLogger("assistflow.jobs")

TICK_BUDGET_SECONDS = 5.0

# Set by a graceful shutdown (SIGTERM): the wake-up job finishes the batch in hand and takes no other.
STOPPING = threading.Event()


def tick(session_factory: Any) -> int:
    """Drain due wake-ups for at most a few seconds (the next tick carries on)."""
    started, total = time.monotonic(), 0
    while time.monotonic() - started < TICK_BUDGET_SECONDS and not STOPPING.is_set():
        done = deadlines.run_due(session_factory, limit=200, stop=STOPPING.is_set)
        total += len(done)
        if len(done) < 200:
            break
    if total:
        log.info("woke %d instance(s)", total)
    return total


def seal_audit(session_factory: Any) -> int:
    """Chain the audit events committed since the last run (several schedulers may run: they take turns)."""
    sealed = chain.seal_all(session_factory)
    if sealed:
        log.debug("sealed %d audit event(s)", sealed)
    return sealed


def checkpoint_audit(session_factory: Any) -> int | None:
    """Verify the chain since the last checkpoint and anchor its head in the checkpoint directory;
    a broken chain is logged as an error and gets no checkpoint. Returns the checkpointed seq."""
    try:
        cp = checkpoint.write_all(session_factory)
    except checkpoint.CheckpointError as exc:
        log.error("audit checkpoint refused: %s", exc)
        return None
    return cp.seq if cp else None


def logged(job_id: str, job: Callable[[Any], Any], beat: Heartbeat | None = None) -> Callable[[Any], Any]:
    """Run ``job`` with one structured log line (job, outcome, duration, count) and its metrics; a
    failing run is logged and counted, and the scheduler carries on."""

    @functools.wraps(job)
    def run(session_factory: Any) -> Any:
        started = time.monotonic()
        try:
            result = job(session_factory)
        except Exception:
            elapsed = time.monotonic() - started
            metrics.JOB_FAILURES.labels(job_id).inc()
            metrics.JOB_DURATION.labels(job_id).observe(elapsed)
            jobs_log.exception(
                "job %s failed",
                job_id,
                extra={"job": job_id, "outcome": "error", "duration_ms": elapsed * 1000},
            )
            return None
        elapsed = time.monotonic() - started
        metrics.JOB_DURATION.labels(job_id).observe(elapsed)
        metrics.JOB_LAST_SUCCESS.labels(job_id).set(time.time())
        if beat is not None:
            beat.job_done(job_id)
        count = result if isinstance(result, int) and not isinstance(result, bool) else None
        # quiet runs (nothing to do) are logged at debug level, work done at info
        level = logging.INFO if count else logging.DEBUG
        jobs_log.log(
            level,
            "job %s done",
            job_id,
            extra={"job": job_id, "outcome": "ok", "duration_ms": round(elapsed * 1000, 1), "count": count},
        )
        return result

    return run


def build(
    session_factory: Any,
    *,
    background: bool,
    interval: float = 0.5,
    mail_interval: float = 10.0,
    seal_interval: float = 1.0,
    checkpoint_interval: float = 600.0,
    heartbeat_interval: float = INTERVAL_SECONDS,
    beat: Heartbeat | None = None,
    sweep_interval: float = 3600.0,
) -> BaseScheduler:
    """The scheduler's jobs, each logged and measured; ``beat`` (this process's heartbeat row) is kept
    up to date by a job of its own."""
    scheduler: BaseScheduler = (
        BackgroundScheduler(timezone=SHANGHAI) if background else BlockingScheduler(timezone=SHANGHAI)
    )
    STOPPING.clear()
    jobs: list[tuple[str, Callable[[Any], Any], float]] = [
        ("wakeups", tick, interval),
        ("audit_seal", seal_audit, seal_interval),
        ("audit_checkpoint", checkpoint_audit, checkpoint_interval),
        ("mail", mailer.send_pending, mail_interval),
        ("attachment_sweep", sweep.sweep_job, sweep_interval),
    ]
    if beat is not None:
        jobs.append(("heartbeat", beat.beat, heartbeat_interval))
    for job_id, job, seconds in jobs:
        scheduler.add_job(
            logged(job_id, job, beat),
            "interval",
            seconds=seconds,
            args=[session_factory],
            id=job_id,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            # the heartbeat beats at once; the others start after their first interval, as before
            **({"next_run_time": _now()} if job_id == "heartbeat" else {}),
        )
    return scheduler


def _now() -> dt.datetime:
    return dt.datetime.now(SHANGHAI)


def shutdown(scheduler: BaseScheduler, session_factory: Any, beat: Heartbeat | None = None) -> None:
    """Stop gracefully: no new batch is taken, the running jobs finish (the wake-up job its batch), the
    heartbeat row is marked stopped."""
    STOPPING.set()
    if scheduler.running:
        scheduler.shutdown(wait=True)
    if beat is not None:
        try:
            beat.stopped(session_factory)
        except Exception:
            log.exception("could not mark the heartbeat stopped")
    jobs_log.info("scheduler stopped gracefully", extra={"job": "scheduler", "outcome": "stopped"})
