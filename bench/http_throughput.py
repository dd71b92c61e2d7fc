"""HTTP throughput: clients completing comprehensive-assistance tasks end to end against gunicorn + PostgreSQL.

Each client process logs in once, then loops: start a case, and for each of its seven steps
(application → acceptance → home investigation → assessment → democratic review → street approval →
disbursement) complete the open task with that step's form, taking the task's id from the answer to
the start or to the previous completion (``open_tasks``, ``next_tasks``). Only the ``POST …/complete``
requests count as completions; their latency is what p50/p99 report. A scheduler runs alongside, as
deployed: it seals the audit events into the hash chain.

Modes (all in one run, on one throw-away PostgreSQL database):

* ``one node``  — one gunicorn with 2 sync workers (the 2-core goal: ≥ 200 completions/s, p99 ≤ 100 ms);
  then the same with a ``GET`` of the case before each step (a client that re-reads the case page);
* ``in-process`` — the same flow through the engine services in this process, one session per step,
  no HTTP: the reference rate for the ratio;
* with ``--nodes``: one gunicorn with 1 worker, then two gunicorns (1 worker each, two ports) with the
  clients spread over both and two ``assistflow scheduler`` processes firing timers meanwhile; then the
  check that nothing was lost or doubled (every completion the clients saw is in the database exactly
  once, every timer fired exactly once) and the two / one throughput ratio.

Worker RSS is read from /proc after each run. Usage:
  .venv/bin/python bench/http_throughput.py [seconds] [clients] [--nodes]
"""

from __future__ import annotations

import http.client
import json
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import drop_database, postgres_url  # noqa: E402

# command-line figures only when run as a script (other benchmarks import STEPS and setup from here)
ARGS = [a for a in sys.argv[1:] if not a.startswith("-")] if __name__ == "__main__" else []
SECONDS = float(ARGS[0]) if ARGS else 20.0
CLIENTS = int(ARGS[1]) if len(ARGS) > 1 else 6
NODES = __name__ == "__main__" and "--nodes" in sys.argv
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))  # gunicorn workers of the one-node run
STREET = "310107014"
PASSWORD = "bench-password"
BIN = Path(sys.executable).parent
STEPS = [
    (
        "application",
        {
            "channel": "street_office",
            "applicant_id_number": "999999198001010011",
            "household_size": 3,
            "assistance_form": "individual",
            "aid_types": ["money"],
            "hardship_category": "other",
            "still_in_difficulty": True,
            "amount_requested": "5000.00",
            "reason": "家庭成员突发重病，医疗支出较大",
            "credit_commitment_signed": True,
            "fast_track_help_first": False,
        },
    ),
    ("acceptance", {"accepted": True}),
    (
        "home_investigation",
        {"visit_date": "2026-11-18", "findings": "入户核实，家庭情况属实", "household_verified": True},
    ),
    (
        "assessment",
        {
            "assessment_opinion": "符合帮扶条件",
            "assessment_decision": "approve",
            "proposed_amount": "3000.00",
        },
    ),
    (
        "democratic_review",
        {
            "review_date": "2026-11-19",
            "chair_username": "bench",  # holds street_officer: a street officer chairs the review
            "members": [
                {"name": f"评议成员{i}", "member_role": "resident_rep", "vote": "for" if i < 6 else "against"}
                for i in range(7)
            ],
            "vouchers_checked": ["income_proof"],
            "review_opinion": "情况属实，同意帮扶",
        },
    ),
    (
        "street_approval",
        {"approval_decision": "approve", "approved_amount": "3000.00", "approval_opinion": "同意"},
    ),
    ("disbursement", {"amount_paid": "3000.00", "paid_on": "2026-11-20", "payment_method": "bank_transfer"}),
]


