"""Message correlation benchmark (issue 19).

1. ``CASES`` cases wait at a receive task, each with its own correlation key; ``CASES`` messages are
   sent, one transaction each (``engine.messages.service.send``: find the subscription, lock the case,
   load, deliver, advance, save, commit). Reported: p50 / p99 delivery latency in process (goal: p99
   ≤ 50 ms).
2. The cost of one correlation — the subscription lookup by message name and key — with 1,000 and
   with ``BIG`` waiting subscriptions (rows added in bulk); reported: medians and their ratio (goal:
   ≤ 1.5×, i.e. flat).

PostgreSQL when reachable (a throw-away database, bench/common.py), else SQLite in a temporary file.
Usage: .venv/bin/python bench/messages.py [CASES=1000] [BIG=100000]
"""

from __future__ import annotations

import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402  (keys before the app is imported)

CASES = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000
BIG = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
SMALL = 1_000
LOOKUPS = 500
RECEIVER = ROOT / "tests" / "fixtures" / "bpmn" / "messages" / "msg_receiver.bpmn"


def setup(url: str):
    import logging

    from flask_migrate import upgrade
    from sqlalchemy.orm import sessionmaker

    from api import create_app
    from api.extensions import db
    from engine.definitions import service as definitions
    from engine.orgs import service as orgs

    logging.disable(logging.WARNING)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        engine = db.engine
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    with factory() as s:
        orgs.load_reference(s)
        definitions.deploy(s, RECEIVER.read_bytes(), source="bench")
        s.commit()
    return factory


def waiting_cases(factory, n: int) -> list[int]:
    from engine.definitions import service as definitions
    from engine.instances import service as instances
    from engine.orgs import service as orgs

    ids = []
    with factory() as s:
        definition = definitions.get_version(s, "msg_receiver")
        unit = orgs.by_code(s, "310107014")
        for i in range(n):
            case = instances.create(s, definition, unit, actor_id=None, data={"project_key": f"K{i}"})
            ids.append(case.id)
            if i % 200 == 199:
                s.commit()
        s.commit()
    return ids


def deliver_all(factory, n: int) -> list[float]:
    from engine.messages import service as messages

    latencies = []
    for i in random.sample(range(n), n):
        with factory() as s:
            t0 = time.perf_counter()
            outcome = messages.send(s, "list_confirmed", f"K{i}", {"households": 1})
            s.commit()
            latencies.append((time.perf_counter() - t0) * 1000)
            assert outcome.result == "delivered", outcome
    return latencies


def add_subscriptions(factory, instance_id: int, start: int, stop: int) -> None:
    """Waiting subscriptions for other keys (bulk rows: what many waiting cases leave in the table)."""
    from sqlalchemy import insert

    from engine.messages.models import MessageSubscription

    now = dt.datetime.now(dt.UTC)
    with factory() as s:
        for chunk in range(start, stop, 5_000):
            rows = [
                {
                    "instance_id": instance_id,
                    "kind": "message",
                    "name": "list_confirmed",
                    "correlation_key": f"X{i}",
                    "bpmn_id": "wait_list",
                    "label": "年度名单确认",
                    "waiting": True,
                    "created_at": now,
                }
                for i in range(chunk, min(chunk + 5_000, stop))
            ]
            s.execute(insert(MessageSubscription), rows)
            s.commit()
        if s.get_bind().dialect.name == "postgresql":
            s.execute(__import__("sqlalchemy").text("ANALYZE message_subscription"))
            s.commit()


def lookup_cost(factory, size: int) -> float:
    """Median milliseconds of one correlation (the subscription lookup) among ``size`` subscriptions."""
    from engine.messages import service as messages

    times = []
    with factory() as s:
        for _ in range(LOOKUPS):
            key = f"X{random.randrange(size)}"
            t0 = time.perf_counter()
            found = messages._waiting_for(s, "message", "list_confirmed", key)
            times.append((time.perf_counter() - t0) * 1000)
            assert len(found) == 1
        s.rollback()
    return statistics.median(times)


def main() -> None:
    url = common.postgres_url()
    tmp = None
    if url is None:
        tmp = tempfile.mkdtemp(prefix="assistflow-bench-")
        url = f"sqlite:///{tmp}/bench.db"
    try:
        factory = setup(url)
        dialect = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
        print(f"database: {dialect}; machine: {os.cpu_count()} cores (shared: figures are noisy)")
        t0 = time.perf_counter()
        ids = waiting_cases(factory, CASES)
        print(f"{CASES} waiting cases created in {time.perf_counter() - t0:.1f} s")
        latencies = deliver_all(factory, CASES)
        q = statistics.quantiles(latencies, n=100)
        print(
            f"delivery latency over {CASES} messages (ms): p50 {q[49]:.1f}  p99 {q[98]:.1f}  "
            f"max {max(latencies):.1f}  (goal p99 <= 50)"
        )
        add_subscriptions(factory, ids[0], 0, SMALL)
        small = lookup_cost(factory, SMALL)
        add_subscriptions(factory, ids[0], SMALL, BIG)
        big = lookup_cost(factory, BIG)
        print(
            f"one correlation: {small:.3f} ms at {SMALL:,} subscriptions, {big:.3f} ms at {BIG:,}: "
            f"ratio {big / small:.2f}x (goal <= 1.5x)"
        )
    finally:
        if url.startswith("postgresql"):
            common.drop_database(url)


if __name__ == "__main__":
    main()
