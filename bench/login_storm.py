"""A login storm against task completions (issue 20: 50 logins/s for 30 s while completions run on
2 cores — completion p99 ≤ 100 ms).

    .venv/bin/python bench/login_storm.py [SECONDS] [CLIENTS] [LOGINS_PER_SECOND]

One throw-away PostgreSQL database; gunicorn with 2 gthread workers × 4 threads (the node of
docs/DEPLOY.md on 2 cores). ``CLIENTS`` processes complete comprehensive-assistance steps in a loop
(bench/http_throughput.py's client) — first alone, then while a storm process opens
``LOGINS_PER_SECOND`` logins a second (open loop: a login is sent on schedule whether or not the
previous ones were answered). The configurations, the newest first (an older one's backlog of logins
outlives its run):

* **pool**: argon2 (19 MiB, t=2, p=1) in one separate process per worker started at a lower CPU
  priority (``ASSISTFLOW_LOGIN_PROCESSES=1``, ``ASSISTFLOW_LOGIN_NICE=10``;
  engine/users/password_pool.py), at most two logins per worker waiting for it, else 503 with
  Retry-After at once;
* **in-thread**: the same parameters checked in the web thread, one check per worker at a time
  (ASSISTFLOW_LOGIN_CONCURRENCY = cores ÷ workers), a login waiting up to 0.1 s for its slot, else 503;
* **library defaults** (``--library-defaults`` only): the library's argon2 parameters (64 MiB, t=3,
  p=4), checked in the thread with no bound.

``--config N`` runs the N-th configuration only (1: the shipped one). ``--interleave W`` (with ``--rate``)
runs one run in which the storm is on and off in turns of W seconds (off first) and compares the
completions due while it was on with those due while it was off, in the same run: the machine's speed,
which on a shared VM moves between runs, moves both alike (the first second of each turn is left out of
both, as the queue of one turn drains into the next). ``BENCH_WORKERS`` and
``BENCH_THREADS`` change the node (default 2 × 4). ``--rate R`` makes the completions an open loop: the clients offer R a second between them on schedule
(8 threads each), and a completion's latency counts from the moment it was due. ``--pool-only`` runs
the three pool configurations, ``--default`` the first (the shipped one:
``ASSISTFLOW_LOGIN_CPUS=last``, nice 10). Without ``--cycle`` the clients start their cases and upload
the application's materials before the run (not timed) and then only complete steps; each
configuration first runs 5 s unmeasured (warm-up). With ``--cycle`` each client also starts its cases and
uploads their materials during the run (bench/http_throughput.py's loop).

Printed: completions/s, completion p50/p99, and the logins' outcomes (201 / 503 / other) and p50/p99.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing as mp
import os
import queue
import resource
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import common  # noqa: E402
import http_throughput as ht  # noqa: E402
from common import drop_database, postgres_url  # noqa: E402

ARGS = [
    a
    for i, a in enumerate(sys.argv[1:], 1)
    if not a.startswith("-") and sys.argv[i - 1] not in ("--rate", "--config", "--interleave")
]
SECONDS = float(ARGS[0]) if ARGS else 30.0
CLIENTS = int(ARGS[1]) if len(ARGS) > 1 else 4
RATE = float(ARGS[2]) if len(ARGS) > 2 else 50.0
CYCLE = "--cycle" in sys.argv
# --rate R: the clients offer R completions a second between them on schedule (open loop), instead of
# completing as fast as answered (closed loop)
OPEN_RATE = (
    float(sys.argv[sys.argv.index("--rate") + 1]) if "--rate" in sys.argv else 0.0
)  # each client also starts its cases and uploads their materials in the run

# --interleave W: the storm on and off in turns of W seconds within one run (needs --rate)
INTERLEAVE = float(sys.argv[sys.argv.index("--interleave") + 1]) if "--interleave" in sys.argv else 0.0


def storm_on(moment: float, epoch: float) -> bool | None:
    """With --interleave: is the storm on at ``moment`` (None in the first second of a turn)?"""
    since = moment - epoch
    if since % INTERLEAVE < 1.0:
        return None
    return int(since // INTERLEAVE) % 2 == 1


# the node: gunicorn workers × threads (docs/DEPLOY.md's 2-core node by default)
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
THREADS = int(os.environ.get("BENCH_THREADS", "4"))

TICK = os.sysconf("SC_CLK_TCK")


def _cpu_of(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except (FileNotFoundError, ProcessLookupError):
        return 0.0


def _children(pid: int) -> list[int]:
    """The children of every thread of ``pid`` (a worker's request thread starts its password pool)."""
    found: list[int] = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return found
    for tid in threads:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                found += [int(x) for x in f.read().split()]
        except FileNotFoundError:
            pass
    return found


def cpu_split(server_pid: int) -> dict[str, dict[int, float]]:
    """CPU seconds so far of each web worker, password-check process and PostgreSQL backend, by pid."""
    workers = _children(server_pid)
    pools = [c for w in workers for c in _children(w)]
    workers.append(server_pid)
    postgres = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as f:
                    if f.read().strip() == "postgres":
                        postgres.append(int(entry))
            except (FileNotFoundError, ProcessLookupError):
                pass
    return {
        "web": {p: _cpu_of(p) for p in workers},
        "argon2": {p: _cpu_of(p) for p in pools},
        "postgres": {p: _cpu_of(p) for p in postgres},
    }


def cpu_used(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]) -> dict[str, float]:
    """CPU seconds between two :func:`cpu_split` readings (a process that came or went in between
    counts from zero or not at all: PostgreSQL backends of connections opened or closed meanwhile)."""
    return {
        kind: sum(max(0.0, t - before[kind].get(pid, 0.0)) for pid, t in after[kind].items())
        for kind in after
    }


