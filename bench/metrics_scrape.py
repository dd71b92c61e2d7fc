"""How long a Prometheus scrape of ``/metrics`` takes with 8 gunicorn workers' data (issue 20: ≤ 50 ms).

    .venv/bin/python bench/metrics_scrape.py [WORKERS] [ROUTES]

Eight worker processes (``WORKERS``) each record, in prometheus-client's multiprocess mode, requests on
``ROUTES`` routes (two methods, two status classes, the latency histogram), completions of every procedure,
timer lateness and job runs — far more series than a day of real traffic makes. Then ``/metrics`` is
requested 50 times through the app on a migrated SQLite database (the multiprocess merge plus the
database gauges) and the time of each scrape is printed (median, p95, max), with the merge alone.

Before and after in one run: the merge alone with prometheus-client's ``MultiProcessCollector`` (what
``/metrics`` used before) and with ``engine.system.metrics_merge.Merger`` (what it uses now), and the
whole scrape both ways.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORKER = """
import random, sys
from engine.system import metrics
routes = int(sys.argv[1])
for r in range(routes):
    route = f"/api/v1/route_{r}/<int:id>"
    for method in ("GET", "POST"):
        for status in ("2xx", "4xx"):
            metrics.HTTP_REQUESTS.labels(method, route, status).inc(random.randint(1, 500))
        for _ in range(20):
            metrics.HTTP_LATENCY.labels(method, route).observe(random.random() / 5)
for p in ("comprehensive_assistance", "bridge_plan", "twinning", "service_referral_3a", "demo_assistance"):
    metrics.COMPLETIONS.labels(p).inc(random.randint(1, 900))
    metrics.TIMERS_FIRED.labels(p).inc(random.randint(1, 90))
for _ in range(200):
    metrics.TIMER_LATENESS.observe(random.random() * 3)
for job in ("wakeups", "audit_seal", "audit_checkpoint", "mail", "heartbeat"):
    metrics.JOB_DURATION.labels(job).observe(0.01)
    metrics.JOB_LAST_SUCCESS.labels(job).set(1.0)
metrics.POOL_CHECKED_OUT.set(1)
metrics.POOL_SIZE.set(5)
"""


def main() -> None:
    workers = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    routes = int(sys.argv[2]) if len(sys.argv) > 2 else 60
    tmp = Path(tempfile.mkdtemp(prefix="assistflow-scrape-"))
    prom = tmp / "prom"
    prom.mkdir()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(prom)  # before prometheus_client is imported
    import bench.common  # noqa: F401  (keys for the app)

    try:
        procs = [
            subprocess.Popen([sys.executable, "-c", WORKER, str(routes)], cwd=ROOT, env=os.environ.copy())
            for _ in range(workers)
        ]
        for p in procs:
            assert p.wait(300) == 0
        files = sorted(prom.iterdir())
        size = sum(f.stat().st_size for f in files)
        print(f"{workers} workers' data: {len(files)} files, {size / 1e6:.1f} MB, {routes} routes each")

        from prometheus_client import CollectorRegistry, generate_latest, multiprocess

        merge, merge_cpu = [], []
        for _ in range(20):
            started, started_cpu = time.perf_counter(), time.process_time()
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            body = generate_latest(registry)
            merge.append((time.perf_counter() - started) * 1000)
            merge_cpu.append((time.process_time() - started_cpu) * 1000)
        print(
            f"BEFORE  multiprocess merge alone (prometheus-client): median {statistics.median(merge):.1f} ms wall, "
            f"{statistics.median(merge_cpu):.1f} ms CPU ({len(body) / 1e3:.0f} kB)"
        )
        from engine.system.metrics_merge import Merger

        merger = Merger(str(prom))
        merger.text()  # the first scrape of a worker learns the files
        merge, merge_cpu = [], []
        for _ in range(20):
            started, started_cpu = time.perf_counter(), time.process_time()
            text = merger.text()
            merge.append((time.perf_counter() - started) * 1000)
            merge_cpu.append((time.process_time() - started_cpu) * 1000)
        print(
            f"AFTER   multiprocess merge alone (metrics_merge.Merger): median {statistics.median(merge):.1f} ms "
            f"wall, {statistics.median(merge_cpu):.1f} ms CPU ({len(text) / 1e3:.0f} kB)"
        )

        from flask_migrate import upgrade

        from api import create_app

        app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'scrape.db'}"})
        with app.app_context():
            upgrade()
        from sqlalchemy.orm import sessionmaker

        from api.extensions import db
        from engine.system import metrics

        with app.app_context():
            before, before_cpu = [], []
            for _ in range(20):
                started, started_cpu = time.perf_counter(), time.process_time()
                generate_latest(metrics.registry_for_scrape(sessionmaker(bind=db.engine)))
                before.append((time.perf_counter() - started) * 1000)
                before_cpu.append((time.process_time() - started_cpu) * 1000)
        before.sort()
        print(
            f"BEFORE  whole scrape (library merge + database gauges): median {statistics.median(before):.1f} ms "
            f"wall, {statistics.median(before_cpu):.1f} ms CPU, max {before[-1]:.1f} ms"
        )
        client = app.test_client()
        client.get("/metrics")  # warm
        times, cpu = [], []
        for _ in range(50):
            started, started_cpu = time.perf_counter(), time.process_time()
            response = client.get("/metrics")
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
            assert response.status_code == 200
        times.sort()
        print(
            f"CPU time per scrape: median {statistics.median(cpu):.1f} ms (wall time includes waiting for a core)"
        )
        print(
            f"AFTER   /metrics scrape (merge + database gauges, SQLite): median {statistics.median(times):.1f} ms, "
            f"p95 {times[int(len(times) * 0.95) - 1]:.1f} ms, max {times[-1]:.1f} ms, "
            f"{len(response.data) / 1e3:.0f} kB"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
