"""Footprint: stored bytes per finished comprehensive-assistance case (live state + history), and RSS.

Runs N cases through every step to closure with the engine services — application … disbursement,
the 30-day follow-up timer fired by the scheduler's code path (time travel), follow-up visit and
feedback — then measures on PostgreSQL what they left behind:

* rows   — the bytes of every row the cases own (pg_column_size of process_instance, human_task,
           audit_event, audit_seal, service_record and notification rows), per case;
* tables — growth of those tables including their indexes and TOAST (pg_total_relation_size), per case:
           as left (with the dead row versions of every update), and in steady state — VACUUM, as
           autovacuum would, then a second batch of N cases that reuses the freed space, VACUUM again;

and on SQLite the growth of the database file per case. Also prints this process's peak RSS.
Goal: ≤ 20 KB per case (Camunda 7: ≈ 4 KB runtime + 20 KB history per instance), ≤ 150 MB RSS.

Usage: .venv/bin/python bench/footprint.py [cases]
"""

from __future__ import annotations

import datetime as dt
import os
import resource
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import drop_database, postgres_url  # noqa: E402
from http_throughput import STEPS, STREET, setup  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200
TABLES = (
    "process_instance",
    "human_task",
    "audit_event",
    "audit_seal",
    "audit_pending",
    "service_record",
    "notification",
)
CLOSING = [
    (
        "follow_up_visit",
        {"visit_date": "2026-12-21", "situation": "病情稳定，生活基本正常", "still_needs_help": False},
    ),
    ("feedback", {"satisfaction": "satisfied", "feedback": "感谢及时帮助", "case_closed": True}),
]


def finished_cases(url: str) -> tuple[list[int], object]:
    import time_machine
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    from engine import formstore
    from engine.db import configure_engine, engine_options
    from engine.deadlines import service as deadlines
    from engine.instances import service as instances
    from engine.tasks import service as tasks
    from engine.users import service as users

    formstore.configure(str(ROOT / "forms"))
    engine = create_engine(url, **engine_options(url))
    configure_engine(engine)
    factory = sessionmaker(bind=engine, expire_on_commit=False)

    def step(case_id: int, bpmn_id: str, data: dict) -> None:
        with factory() as s:
            user = users.by_username(s, "bench")
            row = next(t for t in tasks.open_tasks_of(s, case_id) if t.bpmn_id == bpmn_id)
            tasks.complete(s, user, row.id, data)
            s.commit()

    ids = []
    for _ in range(N):
        with factory() as s:
            ids.append(
                instances.start(s, users.by_username(s, "bench"), "comprehensive_assistance", STREET).id
            )
            s.commit()
        for bpmn_id, data in STEPS:
            step(ids[-1], bpmn_id, data)
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(days=31), tick=True):
        while deadlines.run_due(factory):
            pass
        for case_id in ids:
            for bpmn_id, data in CLOSING:
                step(case_id, bpmn_id, data)
    from engine.audit import chain

    chain.seal_all(factory)  # as the scheduler does within a second: rows measured with their hashes
    return ids, engine


def sizes(engine) -> dict[str, int]:
    from sqlalchemy import text

    with engine.connect() as c:
        return {t: c.execute(text(f"SELECT pg_total_relation_size('{t}')")).scalar_one() for t in TABLES}


def vacuum(engine) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        for t in TABLES:
            c.exec_driver_sql(f"VACUUM {t}")


def row_bytes(engine, ids: list[int]) -> dict[str, int]:
    from sqlalchemy import text

    queries = {
        "process_instance": "SELECT sum(pg_column_size(t.*)) FROM process_instance t WHERE id = ANY(:ids)",
        "human_task": "SELECT sum(pg_column_size(t.*)) FROM human_task t WHERE instance_id = ANY(:ids)",
        "audit_event": "SELECT sum(pg_column_size(t.*)) FROM audit_event t WHERE instance_id = ANY(:ids)",
        "audit_seal": "SELECT sum(pg_column_size(t.*)) FROM audit_seal t JOIN audit_event e ON e.id = t.event_id "
        "WHERE e.instance_id = ANY(:ids)",
        "service_record": "SELECT sum(pg_column_size(t.*)) FROM service_record t WHERE instance_id = ANY(:ids)",
    }
    with engine.connect() as c:
        return {k: int(c.execute(text(q), {"ids": ids}).scalar() or 0) for k, q in queries.items()}


def main() -> None:
    import logging

    from sqlalchemy import func, select, text
    from sqlalchemy.orm import Session

    from engine.instances.models import InstanceStatus, ProcessInstance

    logging.disable(logging.WARNING)
    print(f"footprint — {N} comprehensive-assistance cases run to closure\n")
    url = postgres_url()
    if url:
        try:
            setup(url)
            from sqlalchemy import create_engine

            probe = create_engine(url)
            before = sizes(probe)
            ids, engine = finished_cases(url)
            with Session(engine) as s:
                done = s.scalar(
                    select(func.count()).where(
                        ProcessInstance.id.in_(ids), ProcessInstance.status == InstanceStatus.COMPLETED
                    )
                )
            with probe.connect() as c:
                c.execute(text("COMMIT"))
                for t in TABLES:
                    c.exec_driver_sql(f"ANALYZE {t}")
            after = sizes(probe)
            rows = row_bytes(probe, ids)
            print(f"  PostgreSQL: {done} of {N} cases completed")
            per = {k: v / N for k, v in rows.items()}
            print("  row bytes per case: " + ", ".join(f"{k} {v:,.0f}" for k, v in per.items()))
            print(f"  rows total per case: {sum(per.values()):,.0f} bytes   (goal ≤ 20 KB)")
            growth = sum(after.values()) - sum(before.values())
            print(f"  tables incl. indexes and TOAST, growth per case, as left: {growth / N:,.0f} bytes")
            print("    (includes the row versions each update left behind; autovacuum frees them for reuse)")
            engine.dispose()
            # Steady state: VACUUM (what autovacuum does) frees the dead versions, a second batch of N
            # cases reuses that space, VACUUM again; the growth over the second batch is what a running
            # system adds per case.
            vacuum(probe)
            mid = sizes(probe)
            _, engine = finished_cases(url)
            engine.dispose()
            vacuum(probe)
            steady = sum(sizes(probe).values()) - sum(mid.values())
            print(
                f"  tables incl. indexes and TOAST, growth per case, steady state (VACUUM between batches): "
                f"{steady / N:,.0f} bytes   (goal ≤ 20 KB)"
            )
            probe.dispose()
        finally:
            drop_database(url)
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/footprint.db"
        setup(f"sqlite:///{path}")
        size0 = os.path.getsize(path)
        ids, engine = finished_cases(f"sqlite:///{path}")
        with engine.connect() as c:
            c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()
        print(f"  SQLite: database file growth per case {(os.path.getsize(path) - size0) / N:,.0f} bytes")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"  peak RSS of this benchmark process (app + engine, both databases; web workers: see http_throughput): {peak:.0f} MB"
    )


if __name__ == "__main__":
    main()
