"""What one task completion costs the server: CPU time and SQL statements per ``POST …/complete``.

    .venv/bin/python bench/completion_profile.py [CASES] [options]

One throw-away SQLite database (``--pg``: PostgreSQL, as bench/common.py finds it); the app as
gunicorn runs it (not TESTING, its request log formatted), called through its WSGI interface by Flask's
test client in this process — no network, no client processes. ``CASES`` comprehensive-assistance cases
(default 20) are started and their application's required materials uploaded first (not measured, as
bench/login_storm.py's clients do before the run); then each case's seven steps are completed in order
through the REST API (bench/http_throughput.py's forms), case after case. Only the completion requests
are measured.

Printed: the machine reference (bench/common.py), CPU ms per completion (``time.process_time``: the
mean, and the median case's per step, the steadier figure on a busy machine), SQL statements per
completion and per step (a ``before_cursor_execute`` listener); then, for as many more cases under
cProfile, the top hotspots and the own time by package. Options:

* ``--no-profile``: the figures only; ``--top N`` hotspots (40), ``--sort cumulative|tottime``;
* ``--callees REGEX``: what the matching functions call (``^REGEX``: who calls them);
* ``--cpu-clock``: cProfile counts CPU time (``time.process_time``) instead of wall time, so the waits
  for the database are not counted as the functions' time; ``--dump FILE``: the raw profile for pstats;
* ``--sql``: the statements of the first case's completions;
* ``--gunicorn``: instead, the same completions over HTTP against gunicorn (1 gthread worker × 4
  threads; ``--workers W``, ``--threads T``), the workers' CPU read from /proc; ``--clients K``: K
  clients at once.
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

_TMP = tempfile.mkdtemp(prefix="assistflow-profile-")
os.environ.setdefault("ASSISTFLOW_AUDIT_CHECKPOINT_DIR", f"{_TMP}/audit-checkpoints")
os.environ.setdefault("ASSISTFLOW_FILES_URL", f"{_TMP}/files")

import common  # noqa: E402  (the data keys, made for this run)
import http_throughput as ht  # noqa: E402

ARGS = [
    a
    for i, a in enumerate(sys.argv[1:], 1)
    if not a.startswith("-")
    and sys.argv[i - 1]
    not in ("--top", "--sort", "--callees", "--dump", "--clients", "--workers", "--threads")
]
CASES = int(ARGS[0]) if ARGS else 20
TOP = int(sys.argv[sys.argv.index("--top") + 1]) if "--top" in sys.argv else 40
PROFILE = "--no-profile" not in sys.argv
SHOW_SQL = "--sql" in sys.argv  # print the statements of the first case's completions
PG = "--pg" in sys.argv  # a throw-away PostgreSQL database instead of SQLite
THREADS = int(sys.argv[sys.argv.index("--clients") + 1]) if "--clients" in sys.argv else 1
WORKERS = int(sys.argv[sys.argv.index("--workers") + 1]) if "--workers" in sys.argv else 1
WORKER_THREADS = int(sys.argv[sys.argv.index("--threads") + 1]) if "--threads" in sys.argv else 4
GUNICORN = "--gunicorn" in sys.argv  # the worker's CPU under gunicorn instead (no profile)
SORT = sys.argv[sys.argv.index("--sort") + 1] if "--sort" in sys.argv else "cumulative"


def make_app(url: str):
    os.environ["DATABASE_URL"] = url
    ht.setup(url)  # migrated, reference org units, the shipped procedures, the user "bench"
    from api import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": url})


def prepare(client, headers: dict[str, str], cases: int) -> list[list[dict]]:
    """``cases`` started cases with their application's materials uploaded; each case's open tasks."""
    from api.demo_materials import sample_pdf

    pdf = sample_pdf("bench")
    prepared = []
    for _ in range(cases):
        answer = client.post(
            "/api/v1/process-instances",
            json={"process_key": "comprehensive_assistance", "org_unit": ht.STREET},
            headers=headers,
        )
        assert answer.status_code == 201, answer.get_json()
        open_tasks = answer.get_json()["open_tasks"]
        first = next(t for t in open_tasks if t["bpmn_id"] == "application")
        listing = client.get(f"/api/v1/tasks/{first['id']}/materials", headers=headers).get_json()
        for item in listing.get("items", []):
            if item.get("required") and not item.get("done"):
                done = client.post(
                    f"/api/v1/tasks/{first['id']}/attachments?field={item['field']}",
                    data={"file": (io.BytesIO(pdf), "scan.pdf", "application/pdf")},
                    headers=headers,
                    content_type="multipart/form-data",
                )
                assert done.status_code in (200, 201), done.get_json()
        prepared.append(open_tasks)
    return prepared


def complete_all(
    client, headers, prepared, statements: Counter, by_step: Counter, per_case: list[float] | None = None
) -> tuple[int, float]:
    """Complete every prepared case's steps in order; (completions, CPU seconds of the requests); the CPU
    seconds of each case's completions are appended to ``per_case``."""
    per_case = [] if per_case is None else per_case
    done, cpu = 0, 0.0
    for open_tasks in prepared:
        case_cpu = cpu
        for bpmn_id, data in ht.STEPS:
            task = next(t for t in open_tasks if t["bpmn_id"] == bpmn_id)
            before = statements["n"]
            t0 = time.process_time()
            answer = client.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": data}, headers=headers)
            cpu += time.process_time() - t0
            by_step[bpmn_id] += statements["n"] - before
            assert answer.status_code == 200, (bpmn_id, answer.get_json())
            open_tasks = answer.get_json()["next_tasks"]
            done += 1
        per_case.append(cpu - case_cpu)
    return done, cpu


