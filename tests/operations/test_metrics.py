"""Prometheus metrics (issue 20), moved by real actions: task completions per procedure (committed
ones only), timers fired and their lateness, the gauges read at scrape (open tasks per SLA colour,
incidents, outbox, seal lag, scheduler heartbeat), per-route request counts, the optional token, and
prometheus-client's multiprocess mode across processes. Both databases."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import sessionmaker

from engine.deadlines import service as deadlines
from engine.system.heartbeat import Heartbeat
from tests.helpers import make_due_timers
from tests.procedures.helpers import Case, to_review

KEY = "comprehensive_assistance"


def _value(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def scrape(client, headers=None) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", headers=headers or {})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }


def test_a_completion_moves_the_counter_of_its_procedure(client, login):
    before = _value("assistflow_task_completions_total", {"procedure": KEY})
    case = Case(client, login)  # the application: one completion
    assert _value("assistflow_task_completions_total", {"procedure": KEY}) == before + 1
    refused = case.submit("acceptance", "pt_officer", {"accepted": "maybe"})
    assert refused.status_code == 422  # rolled back: not counted
    assert _value("assistflow_task_completions_total", {"procedure": KEY}) == before + 1
    to_review(case)  # acceptance, investigation, assessment
    seen = scrape(client)
    assert seen[("assistflow_task_completions_total", (("procedure", KEY),))] == before + 4
    route = "/api/v1/tasks/<int:task_id>/complete"
    assert (
        seen[("assistflow_http_requests_total", (("method", "POST"), ("route", route), ("status", "2xx")))]
        >= 4
    )
    assert (
        seen[("assistflow_http_requests_total", (("method", "POST"), ("route", route), ("status", "4xx")))]
        >= 1
    )
    assert (
        seen[("assistflow_http_request_duration_seconds_count", (("method", "POST"), ("route", route)))] >= 5
    )
    assert seen[("assistflow_open_tasks", (("sla", "green"),))] >= 1  # the case's next step


def test_a_fired_timers_lateness_is_observed(client, session, engine, schedules_ahead):
    count = _value("assistflow_timer_lateness_seconds_count")
    total = _value("assistflow_timer_lateness_seconds_sum")
    fired = _value("assistflow_timers_fired_total", {"procedure": "timer_wait"})
    make_due_timers(session, 2)  # each fell due an hour ago
    deadlines.run_due(sessionmaker(bind=engine, expire_on_commit=False))
    assert _value("assistflow_timers_fired_total", {"procedure": "timer_wait"}) == fired + 2
    assert _value("assistflow_timer_lateness_seconds_count") == count + 2
    late = _value("assistflow_timer_lateness_seconds_sum") - total
    assert 2 * 3600 <= late < 2 * 3600 + 600  # an hour late each, give or take the test's own run
    seen = scrape(client)
    assert seen[("assistflow_timer_lateness_seconds_bucket", (("le", "60.0"),))] <= count + 2 - 2
    assert seen[("assistflow_timer_lateness_seconds_bucket", (("le", "86400.0"),))] >= count + 2


def test_gauges_read_at_scrape(client, engine, session):
    seen = scrape(client)
    assert seen[("assistflow_scheduler_processes_alive", ())] == 0
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    beat = Heartbeat()
    beat.beat(factory)
    seen = scrape(client)
    assert seen[("assistflow_scheduler_processes_alive", ())] == 1
    assert 0 <= seen[("assistflow_scheduler_heartbeat_age_seconds", ())] < 120
    beat.stopped(factory)
    assert scrape(client)[("assistflow_scheduler_processes_alive", ())] == 0
    for name in (
        "assistflow_open_incidents",
        "assistflow_email_outbox_depth",
        "assistflow_audit_seal_pending",
        "assistflow_audit_seal_lag_seconds",
        "assistflow_scheduler_due_wakeups",
        "assistflow_scheduler_lag_seconds",
        "assistflow_holiday_calendar_covered_days",
        "assistflow_db_pool_checked_out",
    ):
        assert (name, ()) in seen, name
    assert {("assistflow_open_tasks", (("sla", c),)) for c in ("green", "yellow", "orange", "red")} <= set(
        seen
    )


def test_the_token_when_configured(client, app):
    app.config["METRICS_TOKEN"] = "scrape-secret-0123456789"
    try:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        scrape(client, {"Authorization": "Bearer scrape-secret-0123456789"})
    finally:
        app.config["METRICS_TOKEN"] = None


def test_multiprocess_mode_adds_up_the_workers(tmp_path):
    """Three processes with PROMETHEUS_MULTIPROC_DIR: two count, the third (a scrape) sees the sum."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    work = textwrap.dedent(
        """
        from engine.system import metrics
        assert metrics.MULTIPROCESS
        metrics.COMPLETIONS.labels("demo").inc(3)
        metrics.HTTP_LATENCY.labels("GET", "/x").observe(0.02)
        """
    )
    for _ in range(2):
        subprocess.run([sys.executable, "-c", work], env=env, check=True, timeout=120)
    read = textwrap.dedent(
        """
        from prometheus_client import CollectorRegistry, generate_latest, multiprocess
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        print(generate_latest(registry).decode())
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", read], env=env, check=True, timeout=120, capture_output=True, text=True
    ).stdout
    assert 'assistflow_task_completions_total{procedure="demo"} 6.0' in out
    assert 'assistflow_http_request_duration_seconds_count{method="GET",route="/x"} 2.0' in out


def test_the_shipped_dashboard_reads_only_metrics_the_app_exposes(client):
    import json
    import re
    from pathlib import Path

    dashboard = json.loads((Path(__file__).parents[2] / "docs/grafana/assistflow-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {re.sub(r"_(bucket|count|sum)$", "", m) for e in exprs for m in re.findall(r"assistflow_\w+", e)}
    text = client.get("/metrics").get_data(as_text=True)
    exposed = {family.name for family in text_string_to_metric_families(text)}  # with or without samples
    exposed |= {f"{n}_total" for n in exposed}
    assert used <= exposed, used - exposed
