"""The APScheduler wiring: a short interval job drains due wake-ups; another seals new audit events
into the hash chain; another writes a signed checkpoint of the chain head outside the database
(``engine.audit.checkpoint``); another sends the e-mail outbox.

The due work itself lives in the database (``process_instance.next_wakeup_at``, the notification
outbox), so any number of these schedulers can run against one PostgreSQL database, a restarted one
catches up, and APScheduler only provides the heartbeat.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from engine.attachments import sweep
from engine.audit import chain, checkpoint
from engine.db import SHANGHAI
from engine.deadlines import service as deadlines
from engine.notifications import mailer

log = logging.getLogger("assistflow.scheduler")
logging.getLogger("apscheduler").setLevel(logging.ERROR)

TICK_BUDGET_SECONDS = 5.0


def tick(session_factory: Any) -> int:
    """Drain due wake-ups for at most a few seconds (the next tick carries on)."""
    started, total = time.monotonic(), 0
    while time.monotonic() - started < TICK_BUDGET_SECONDS:
        done = deadlines.run_due(session_factory, limit=200)
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


def build(
    session_factory: Any,
    *,
    background: bool,
    interval: float = 0.5,
    mail_interval: float = 10.0,
    seal_interval: float = 1.0,
    checkpoint_interval: float = 600.0,
    sweep_interval: float = 3600.0,
) -> BaseScheduler:
    scheduler: BaseScheduler = (
        BackgroundScheduler(timezone=SHANGHAI) if background else BlockingScheduler(timezone=SHANGHAI)
    )
    jobs = (
        ("wakeups", tick, interval),
        ("audit_seal", seal_audit, seal_interval),
        ("audit_checkpoint", checkpoint_audit, checkpoint_interval),
        ("mail", mailer.send_pending, mail_interval),
        ("attachment_sweep", sweep.sweep_job, sweep_interval),
    )
    for job_id, job, seconds in jobs:
        scheduler.add_job(
            job,
            "interval",
            seconds=seconds,
            args=[session_factory],
            id=job_id,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
    return scheduler