def storm(port: int, start_at: float, stop_at: float, out: mp.Queue) -> None:
    results: list[tuple[int, float]] = []
    lock = threading.Lock()

    def one() -> None:
        t0 = time.perf_counter()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            body = json.dumps({"username": "bench", "password": ht.PASSWORD})
            conn.request(
                "POST", "/api/v1/auth/token", body=body, headers={"Content-Type": "application/json"}
            )
            status = conn.getresponse().status
            conn.close()
        except OSError:
            status = 0
        with lock:
            results.append((status, time.perf_counter() - t0))

    while time.time() < start_at:
        time.sleep(0.005)
    with ThreadPoolExecutor(max_workers=400) as pool:
        n = 0
        while True:
            due = start_at + n / RATE
            if due >= stop_at:
                break
            pause = due - time.time()
            if pause > 0:
                time.sleep(pause)
            if not INTERLEAVE or int((due - start_at) // INTERLEAVE) % 2 == 1:
                pool.submit(one)
            n += 1
    out.put(results)


supply = ht.supply  # the application's required sample PDFs, as http_throughput's clients do


def logged_in(port: int) -> ht.Client | None:
    """A client logged in as the bench user; a login answered 503 (busy) is tried again."""
    for _attempt in range(100):
        try:
            return ht.Client(port)
        except (OSError, KeyError):
            time.sleep(0.2)
    return None


def complete_steps(client, open_tasks: list, stop_at: float, latencies: list, supplying: bool = False) -> int:
    """Complete a case's steps in order, each timed (the application's materials first when
    ``supplying``, not timed); the number of errors (0 or 1: the case is left at the first)."""
    for bpmn_id, data in ht.STEPS:
        task = next((t for t in open_tasks if t["bpmn_id"] == bpmn_id), None)
        if task is None:
            return 1
        if supplying and bpmn_id == "application":
            supply(client, task["id"])
        t0 = time.perf_counter()
        status, done = client.call("POST", f"/api/v1/tasks/{task['id']}/complete", {"data": data})
        if time.time() > stop_at:
            return 0
        latencies.append(time.perf_counter() - t0)
        if status != 200:
            print(f"completion of {bpmn_id} answered {status}: {done}", file=sys.stderr)
            return 1
        open_tasks = done.get("next_tasks", [])
    return 0


def client_loop(port: int, start_at: float, stop_at: float, out: mp.Queue) -> None:
    """bench/http_throughput.py's loop, except that a request timing out (a starved server) is counted
    as an error with its time, not a crash of the client, and that the application's required materials
    are uploaded before it is completed (not timed)."""
    latencies, errors = [], 0
    client = logged_in(port)  # the client's own login may be answered 503 (busy): it retries
    if client is None:
        out.put(([], 1))
        return
    client.conn.timeout = 15
    while time.time() < start_at:
        time.sleep(0.01)
    while time.time() < stop_at:
        try:
            status, case = client.call(
                "POST",
                "/api/v1/process-instances",
                {"process_key": "comprehensive_assistance", "org_unit": ht.STREET},
            )
            if status != 201:
                errors += 1
                continue
            errors += complete_steps(client, case.get("open_tasks", []), stop_at, latencies, supplying=True)
        except OSError:  # timed out: the completion waited 15 s and more
            latencies.append(15.0)
            errors += 1
            client.conn.close()
    out.put((latencies, errors))


def collect(
    procs: list, out: mp.Queue, storm_proc: mp.Process | None, storm_out: mp.Queue
) -> tuple[list, list]:
    """Every client's results (and the storm's logins), once each process has ended."""
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    login_results = storm_out.get() if storm_proc else []
    if storm_proc:
        storm_proc.join()
    return results, login_results


def summarize(results: list[tuple], length: float) -> dict:
    """Rate, p50 and p99 (ms) of the clients' completion latencies, and their errors."""
    latencies = sorted(x for r in results for x in r[0])
    return {
        "rate": len(latencies) / length,
        "p50": latencies[len(latencies) // 2] * 1000 if latencies else float("nan"),
        "p99": latencies[int(len(latencies) * 0.99)] * 1000 if latencies else float("nan"),
        "errors": sum(r[1] for r in results),
    }


def prepared_loop(
    port: int, cases: int, ready: mp.Queue, go: mp.Event, stop_in: float, out: mp.Queue, epoch: Any = None
) -> None:
    """Completions only: first (not timed) start ``cases`` cases and upload their application's required
    materials; then, once every client is ready, complete their steps in order as fast as the server
    answers, until the run ends. A client that runs out of prepared cases starts more (not timed)."""
    latencies, errors, ran_out = [], 0, 0
    client = logged_in(port)
    if client is None:
        ready.put(False)
        out.put(([], 1, 0))
        return
    client.conn.timeout = 15

    def prepare() -> list[dict] | None:
        status, case = client.call(
            "POST",
            "/api/v1/process-instances",
            {"process_key": "comprehensive_assistance", "org_unit": ht.STREET},
        )
        if status != 201:
            return None
        open_tasks = case.get("open_tasks", [])
        first = next((t for t in open_tasks if t["bpmn_id"] == "application"), None)
        if first is None:
            return None
        supply(client, first["id"])
        return open_tasks

    prepared = [tasks for tasks in (prepare() for _ in range(cases)) if tasks]
    if OPEN_RATE:
        open_loop(port, prepared, ready, go, stop_in, out, epoch)
        return
    ready.put(True)
    go.wait()
    stop_at = time.time() + stop_in
    while time.time() < stop_at:
        if not prepared:
            ran_out += 1
            tasks = prepare()
            if not tasks:
                errors += 1
                continue
            prepared.append(tasks)
        open_tasks = prepared.pop(0)
        try:
            errors += complete_steps(client, open_tasks, stop_at, latencies)
        except OSError:
            latencies.append(15.0)
            errors += 1
            client.conn.close()
    out.put((latencies, errors, ran_out))


def open_loop(
    port: int, prepared: list, ready: mp.Queue, go: mp.Event, stop_in: float, out: mp.Queue, epoch: Any = None
) -> None:
    """Open loop: this client offers OPEN_RATE / CLIENTS completions a second on schedule, whether or not
    the earlier ones were answered (threads, each with its own logged-in connection), each the next step
    of a prepared case whose previous step is done. A completion's latency counts from the moment it
    was due, so time spent waiting for a free thread or connection is in it (no coordinated omission)."""
    rate = OPEN_RATE / CLIENTS
    threads = 8
    clients: queue.Queue = queue.Queue()
    for _ in range(threads):
        client = logged_in(port)
        if client is None:
            ready.put(False)
            out.put(([], 1, 0))
            return
        clients.put(client)
    cases: queue.Queue = queue.Queue()
    for tasks in prepared:
        cases.put((tasks, 0))
    latencies: list[float] = []
    turns: list[bool | None] = []  # with --interleave: the storm on or off when each completion was due
    errors, starved = 0, 0
    lock = threading.Lock()

    def one(tasks: list, step: int, due: float) -> None:
        nonlocal errors
        turn = storm_on(due, epoch.value) if INTERLEAVE else None  # the storm on or off when it was due
        client = clients.get()
        try:
            bpmn_id, data = ht.STEPS[step]
            task = next((t for t in tasks if t["bpmn_id"] == bpmn_id), None)
            if task is None:
                with lock:
                    errors += 1
                return
            status, done = client.call("POST", f"/api/v1/tasks/{task['id']}/complete", {"data": data})
            elapsed = time.time() - due
            with lock:
                latencies.append(elapsed)
                turns.append(turn)
                if status != 200:
                    errors += 1
            if status == 200 and step + 1 < len(ht.STEPS):
                cases.put((done.get("next_tasks", []), step + 1))
        except OSError:
            with lock:
                latencies.append(15.0)
                turns.append(turn)
                errors += 1
            client.conn.close()
        finally:
            clients.put(client)

    ready.put(True)
    go.wait()
    start = time.time()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        n = 0
        while True:
            due = start + n / rate
            if due >= start + stop_in:
                break
            pause = due - time.time()
            if pause > 0:
                time.sleep(pause)
            try:
                tasks, step = cases.get_nowait()
            except queue.Empty:
                starved += 1  # no prepared case ready for its next step: this slot is not offered
            else:
                pool.submit(one, tasks, step, due)
            n += 1
    out.put((latencies, errors, starved, turns))


def prepared_run(
    port: int, logins: bool, server_pid: int = 0, seconds: float | None = None
) -> tuple[dict, list[tuple[int, float]]]:
    """``prepared_loop`` in ``CLIENTS`` processes (and the storm, when ``logins``), started together."""
    length = SECONDS if seconds is None else seconds
    cases = int(length * 160 / len(ht.STEPS) / CLIENTS) + 5  # more than a client completes in the run
    ready: mp.Queue = mp.Queue()
    out: mp.Queue = mp.Queue()
    storm_out: mp.Queue = mp.Queue()
    go = mp.Event()
    epoch = mp.Value("d", 0.0)  # the run's start, for --interleave's turns
    procs = [
        mp.Process(target=prepared_loop, args=(port, cases, ready, go, length, out, epoch))
        for _ in range(CLIENTS)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get()
    start_at = time.time() + 0.5
    storm_proc = None
    if logins:
        storm_proc = mp.Process(target=storm, args=(port, start_at, start_at + length, storm_out))
        storm_proc.start()
    while time.time() < start_at:
        time.sleep(0.01)
    before, clients_before = cpu_split(server_pid), resource.getrusage(resource.RUSAGE_CHILDREN)
    epoch.value = start_at
    go.set()
    results, login_results = collect(procs, out, storm_proc, storm_out)
    summary = summarize(results, length)
    summary["ran_out"] = sum(r[2] for r in results)
    if INTERLEAVE:
        for name, on in (("off", False), ("on", True)):
            part = [([x for x, turn in zip(r[0], r[3], strict=True) if turn is on], 0) for r in results]
            summary[f"storm {name}"] = summarize(part, length / 2)
    after, clients_after = cpu_split(server_pid), resource.getrusage(resource.RUSAGE_CHILDREN)
    summary["cpu"] = {k: v / length for k, v in cpu_used(before, after).items()}
    summary["cpu"]["clients"] = (
        clients_after.ru_utime + clients_after.ru_stime - clients_before.ru_utime - clients_before.ru_stime
    ) / length  # the client processes that ended during the run (the completion clients and the storm)
    return summary, login_results


def completions_with(port: int, logins: bool) -> tuple[dict, list[tuple[int, float]]]:
    start_at = time.time() + 3
    stop_at = start_at + SECONDS
    out: mp.Queue = mp.Queue()
    storm_out: mp.Queue = mp.Queue()
    procs = [mp.Process(target=client_loop, args=(port, start_at, stop_at, out)) for _ in range(CLIENTS)]
    storm_proc = None
    if logins:
        storm_proc = mp.Process(target=storm, args=(port, start_at, stop_at, storm_out))
        storm_proc.start()
    for p in procs:
        p.start()
    results, login_results = collect(procs, out, storm_proc, storm_out)
    return summarize(results, SECONDS), login_results


def describe_logins(results: list[tuple[int, float]]) -> str:
    if not results:
        return ""
    times = sorted(t for _s, t in results)
    by = {}
    for status, _t in results:
        by[status] = by.get(status, 0) + 1
    return (
        f"logins sent {len(results)} ({len(results) / (SECONDS / 2 if INTERLEAVE else SECONDS):.0f}/s"
        + (" while on" if INTERLEAVE else "")
        + "): "
        + ", ".join(f"{k or 'no answer'}: {v}" for k, v in sorted(by.items()))
        + f"; login p50 {times[len(times) // 2] * 1000:.0f} ms, p99 {times[int(len(times) * 0.99)] * 1000:.0f} ms"
    )


def main() -> None:
    url = postgres_url()
    if url is None:
        print("needs PostgreSQL (BENCH_PG_URL or a local server)")
        return
    try:
        ht.setup(url)
        os.environ["BENCH_GUNICORN_ARGS"] = f"--threads {THREADS} --worker-class gthread"
        os.environ["ASSISTFLOW_LOG_FORMAT"] = "json"
        os.environ["ASSISTFLOW_LOG_LEVEL"] = "WARNING"
        configs = {
            "pool on the last core (argon2 in 1 process per worker at nice 10, all on one core)": {
                "ASSISTFLOW_ARGON2": "",
                "ASSISTFLOW_LOGIN_PROCESSES": "1",
                "ASSISTFLOW_LOGIN_NICE": "10",
                "ASSISTFLOW_LOGIN_CPUS": "last",
                "ASSISTFLOW_LOGIN_CONCURRENCY": "2",
                "ASSISTFLOW_LOGIN_SLOT_WAIT_SECONDS": "0",
            },
            "pool, idle class (argon2 in 1 process per worker in SCHED_IDLE, 2 logins in flight per worker)": {
                "ASSISTFLOW_ARGON2": "",
                "ASSISTFLOW_LOGIN_PROCESSES": "1",
                "ASSISTFLOW_LOGIN_NICE": "idle",
                "ASSISTFLOW_LOGIN_CPUS": "any",
                "ASSISTFLOW_LOGIN_CONCURRENCY": "2",
                "ASSISTFLOW_LOGIN_SLOT_WAIT_SECONDS": "0",
            },
            "pool (argon2 in 1 process per worker at nice 10, 2 logins in flight per worker)": {
                "ASSISTFLOW_ARGON2": "",
                "ASSISTFLOW_LOGIN_PROCESSES": "1",
                "ASSISTFLOW_LOGIN_NICE": "10",
                "ASSISTFLOW_LOGIN_CPUS": "any",
                "ASSISTFLOW_LOGIN_CONCURRENCY": "2",
                "ASSISTFLOW_LOGIN_SLOT_WAIT_SECONDS": "0",
            },
            "in-thread (argon2 19 MiB t=2 p=1 in the web thread, 1 check per worker)": {
                "ASSISTFLOW_ARGON2": "",
                "ASSISTFLOW_LOGIN_PROCESSES": "0",
                "ASSISTFLOW_LOGIN_CONCURRENCY": "1",
                "ASSISTFLOW_LOGIN_SLOT_WAIT_SECONDS": "0.1",
            },
        }
        if "--library-defaults" in sys.argv:
            configs["library defaults (argon2 64 MiB t=3 p=4, in the thread, unbounded)"] = {
                "ASSISTFLOW_ARGON2": "3,65536,4",
                "ASSISTFLOW_LOGIN_PROCESSES": "0",
                "ASSISTFLOW_LOGIN_CONCURRENCY": "64",
            }
        if "--pool-only" in sys.argv:
            configs = dict(list(configs.items())[:3])
        if "--default" in sys.argv:  # the shipped configuration only
            configs = dict(list(configs.items())[:1])
        if "--config" in sys.argv:  # one configuration, by its number in the list above (1 = shipped)
            chosen = int(sys.argv[sys.argv.index("--config") + 1])
            configs = dict(list(configs.items())[chosen - 1 : chosen])
        print(
            f"{CLIENTS} completion clients, {RATE:.0f} logins/s for {SECONDS:.0f} s, "
            f"gunicorn {WORKERS} workers × {THREADS} threads, "
            + (f"open loop: {OPEN_RATE:.0f} completions/s offered on schedule, " if OPEN_RATE else "")
            + (
                "each client starting its cases and uploading their materials in the run"
                if CYCLE
                else "cases started and materials uploaded before the run (completions only)"
            )
        )
        print(f"machine reference: {common.machine_reference():.2f} ms of CPU (bench/common.py)")
        for label, env in configs.items():
            os.environ.update(env)
            proc, port = ht.gunicorn(url, WORKERS)
            try:
                if CYCLE:
                    alone, _ = completions_with(port, logins=False)
                    stormy, logins = completions_with(port, logins=True)
                elif INTERLEAVE:
                    prepared_run(port, logins=False, server_pid=proc.pid, seconds=5.0)  # warm-up, not shown
                    both, logins = prepared_run(port, logins=True, server_pid=proc.pid)
                    print(f"{label}:")
                    for name in ("storm off", "storm on"):
                        r = both[name]
                        print(f"  completions due, {name:9}: p50 {r['p50']:.0f} ms, p99 {r['p99']:.0f} ms")
                    print(
                        f"  p99 on / off: {both['storm on']['p99'] / both['storm off']['p99']:.2f}; "
                        f"all {both['rate']:.0f}/s, errors {both['errors']}; cores busy with: "
                        + ", ".join(f"{k} {v:.2f}" for k, v in both["cpu"].items())
                    )
                    print(f"  {describe_logins(logins)}", flush=True)
                    continue
                else:
                    prepared_run(port, logins=False, server_pid=proc.pid, seconds=5.0)  # warm-up, not shown
                    alone, _ = prepared_run(port, logins=False, server_pid=proc.pid)
                    stormy, logins = prepared_run(port, logins=True, server_pid=proc.pid)
                print(f"{label}:")
                for name, r in (("  completions alone      ", alone), ("  completions with storm ", stormy)):
                    print(
                        f"{name} {r['rate']:.0f}/s, p50 {r['p50']:.0f} ms, p99 {r['p99']:.0f} ms, "
                        f"errors {r['errors']}"
                        + (
                            ""
                            if "ran_out" not in r
                            else f", slots not offered (no case ready) {r['ran_out']}"
                            if OPEN_RATE
                            else f", cases started in the run {r['ran_out']}"
                        )
                    )
                    if "cpu" in r:
                        print(
                            "      cores busy with: " + ", ".join(f"{k} {v:.2f}" for k, v in r["cpu"].items())
                        )
                print(f"  {describe_logins(logins)}", flush=True)
            finally:
                proc.terminate()  # a backlog of logins may keep it busy: not waited for long
                try:
                    proc.wait(20)
                except Exception:
                    proc.kill()
                    proc.wait(10)
    finally:
        drop_database(url)


if __name__ == "__main__":
    main()
