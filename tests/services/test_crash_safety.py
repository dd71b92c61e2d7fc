"""Crash safety: the web server and the scheduler killed with SIGKILL in the middle of work, many times.

(a) A real gunicorn server (``api.wsgi:app``, two workers) serves a client thread that works
comprehensive-assistance cases to their payment, every completion carrying an ``Idempotency-Key``.
The test SIGKILLs the whole server (master and workers) at random moments — 0–20 ms after 1–3
answered requests, so mostly with a request in flight — restarts it, and the client retries every unacknowledged request with the same key. At the
end each case's history is complete, each task was completed exactly once (one ``human_task`` per
step, one ``task.completed`` event each), each approval has exactly one payment in the ledger, and
the audit chain verifies.

(b) ``assistflow scheduler`` drains due timers while it is SIGKILLed again and again and restarted;
at the end every timer fired exactly once and made its one task.

The counts (kills, requests, retries, completions) are reported at the end of the run (see
``tests.conftest.report``) and written to ``test-artifacts/reliability.txt``.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from engine.audit import chain
from engine.audit.models import AuditEvent
from engine.ledger.models import ServiceRecord
from engine.tasks.models import HumanTask, TaskStatus
from tests import clock_ahead
from tests.conftest import DB_URL, IS_POSTGRES, report
from tests.helpers import (
    fired_counts,
    make_due_timers,
    pending,
    scheduler_process,
    stop,
    task_counts,
    wait_until,
)
from tests.procedures.cases import supply_materials
from tests.procedures.helpers import application, approve, assess, pay, review

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.usefixtures("schedules_ahead")  # the real clock: seeded schedules ahead of it
CASES = 6
SERVER_KILLS = 10
SCHEDULER_KILLS = 10
STEPS = [
    ("acceptance", "pt_officer", {"accepted": True}),
    (
        "home_investigation",
        "pt_advisor",
        {"visit_date": "2026-11-18", "findings": "入户核实，家庭情况属实", "household_verified": True},
    ),
    ("assessment", "pt_officer", assess()),
    ("democratic_review", "pt_panel", review()),
    ("street_approval", "pt_head", approve()),
    ("disbursement", "pt_finance", pay()),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """gunicorn in its own process group, so a SIGKILL takes the master and its workers at once."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())

    def start(self) -> None:
        env = {**os.environ, "DATABASE_URL": DB_URL}
        self.proc = subprocess.Popen(
            clock_ahead.python("-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{self.port}", "api.wsgi:app"),
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if request(self.port, "GET", "/api/v1/health", timeout=2)[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"server did not start: {self.output()}")

    def kill(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(20)

    def stop(self) -> str:
        """Stop it in order and return the end of its log."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        text = self.output()
        self.log.close()
        return text

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")[-3000:]


def request(
    port: int, method: str, path: str, *, headers: dict[str, str] | None = None, body: Any = None, timeout=15
) -> tuple[int, dict[str, str], Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        payload = None if body is None else json.dumps(body).encode()
        hdrs = {**(headers or {}), **({"Content-Type": "application/json"} if payload else {})}
        conn.request(method, path, body=payload, headers=hdrs)
        response = conn.getresponse()
        raw = response.read()
        return response.status, dict(response.getheaders()), json.loads(raw) if raw else None
    finally:
        conn.close()


def test_web_server_sigkilled_repeatedly_loses_and_doubles_nothing(client, login, session):
    tokens = {u: login(u) for u in ("pt_advisor", "pt_officer", "pt_panel", "pt_head", "pt_finance")}

    def new_cases(n: int) -> list[int]:
        made = []
        for _ in range(n):
            started = client.post(
                "/api/v1/process-instances",
                json={"process_key": "comprehensive_assistance", "org_unit": "310107014"},
                headers=tokens["pt_advisor"],
            )
            assert started.status_code == 201, started.json
            task = next(t for t in started.json["open_tasks"] if t["bpmn_id"] == "application")
            supply_materials(client, tokens["pt_advisor"], task["id"])
            done = client.post(
                f"/api/v1/tasks/{task['id']}/complete",
                json={"data": application()},
                headers=tokens["pt_advisor"],
            )
            assert done.status_code == 200, done.json
            made.append(started.json["id"])
        return made

    ids = new_cases(CASES)

    server = Server()
    server.start()
    stats = {"requests": 0, "answered": 0, "failed": 0, "retries": 0, "replayed": 0, "completions": 0}
    stats["kills"] = 0
    finished = threading.Event()
    errors: list[BaseException] = []

    def call(method: str, path: str, headers: dict[str, str], body: Any = None) -> tuple[int, dict, Any]:
        for attempt in range(600):
            stats["requests"] += 1
            if attempt:
                stats["retries"] += 1
            try:
                status, hdrs, data = request(server.port, method, path, headers=headers, body=body)
            except (OSError, http.client.HTTPException):
                stats["failed"] += 1  # unacknowledged: the server died under it; retry the same request
                time.sleep(0.1)
                continue
            if status >= 500:
                stats["failed"] += 1
                time.sleep(0.1)
                continue
            stats["answered"] += 1
            return status, hdrs, data
        raise AssertionError(f"{method} {path} never answered")

    def work(batch: list[int]) -> None:
        try:
            for instance_id in batch:
                for bpmn_id, username, data in STEPS:
                    _s, _h, detail = call(
                        "GET", f"/api/v1/process-instances/{instance_id}", tokens["pt_head"]
                    )
                    task = next(t for t in detail["open_tasks"] if t["bpmn_id"] == bpmn_id)
                    key = {**tokens[username], "Idempotency-Key": f"crash-{uuid.uuid4()}"}
                    status, hdrs, body = call(
                        "POST", f"/api/v1/tasks/{task['id']}/complete", key, {"data": data}
                    )
                    assert status == 200, (bpmn_id, status, body)
                    stats["completions"] += 1
                    if hdrs.get("Idempotent-Replayed"):
                        stats["replayed"] += 1
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            finished.set()

    rng = random.Random(7)
    worker = threading.Thread(target=work, args=(ids,), daemon=True)
    started_at = time.monotonic()
    worker.start()
    batches = 1
    try:
        while stats["kills"] < SERVER_KILLS:
            if finished.is_set():  # a fast machine finished the cases before the last kill: more work
                worker.join(10)
                assert not errors, errors
                batch = new_cases(CASES)
                ids.extend(batch)
                batches += 1
                finished.clear()
                worker = threading.Thread(target=work, args=(batch,), daemon=True)
                worker.start()
            # a few answered requests after the (re)start, then a kill a moment later: in flight or not,
            # wherever the next request happens to be (reading, inside the transaction, committing …)
            target = stats["answered"] + rng.randint(1, 3)
            deadline = time.monotonic() + 60
            while stats["answered"] < target and not finished.is_set() and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.02))
            if finished.is_set():
                continue
            server.kill()
            stats["kills"] += 1
            server.start()
        assert finished.wait(300), "client did not finish"
    finally:
        log = server.stop()
    worker.join(10)
    assert not errors, (errors, log)
    elapsed = time.monotonic() - started_at

    session.expire_all()
    names = [b for b, _u, _d in STEPS]
    for instance_id in ids:
        rows = session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id)).all()
        per_step = {b: [r for r in rows if r.bpmn_id == b] for b in ["application", *names]}
        assert all(len(v) == 1 for v in per_step.values()), {b: len(v) for b, v in per_step.items()}
        assert all(v[0].state == TaskStatus.COMPLETED for v in per_step.values())
        assert not [r for r in rows if r.state in (TaskStatus.READY, TaskStatus.CLAIMED)]  # waits follow-up
        completed = session.scalars(
            select(AuditEvent.task_id).where(
                AuditEvent.instance_id == instance_id, AuditEvent.action == "task.completed"
            )
        ).all()
        assert sorted(completed) == sorted(r.id for r in rows), "each task completed exactly once"
        payments = session.scalar(
            select(func.count()).where(
                ServiceRecord.instance_id == instance_id, ServiceRecord.kind == "disbursement"
            )
        )
        assert payments == 1, "one payment per approval"
    verdict = chain.verify(session)
    assert verdict.ok, verdict
    assert stats["kills"] == SERVER_KILLS, stats  # every kill landed while cases were still being worked
    assert stats["failed"] >= 1, stats  # and at least one request died with the server
    report(
        f"crash safety (web, {'PostgreSQL' if IS_POSTGRES else 'SQLite'}): {stats['kills']} SIGKILLs of gunicorn "
        f"in {elapsed:.0f}s, {stats['requests']} requests ({stats['failed']} unanswered, {stats['retries']} "
        f"retried with the same key, {stats['replayed']} replayed), {stats['completions']} completions over "
        f"{CASES} cases: each of {CASES * len(STEPS)} tasks completed once, {CASES} payments, lost 0, "
        f"doubled 0, audit chain verifies"
    )


def test_scheduler_sigkilled_repeatedly_fires_every_timer_exactly_once(session):
    ids = make_due_timers(session, 800 if IS_POSTGRES else 600)
    rng = random.Random(11)
    kills, fired_at_kill, mid_batch, topped_up = 0, [], 0, 0
    started_at = time.monotonic()
    while kills < SCHEDULER_KILLS:
        if pending(session, ids) == 0:  # a fast machine drained them before the last kill: more work
            ids.extend(make_due_timers(session, 200))
            topped_up += 1
        before = pending(session, ids)
        proc = scheduler_process()
        try:
            # let it start firing, then kill it at a random moment of the batch
            assert wait_until(lambda b=before, i=ids: pending(session, i) < b, 60), (
                "scheduler made no progress"
            )
            time.sleep(rng.uniform(0.0, 0.1))
        finally:
            stop(proc, signal.SIGKILL)
        kills += 1
        mid_batch += pending(session, ids) > 0
        fired, made = fired_counts(session, ids), task_counts(session, ids)
        # all-or-nothing per instance at every kill: fired once with its task, or untouched and still due
        assert all(fired[i] == made[i] and fired[i] in (0, 1) for i in ids)
        fired_at_kill.append(sum(fired.values()))
    last = scheduler_process()
    try:
        assert wait_until(lambda: pending(session, ids) == 0, 180), "restart did not drain"
    finally:
        stop(last)
    elapsed = time.monotonic() - started_at
    assert set(fired_counts(session, ids).values()) == {1}
    assert set(task_counts(session, ids).values()) == {1}
    assert kills == SCHEDULER_KILLS and mid_batch >= 1, (mid_batch, fired_at_kill)  # killed with timers due
    report(
        f"crash safety (scheduler, {'PostgreSQL' if IS_POSTGRES else 'SQLite'}): {kills} SIGKILLs while "
        f"draining {len(ids)} due timers ({topped_up} top-ups) in {elapsed:.0f}s, {mid_batch} with timers "
        f"still due (fired before each kill: "
        f"{', '.join(map(str, fired_at_kill))}); each timer fired exactly once with its one task, lost 0, "
        f"doubled 0"
    )
