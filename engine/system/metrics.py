"""Prometheus metrics of the engine (prometheus-client; its multiprocess mode when
``PROMETHEUS_MULTIPROC_DIR`` is set before this module is imported, as gunicorn's workers need).

Counters move only when the transaction that did the work commits: a handler queues the change on the
session (:func:`on_commit`) and it is applied after the commit, dropped after a rollback. The gauges
that describe the database (open tasks per SLA colour, incidents, outbox, seal lag, scheduler
heartbeat, due wake-ups) are computed at scrape time by :class:`DatabaseCollector`, with a handful of
indexed aggregate queries, once per scrape whatever the number of workers.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import event
from sqlalchemy.orm import Session

from engine.db import utcnow

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

# few buckets: the multiprocess merge at each scrape reads every series of every worker
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
LATENESS_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 86400.0)

HTTP_REQUESTS = Counter(
    "assistflow_http_requests_total",
    "HTTP requests answered, per route and status class (2xx, 3xx, 4xx, 5xx)",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "assistflow_http_request_duration_seconds",
    "HTTP request duration per route",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
COMPLETIONS = Counter(
    "assistflow_task_completions_total", "Human tasks completed (committed), per procedure", ["procedure"]
)
TIMERS_FIRED = Counter(
    "assistflow_timers_fired_total", "BPMN timers fired (committed), per procedure", ["procedure"]
)
TIMER_LATENESS = Histogram(
    "assistflow_timer_lateness_seconds",
    "How late a timer fired after its due time",
    buckets=LATENESS_BUCKETS,
)
JOB_DURATION = Histogram(
    "assistflow_scheduler_job_duration_seconds",
    "Scheduler job run time",
    ["job"],
    buckets=LATENCY_BUCKETS + (30.0, 60.0),
)
CONFLICT_RETRIES = Counter(
    "assistflow_conflict_retries_total",
    "Transactions the database ended for a concurrent one (a deadlock) and run again, per origin",
    ["origin"],
)
JOB_FAILURES = Counter("assistflow_scheduler_job_failures_total", "Scheduler job runs that raised", ["job"])
JOB_LAST_SUCCESS = Gauge(
    "assistflow_scheduler_job_last_success_timestamp_seconds",
    "Unix time of the job's last successful run in any scheduler process",
    ["job"],
    multiprocess_mode="max",
)
POOL_CHECKED_OUT = Gauge(
    "assistflow_db_pool_checked_out",
    "Database connections in use (sum over live processes)",
    multiprocess_mode="livesum",
)
POOL_SIZE = Gauge(
    "assistflow_db_pool_size", "Database pool size (sum over live processes)", multiprocess_mode="livesum"
)
LOGIN_REFUSED_BUSY = Counter(
    "assistflow_login_busy_total", "Password checks refused because every slot was busy"
)

_PENDING = "metrics_pending"


def on_commit(session: Session, change: Callable[[], None]) -> None:
    """Apply ``change`` (a counter increment) once ``session``'s transaction commits."""
    session.info.setdefault(_PENDING, []).append(change)


@event.listens_for(Session, "after_commit")
def _apply(session: Session) -> None:
    for change in session.info.pop(_PENDING, []):
        change()


@event.listens_for(Session, "after_rollback")
def _drop(session: Session) -> None:
    session.info.pop(_PENDING, None)


# --- kernel bus handlers (subscribed in engine.wiring) -------------------------------------------------


def on_task_completed(session: Session, *, row: Any, loaded: Any, **_: Any) -> None:
    procedure = loaded.instance.process_key
    on_commit(session, lambda: COMPLETIONS.labels(procedure).inc())


def on_timer_due(session: Session, *, instance: Any, fired: list[tuple[str, Any]], **_: Any) -> None:
    now = utcnow()
    procedure = instance.process_key
    lateness = [max(0.0, (now - _aware(due)).total_seconds()) for _bpmn_id, due in fired if due is not None]

    def change() -> None:
        TIMERS_FIRED.labels(procedure).inc(len(fired))
        for seconds in lateness:
            TIMER_LATENESS.observe(seconds)

    on_commit(session, change)


