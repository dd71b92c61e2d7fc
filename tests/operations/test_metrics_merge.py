"""The fast multiprocess merge of ``/metrics`` (engine/system/metrics_merge.py) says what prometheus-client's
own ``MultiProcessCollector`` says, on the first scrape and on later ones, after values change, entries
are appended, a live gauge's file goes away, a new worker appears and a file is replaced."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from prometheus_client import CollectorRegistry, generate_latest, multiprocess
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.parser import text_string_to_metric_families

from engine.system.metrics_merge import Merger

WORKER = textwrap.dedent(
    """
    import sys
    from engine.system import metrics
    assert metrics.MULTIPROCESS
    n = int(sys.argv[1])
    for r in range(3 + n):
        route = f'/api/v1/r{r}/<int:id>'
        metrics.HTTP_REQUESTS.labels("GET", route, "2xx").inc(r + n)
        metrics.HTTP_LATENCY.labels("POST", route).observe(0.003 * (r + 1) * n)
    metrics.HTTP_REQUESTS.labels("GET", 'odd "quoted" \\\\ route\\nline', "4xx").inc()
    metrics.COMPLETIONS.labels("demo").inc(n)
    metrics.TIMER_LATENESS.observe(1.5 * n)
    metrics.JOB_LAST_SUCCESS.labels("mail").set(1000 + n)
    metrics.POOL_CHECKED_OUT.set(n)
    metrics.POOL_SIZE.set(5)
    """
)


def _workers(path, *ns):
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(path)}
    for n in ns:
        subprocess.run([sys.executable, "-c", WORKER, str(n)], env=env, check=True, timeout=120)


def _samples(text: str) -> dict:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _library(path) -> dict:
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(path))
    return _samples(generate_latest(registry).decode())


def test_the_merge_matches_the_librarys_across_scrapes(tmp_path):
    _workers(tmp_path, 1, 2, 3)
    merger = Merger(str(tmp_path))
    first = _samples(merger.text())
    assert first == pytest.approx(_library(tmp_path))  # sums in another order: the last bit may differ
    assert first[("assistflow_task_completions_total", (("procedure", "demo"),))] == 6.0
    assert first[("assistflow_scheduler_job_last_success_timestamp_seconds", (("job", "mail"),))] == 1003.0
    assert first[("assistflow_db_pool_size", ())] == 15.0
    hist = (
        "assistflow_http_request_duration_seconds_count",
        (("method", "POST"), ("route", "/api/v1/r0/<int:id>")),
    )
    assert first[hist] == 3.0
    assert merger.text() == merger.text()  # a scrape changes nothing

    # a process's values change and it adds entries: the file grows under the same name
    counter = next(p for p in sorted(tmp_path.iterdir()) if p.name.startswith("counter_"))
    writer = MmapedDict(str(counter))
    key = mmap_key(
        "assistflow_task_completions", "assistflow_task_completions_total", ["procedure"], ["demo"], "x"
    )
    old = dict((k, v) for k, v, _t, _p in MmapedDict.read_all_values_from_file(str(counter)))
    writer.write_value(key if key in old else next(iter(old)), 50.0, 0.0)
    for i in range(40):  # past the first page of the file
        new = mmap_key(
            "assistflow_timers_fired", "assistflow_timers_fired_total", ["procedure"], [f"p{i}"], "t"
        )
        writer.write_value(new, float(i), 0.0)
    writer.close()
    # a live gauge's process ended; a new worker came
    multiprocess.mark_process_dead(counter.name.removeprefix("counter_").removesuffix(".db"), str(tmp_path))
    _workers(tmp_path, 4)
    second = _samples(merger.text())
    assert second == pytest.approx(_library(tmp_path))
    assert second[("assistflow_timers_fired_total", (("procedure", "p39"),))] == 39.0
    assert second != first

    # a file replaced under the same name (a node restarted with a reused pid): read afresh
    for path in tmp_path.iterdir():
        path.unlink()
    _workers(tmp_path, 5)
    writer = MmapedDict(str(counter))
    writer.write_value(
        mmap_key("assistflow_login_busy", "assistflow_login_busy_total", [], [], "b"), 7.0, 0.0
    )
    writer.close()
    third = _samples(merger.text())
    assert third == pytest.approx(_library(tmp_path))
    assert third[("assistflow_login_busy_total", ())] == 7.0


def test_an_empty_directory_scrapes_empty(tmp_path):
    assert Merger(str(tmp_path)).text() == ""