def setup(url: str) -> None:
    import logging

    from flask_migrate import upgrade
    from sqlalchemy.orm import Session

    from api import create_app
    from api.extensions import db
    from engine.definitions import service as definitions
    from engine.orgs import service as orgs
    from engine.users import service as users

    logging.disable(logging.WARNING)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        engine = db.engine
    with Session(engine) as s:
        orgs.load_reference(s)
        definitions.sync_dir(s, ROOT / "processes")
        definitions.sync_dir(s, ROOT / "tests" / "fixtures" / "deployable")  # timer_wait, for the schedulers
        roles = ("advisor", "street_officer", "street_head", "review_panel", "finance")
        users.create_user(s, "bench", PASSWORD, grants=[(r, STREET) for r in roles])
        s.commit()
    engine.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn(url: str, workers: int) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url}
    proc = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            *os.environ.get("BENCH_GUNICORN_ARGS", "").split(),
            "api.wsgi:app",
        ],
        cwd=ROOT,
        env=env,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/v1/health")
            if conn.getresponse().status == 200:
                return proc, port
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not come up")


def rss_mb(proc: subprocess.Popen) -> list[float]:
    """Resident memory of the gunicorn workers (children of the master), in MB."""
    out = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    sizes = []
    for pid in out:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                sizes.append(int(line.split()[1]) / 1024)
    return sizes


class Client:
    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Content-Type": "application/json"}
        body = self.call("POST", "/api/v1/auth/token", {"username": "bench", "password": PASSWORD})[1]
        self.headers["Authorization"] = f"Bearer {body['token']}"

    def call(self, method: str, path: str, body: object = None) -> tuple[int, dict]:
        payload = json.dumps(body) if body is not None else None
        for attempt in (1, 2):  # a sync worker closes the connection after each response
            try:
                self.conn.request(method, path, body=payload, headers=self.headers)
                response = self.conn.getresponse()
                return response.status, json.loads(response.read() or b"{}")
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


BOUNDARY = "assistflow-bench-boundary"