def _aware(value: Any) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def observe_pool(engine: Any) -> None:
    """This process's pool use (called per request; a QueuePool reports size and checked-out)."""
    pool = engine.pool
    checked_out, size = getattr(pool, "checkedout", None), getattr(pool, "size", None)
    if callable(checked_out) and callable(size):
        POOL_CHECKED_OUT.set(checked_out())
        POOL_SIZE.set(size())


# --- gauges computed at scrape ------------------------------------------------------------------------


class DatabaseCollector(Collector):
    """The gauges read from the database at each scrape (one short session)."""

    def __init__(self, session_factory: Callable[[], Session]):
        self.session_factory = session_factory

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from engine.system import status

        with self.session_factory() as session:
            snap = status.figures(session, utcnow())
        sla = GaugeMetricFamily("assistflow_open_tasks", "Open human tasks per SLA colour", labels=["sla"])
        for colour, count in snap.open_tasks_by_sla.items():
            sla.add_metric([colour], count)
        yield sla
        yield GaugeMetricFamily("assistflow_open_incidents", "Open incidents", value=snap.open_incidents)
        yield GaugeMetricFamily(
            "assistflow_email_outbox_depth", "E-mails waiting to be sent", value=snap.outbox_pending
        )
        yield GaugeMetricFamily(
            "assistflow_audit_seal_pending", "Audit events committed, not yet sealed", value=snap.seal_pending
        )
        yield GaugeMetricFamily(
            "assistflow_audit_seal_lag_seconds",
            "Age of the oldest audit event not yet sealed (0 when none)",
            value=snap.seal_lag_seconds,
        )
        yield GaugeMetricFamily(
            "assistflow_scheduler_processes_alive",
            "Scheduler processes whose heartbeat is recent",
            value=snap.schedulers_alive,
        )
        yield GaugeMetricFamily(
            "assistflow_scheduler_heartbeat_age_seconds",
            "Seconds since the freshest heartbeat of a running scheduler (NaN when none ever beat)",
            value=snap.heartbeat_age_seconds if snap.heartbeat_age_seconds is not None else float("nan"),
        )
        yield GaugeMetricFamily(
            "assistflow_scheduler_due_wakeups",
            "Cases whose timers or deadlines are due and not yet handled",
            value=snap.due_wakeups,
        )
        yield GaugeMetricFamily(
            "assistflow_scheduler_lag_seconds",
            "How long the oldest due wake-up has waited (0 when none)",
            value=snap.oldest_due_seconds,
        )
        yield GaugeMetricFamily(
            "assistflow_holiday_calendar_covered_days",
            "Days from today the holiday calendar covers without a gap (capped at 400)",
            value=snap.calendar_covered_days,
        )


def registry_for_scrape(session_factory: Callable[[], Session]) -> CollectorRegistry:
    """The registry one scrape reads: this process's metrics (or every worker's, in multiprocess mode)
    and the database gauges."""
    from prometheus_client import REGISTRY, multiprocess

    registry = CollectorRegistry(auto_describe=False)
    if MULTIPROCESS:
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Forward(REGISTRY))
    registry.register(DatabaseCollector(session_factory))
    return registry


_MERGERS: dict[str, Any] = {}


def scrape_text(session_factory: Callable[[], Session]) -> bytes:
    """The body of one ``/metrics`` scrape. In multiprocess mode every worker's files are merged by
    :class:`engine.system.metrics_merge.Merger` (which keeps what it learnt of each file between scrapes)
    instead of prometheus-client's collector, which re-parses every file at each scrape."""
    from prometheus_client import generate_latest

    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    if not (MULTIPROCESS and path):
        return generate_latest(registry_for_scrape(session_factory))
    from engine.system.metrics_merge import Merger

    merger = _MERGERS.get(path)
    if merger is None:
        merger = _MERGERS[path] = Merger(path)
    gauges = CollectorRegistry(auto_describe=False)
    gauges.register(DatabaseCollector(session_factory))
    return merger.text().encode("utf-8") + generate_latest(gauges)


class _Forward(Collector):
    def __init__(self, source: CollectorRegistry):
        self.source = source

    def collect(self) -> Iterator[Any]:
        yield from self.source.collect()