def worker_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_gunicorn(url: str) -> None:
    """The same completions against gunicorn (``--workers W`` gthread workers × ``--threads T``: 1 × 4 by
    default, as bench/login_storm.py's node per worker; log level WARNING), over HTTP from this process;
    the workers' CPU time from /proc."""
    import subprocess

    ht.setup(url)
    os.environ.update(
        BENCH_GUNICORN_ARGS=f"--threads {WORKER_THREADS} --worker-class gthread",
        ASSISTFLOW_LOG_FORMAT="json",
        ASSISTFLOW_LOG_LEVEL="WARNING",
    )
    proc, port = ht.gunicorn(url, WORKERS)
    try:
        found = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True)
        pids = [int(pid) for pid in found.stdout.split()]

        def workers_cpu() -> float:
            return sum(worker_cpu(pid) for pid in pids)

        client = ht.Client(port)

        def prepared(cases: int) -> list[list[dict]]:
            out = []
            for _ in range(cases):
                body = {"process_key": "comprehensive_assistance", "org_unit": ht.STREET}
                status, case = client.call("POST", "/api/v1/process-instances", body)
                assert status == 201, case
                first = next(t for t in case["open_tasks"] if t["bpmn_id"] == "application")
                ht.supply(client, first["id"])
                out.append(case["open_tasks"])
            return out

        def complete(cases: list[list[dict]], client: ht.Client = client) -> int:
            done = 0
            for open_tasks in cases:
                for bpmn_id, data in ht.STEPS:
                    task = next(t for t in open_tasks if t["bpmn_id"] == bpmn_id)
                    status, answer = client.call(
                        "POST", f"/api/v1/tasks/{task['id']}/complete", {"data": data}
                    )
                    assert status == 200, (bpmn_id, answer)
                    open_tasks = answer["next_tasks"]
                    done += 1
            return done

        complete(prepared(2))  # warm-up
        cases = prepared(CASES)
        before = workers_cpu()
        if THREADS == 1:
            n = complete(cases)
        else:  # THREADS clients at once, each its own connection and share of the cases
            from concurrent.futures import ThreadPoolExecutor

            clients = [ht.Client(port) for _ in range(THREADS)]
            before = workers_cpu()
            with ThreadPoolExecutor(THREADS) as pool:
                n = sum(pool.map(complete, [cases[i::THREADS] for i in range(THREADS)], clients))
        used = workers_cpu() - before
        print(
            f"{n} completions (gunicorn {WORKERS} worker(s) × {WORKER_THREADS} threads, "
            f"{'PostgreSQL' if PG else 'SQLite'}, {CASES} cases × {len(ht.STEPS)} steps, "
            f"{THREADS} client(s) at once)"
        )
        print(f"  machine reference:         {common.machine_reference():6.2f} ms (bench/common.py)")
        print(
            f"  worker CPU per completion: {used / n * 1000:6.2f} ms (clock ticks: ±{1000 / os.sysconf('SC_CLK_TCK') / n * 2:.2f} ms)"
        )
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    url = common.postgres_url() if PG else f"sqlite:///{_TMP}/profile.db"
    if url is None:
        sys.exit("no PostgreSQL server reachable (BENCH_PG_URL or 127.0.0.1:5432 user postgres)")
    try:
        run_gunicorn(url) if GUNICORN else run(url)
    finally:
        if PG:
            common.drop_database(url)  # WITH (FORCE): this process's connections go with it