def supply(client: Client, task_id: int) -> None:
    """Upload a sample PDF for each required material the step still lacks (the application step refuses
    to complete without them), as the staff's browser would before submitting; not timed."""
    from api.demo_materials import sample_pdf

    status, listing = client.call("GET", f"/api/v1/tasks/{task_id}/materials")
    if status != 200:
        return
    pdf = sample_pdf("bench")
    for item in listing.get("items", []):
        if not item.get("required") or item.get("done"):
            continue
        body = (
            (
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="scan.pdf"\r\n'
                "Content-Type: application/pdf\r\n\r\n"
            ).encode()
            + pdf
            + f"\r\n--{BOUNDARY}--\r\n".encode()
        )
        headers = {**client.headers, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
        client.conn.request(
            "POST", f"/api/v1/tasks/{task_id}/attachments?field={item['field']}", body, headers
        )
        client.conn.getresponse().read()


def client_loop(
    ports: list[int], index: int, start_at: float, stop_at: float, read_case: bool, out: mp.Queue
) -> None:
    client = Client(ports[index % len(ports)])
    latencies, completed, errors = [], [], 0
    while time.time() < start_at:
        time.sleep(0.01)
    while time.time() < stop_at:
        status, case = client.call(
            "POST",
            "/api/v1/process-instances",
            {"process_key": "comprehensive_assistance", "org_unit": STREET},
        )
        if status != 201:
            errors += 1
            continue
        open_tasks = case.get("open_tasks", [])
        for bpmn_id, data in STEPS:
            if read_case:  # read the case first, as a member of staff opening it would
                status, detail = client.call("GET", f"/api/v1/process-instances/{case['id']}")
                open_tasks = detail.get("open_tasks", []) if status == 200 else []
            task = next((t for t in open_tasks if t["bpmn_id"] == bpmn_id), None)
            if task is None:
                errors += 1
                break
            if bpmn_id == "application":
                supply(client, task["id"])  # the required materials first (not timed)
            t0 = time.perf_counter()
            status, done = client.call("POST", f"/api/v1/tasks/{task['id']}/complete", {"data": data})
            if time.time() > stop_at:
                break
            if status != 200:
                errors += 1
                break
            latencies.append(time.perf_counter() - t0)
            completed.append(task["id"])
            open_tasks = done.get("next_tasks", [])  # the case's open tasks after the step
    out.put((latencies, completed, errors))


def run_http(ports: list[int], *, read_case: bool = False) -> dict:
    start_at = time.time() + 3  # every client logged in before the clock starts
    stop_at = start_at + SECONDS
    out: mp.Queue = mp.Queue()
    procs = [
        mp.Process(target=client_loop, args=(ports, i, start_at, stop_at, read_case, out))
        for i in range(CLIENTS)
    ]
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    latencies = sorted(x for r in results for x in r[0])
    completed = [x for r in results for x in r[1]]
    return {
        "rate": len(latencies) / SECONDS,
        "p50": latencies[len(latencies) // 2] * 1000 if latencies else float("nan"),
        "p99": latencies[int(len(latencies) * 0.99)] * 1000 if latencies else float("nan"),
        "errors": sum(r[2] for r in results),
        "completed": completed,
    }


def in_process(url: str) -> float:
    """The same flow through the engine services, one session (one 'request') per step."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    from api import demo_materials
    from engine import formstore
    from engine.db import configure_engine, engine_options
    from engine.instances import service as instances
    from engine.tasks import service as tasks
    from engine.users import service as users

    formstore.configure(str(ROOT / "forms"))
    engine = create_engine(url, **engine_options(url))
    configure_engine(engine)
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    done, stop_at = 0, time.time() + SECONDS
    while time.time() < stop_at:
        with factory() as s:
            user = users.by_username(s, "bench")
            case_id = instances.start(s, user, "comprehensive_assistance", STREET).id
            open_ids = {t.bpmn_id: t.id for t in tasks.open_tasks_of(s, case_id)}
            s.commit()
        for bpmn_id, data in STEPS:
            with factory() as s:
                user = users.by_username(s, "bench")
                if bpmn_id == "application":  # the required materials, as the HTTP clients upload them
                    demo_materials.supply(s, user, tasks.get_visible(s, user, open_ids[bpmn_id]))
                _row, after = tasks.complete_step(s, user, open_ids[bpmn_id], data)
                open_ids = {t.bpmn_id: t.id for t in after}
                s.commit()
            done += 1
    from engine.audit import chain

    sealing = time.time()
    chain.seal_all(factory)  # what the scheduler does alongside: counted in the reference's time
    elapsed = SECONDS + (time.time() - sealing)
    engine.dispose()
    return done / elapsed


def check_exactly_once(url: str, completed: list[int], timer_ids: list[int]) -> tuple[str, bool]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as c:
        counts = dict(
            c.execute(
                text(
                    "SELECT task_id, count(*) FROM audit_event WHERE action = 'task.completed' "
                    "AND task_id = ANY(:ids) GROUP BY task_id"
                ),
                {"ids": completed},
            ).all()
        )
        fired = dict(
            c.execute(
                text(
                    "SELECT instance_id, count(*) FROM human_task WHERE bpmn_id = 'after_wait' "
                    "AND instance_id = ANY(:ids) GROUP BY instance_id"
                ),
                {"ids": timer_ids},
            ).all()
        )
    engine.dispose()
    lost = sum(1 for t in completed if counts.get(t, 0) == 0)
    doubled = sum(1 for n in counts.values() if n > 1) + sum(1 for n in fired.values() if n > 1)
    missing_timers = sum(1 for i in timer_ids if fired.get(i, 0) == 0)
    text_ = (
        f"completions seen by clients {len(completed)}, in the database {len(counts)}, lost {lost}, "
        f"doubled {doubled}; timers {len(timer_ids)}, fired {len(fired)}, not fired {missing_timers}"
    )
    return text_, lost == 0 and doubled == 0 and missing_timers == 0


def start_timers(url: str, n: int) -> list[int]:
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    from engine.db import configure_engine, engine_options
    from engine.definitions import service as definitions
    from engine.instances import service as instances
    from engine.orgs import service as orgs

    engine = create_engine(url, **engine_options(url))
    configure_engine(engine)
    with sessionmaker(bind=engine)() as s:
        definition = definitions.get_version(s, "timer_wait")
        unit = orgs.by_code(s, STREET)
        waits = [f"PT{3 + (i % int(SECONDS))}S" for i in range(n)]
        ids = [instances.create(s, definition, unit, actor_id=None, data={"wait": w}).id for w in waits]
        s.commit()
    engine.dispose()
    return ids


def schedulers(url: str, n: int) -> list[subprocess.Popen]:
    env = {**os.environ, "DATABASE_URL": url}
    return [
        subprocess.Popen(
            [str(BIN / "assistflow"), "scheduler", "--interval", "0.2"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        for _ in range(n)
    ]


def unsealed(url: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as c:
        count = c.execute(text("SELECT count(*) FROM audit_pending")).scalar_one()
    engine.dispose()
    return int(count)


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(timeout=30)


def line(name: str, r: dict, rss: list[float]) -> str:
    return (
        f"  {name:<44} {r['rate']:7.1f} completions/s   p50 {r['p50']:6.1f} ms   p99 {r['p99']:6.1f} ms   "
        f"errors {r['errors']}   worker RSS {', '.join(f'{x:.0f}' for x in rss)} MB"
    )


def main() -> None:
    url = postgres_url()
    if url is None:
        print("PostgreSQL not reachable: this benchmark needs it")
        return
    print(f"HTTP throughput — {CLIENTS} client processes, {SECONDS:.0f} s per run, gunicorn + PostgreSQL\n")
    try:
        setup(url)
        server, port = gunicorn(url, WORKERS)
        sealer = schedulers(url, 1)  # as deployed: it also seals the audit chain every second
        try:
            run_http([port])  # warm-up: caches, connections, JIT of nothing but the OS
            one = run_http([port])
            rss = rss_mb(server)
            reading = run_http([port], read_case=True)
            time.sleep(2)
            print(f"  audit events still unsealed 2 s after the run: {unsealed(url)}")
        finally:
            stop([server])
            stop(sealer)
        print(line(f"one node, gunicorn -w {WORKERS} (goal ≥ 200/s, p99 ≤ 100)", one, rss))
        print(line("  the same, reading the case before each step", reading, rss))
        rate = in_process(url)
        print(f"  {'in-process services, one thread':<44} {rate:7.1f} completions/s")
        print(f"  ratio HTTP (2 workers) / in-process (1 thread): {one['rate'] / rate:.2f}×")
        if NODES:
            server, port = gunicorn(url, 1)
            sealer = schedulers(url, 1)
            try:
                single = run_http([port])
                single_rss = rss_mb(server)
            finally:
                stop([server])
                stop(sealer)
            print(line("one web process (gunicorn -w 1)", single, single_rss))
            timer_ids = start_timers(url, 200)
            (a, port_a), (b, port_b) = gunicorn(url, 1), gunicorn(url, 1)
            workers = schedulers(url, 2)
            try:
                both = run_http([port_a, port_b])
                both_rss = rss_mb(a) + rss_mb(b)
                time.sleep(3)  # the last timers fall due
            finally:
                stop([a, b])
                stop(workers)
            print(line("two web processes + two schedulers", both, both_rss))
            print(f"  ratio two / one web process: {both['rate'] / single['rate']:.2f}×")
            text_, ok = check_exactly_once(
                url, one["completed"] + single["completed"] + both["completed"], timer_ids
            )
            print(f"  exactly once: {text_} → {'OK' if ok else 'FAILED'}")
    finally:
        drop_database(url)


if __name__ == "__main__":
    main()
