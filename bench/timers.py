"""Timer benchmark: firing latency while the scheduler runs, and draining 10,000 due timers with one
and with two scheduler processes on PostgreSQL (SQLite when PostgreSQL is unreachable: one scheduler).

Latency is measured from each timer's due time to the moment its wake-up recorded the firing (inside
the transaction that commits the effect). Usage: .venv/bin/python bench/timers.py [drain_count]
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DRAIN = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
LATENCY_TIMERS = 200


def setup(url: str):
    import logging

    from flask_migrate import upgrade
    from sqlalchemy.orm import sessionmaker

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
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    with factory() as s:
        orgs.load_reference(s)
        definitions.sync_dir(s, ROOT / "tests" / "fixtures" / "deployable")
        users.create_user(s, "bench", "bench-password", grants=[("street_officer", "310107014")])
        s.commit()
    return factory


def create(factory, waits: list[str], *, back: dt.timedelta | None = None) -> list[int]:
    import time_machine

    from engine.instances import service as instances
    from engine.users import service as users

    ids = []
    with factory() as s:
        user = users.by_username(s, "bench")
        travel = time_machine.travel(dt.datetime.now(dt.UTC) - back, tick=True) if back else None
        if travel:
            travel.start()
        try:
            for i, wait in enumerate(waits):
                ids.append(instances.start(s, user, "timer_wait", "310107014", data={"wait": wait}).id)
                if i % 500 == 499:
                    s.commit()
            s.commit()
        finally:
            if travel:
                travel.stop()
    return ids


def pending(factory, ids: list[int]) -> int:
    from sqlalchemy import func, select

    from engine.instances.models import ProcessInstance

    with factory() as s:
        return s.scalar(
            select(func.count()).where(
                ProcessInstance.id.in_(ids), ProcessInstance.next_wakeup_at.is_not(None)
            )
        )


def schedulers(url: str, n: int) -> list[subprocess.Popen]:
    env = {**os.environ, "DATABASE_URL": url}
    cmd = [sys.executable, "-c", "from api.cli import main; main()", "scheduler", "--interval", "0.2"]
    return [
        subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(n)
    ]


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(30)


def wait_drained(factory, ids: list[int], timeout: float = 1800) -> float:
    started = time.monotonic()
    while pending(factory, ids):
        if time.monotonic() - started > timeout:
            raise RuntimeError("not drained in time")
        time.sleep(0.2)
    return time.monotonic() - started


def latency(url: str, factory) -> list[float]:
    from sqlalchemy import select

    from engine.audit.models import AuditEvent

    waits = [f"PT{3 + (i % 20)}S" for i in range(LATENCY_TIMERS)]  # spread over 20 seconds
    procs = schedulers(url, 1)
    try:
        ids = create(factory, waits)
        wait_drained(factory, ids)
    finally:
        stop(procs)
    with factory() as s:
        events = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "timer.fired", AuditEvent.instance_id.in_(ids))
        )
        return [
            (
                dt.datetime.fromisoformat(e.details["fired_at"])
                - dt.datetime.fromisoformat(e.details["due_at"])
            ).total_seconds()
            for e in events
        ]


def drain(url: str, factory, n_schedulers: int) -> tuple[float, int]:
    ids = create(factory, ["PT1H"] * DRAIN, back=dt.timedelta(hours=2))
    procs = schedulers(url, n_schedulers)
    try:
        elapsed = wait_drained(factory, ids)
    finally:
        stop(procs)
    return elapsed, len(ids)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    from common import drop_database, postgres_url

    url = postgres_url()
    tmp = None
    if url is None:
        tmp = tempfile.TemporaryDirectory()
        url = f"sqlite:///{tmp.name}/timers.db"
    db = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    try:
        factory = setup(url)
        lat = latency(url, factory)
        print(f"timer firing latency ({db}, {len(lat)} timers, one scheduler, 0.2 s interval)")
        print(
            f"  p50 {statistics.median(lat) * 1000:7.1f} ms   p99 {pct(lat, 99) * 1000:7.1f} ms   max {max(lat) * 1000:7.1f} ms"
            "   (goal p99 ≤ 1000 ms)"
        )
        one, n = drain(url, factory, 1)
        print(f"drain {n} due timers, 1 scheduler:  {one:7.1f} s  = {n / one:7.1f} timers/s")
        if db == "PostgreSQL":
            two, n = drain(url, factory, 2)
            print(f"drain {n} due timers, 2 schedulers: {two:7.1f} s  = {n / two:7.1f} timers/s")
            print(f"  ratio two/one {one / two:.2f}×  (goal ≥ 1.6×)")
    finally:
        if url.startswith("postgresql"):
            drop_database(url)
        if tmp:
            tmp.cleanup()


if __name__ == "__main__":
    main()