def run(url: str) -> None:
    import logging

    from sqlalchemy import event

    from api import logs
    from api.extensions import db

    app = make_app(url)
    # as api.wsgi runs it: one JSON line per request (written to nowhere here; formatted all the same)
    logging.disable(logging.NOTSET)
    logs.configure(stream=open(os.devnull, "w"))  # noqa: SIM115
    statements: Counter = Counter()
    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "before_cursor_execute")
    def _count(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        statements["n"] += 1
        if SHOW_SQL and statements["show"]:
            print("    SQL", " ".join(statement.split())[:400])

    client = app.test_client()
    token = client.post("/api/v1/auth/token", json={"username": "bench", "password": ht.PASSWORD})
    headers = {"Authorization": f"Bearer {token.get_json()['token']}"}

    # warm-up: one case end to end (caches, lazy imports), not counted
    complete_all(client, headers, prepare(client, headers, 1), Counter(), Counter())

    prepared = prepare(client, headers, CASES * (2 if PROFILE else 1) + (1 if SHOW_SQL else 0))
    by_step: Counter = Counter()
    statements["n"] = 0
    if SHOW_SQL:
        statements["show"] = 1
        complete_all(client, headers, prepared[:1], Counter(), Counter())
        statements["show"] = 0
        prepared = prepared[1:]
        statements["n"] = 0
    per_case: list[float] = []
    n, cpu = complete_all(client, headers, prepared[:CASES], statements, by_step, per_case)
    median = statistics.median(per_case) / len(ht.STEPS)
    print(f"{n} completions ({'PostgreSQL' if PG else 'SQLite'}, {CASES} cases × {len(ht.STEPS)} steps)")
    print(f"  machine reference:         {common.machine_reference():6.2f} ms (bench/common.py)")
    print(f"  CPU per completion:        {cpu / n * 1000:6.2f} ms")
    print(f"  median case, per step:     {median * 1000:6.2f} ms (steadier on a busy machine)")
    print(f"  statements per completion: {statements['n'] / n:6.2f}")
    print("  statements per step:       " + ", ".join(f"{k} {v / CASES:.1f}" for k, v in by_step.items()))
    if not PROFILE:
        return
    profiler = cProfile.Profile(time.process_time) if "--cpu-clock" in sys.argv else cProfile.Profile()
    profiler.enable()
    n2, cpu2 = complete_all(client, headers, prepared[CASES:], Counter(), Counter())
    profiler.disable()
    if "--dump" in sys.argv:  # the raw profile, for pstats or snakeviz
        profiler.dump_stats(sys.argv[sys.argv.index("--dump") + 1])
    print(f"  under cProfile:            {cpu2 / n2 * 1000:6.2f} ms per completion")
    calls = pstats.Stats(profiler).total_calls  # type: ignore[attr-defined]
    print(f"  function calls per completion (steady under load): {calls / n2:,.0f}")
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats(SORT).print_stats(TOP)
    print(out.getvalue())
    by_package: Counter = Counter()
    for (filename, _line, _name), (_cc, _nc, tottime, _ct, _callers) in pstats.Stats(profiler).stats.items():
        part = filename.split("site-packages/")[-1] if "site-packages/" in filename else filename
        by_package[
            part.split("/")[0] if "site-packages/" in filename else part.replace(str(ROOT) + "/", "")[:40]
        ] += tottime
    total = sum(by_package.values())
    print(
        "  own time by package / file: "
        + ", ".join(f"{k} {v / total:.0%}" for k, v in by_package.most_common(25))
    )
    if "--callees" in sys.argv:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).sort_stats("cumulative")
        pattern = sys.argv[sys.argv.index("--callees") + 1]
        stats.print_callers(pattern[1:]) if pattern.startswith("^") else stats.print_callees(pattern)
        print(out.getvalue())


if __name__ == "__main__":
    main()
