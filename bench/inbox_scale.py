"""Inbox at scale: 1,000,000 human tasks (100,000 open) across the 16 districts, on SQLite and PostgreSQL.

Generates the rows in bulk (SQLite: executemany in large transactions; PostgreSQL: COPY) — 100,000
process instances with 10 human tasks each, one in ten still open, spread over every district and
the streets the reference data holds, over the roles that work inboxes, with due dates from far past
to far future so every SLA colour is present. Then times, through the same engine services the API
and the web app call (fresh session each time, 60 repetitions after a warm-up), for a street officer,
a district officer and a city officer:

* claimable — "my claimable tasks, sorted by due date, first page of 50" (with its total count);
* overdue   — "my overdue", the inbox's overdue tab (first page of 50 with its count);
* sla       — open tasks per SLA colour for the district dashboard (one grouped query);

and prints p50 / p95 against the goal (p95 ≤ 20 ms), plus the query plans with --plans.

After the load it brings the statistics up to date as a deployment would have them: ANALYZE on SQLite
(sqlite_stat1, which its planner reads to choose indexes), VACUUM (ANALYZE) on PostgreSQL — what
autovacuum does after a bulk load — which also sets the visibility map that index-only scans need.

Usage: .venv/bin/python bench/inbox_scale.py [total_tasks] [--plans]
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import drop_database, migrated, postgres_url  # noqa: E402

ARGS = [a for a in sys.argv[1:] if not a.startswith("--")]
TOTAL = int(ARGS[0]) if ARGS else 1_000_000
PLANS = "--plans" in sys.argv
PER_INSTANCE = 10
REPEAT = int(__import__("os").environ.get("BENCH_REPEAT", "60"))
# Who the open steps wait for, weighted as in the procedures: most steps are street work, some district
# work (confirmations, Bridge Plan agencies), few city work.
STREET_ROLES = {"advisor": 30, "street_officer": 30, "street_head": 10, "review_panel": 8, "finance": 8}
DISTRICT_ROLES = {"district_officer": 8, "agency_worker": 5}
CITY_ROLES = {"city_officer": 1}
PASSWORD = "bench-password"


def setup(url: str):
    return migrated(
        url,
        [
            ("street", [("street_officer", "310107014")]),
            ("district", [("district_officer", "310107"), ("district_head", "310107")]),
            ("city", [("city_officer", "310000")]),
        ],
        PASSWORD,
    )


def rows(session) -> tuple[list[tuple], list[tuple]]:
    """(instance rows, task rows) as plain tuples, deterministic (seeded)."""
    from sqlalchemy import select

    from engine.definitions import service as definitions
    from engine.orgs.models import OrgLevel, OrgUnit

    rng = random.Random(2026)
    districts = list(session.scalars(select(OrgUnit).where(OrgUnit.level == OrgLevel.DISTRICT)))
    streets: dict[int, list[OrgUnit]] = {}
    for unit in session.scalars(select(OrgUnit).where(OrgUnit.level == OrgLevel.STREET)):
        streets.setdefault(unit.district_id, []).append(unit)
    definition = definitions.latest(session, "comprehensive_assistance")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    first_id = 1_000_000
    instances, tasks = [], []
    for i in range(TOTAL // PER_INSTANCE):
        district = districts[i % len(districts)]
        street = rng.choice(streets[district.id]) if district.id in streets and rng.random() < 0.8 else None
        unit = street or district
        iid = first_id + i
        started = now - dt.timedelta(days=rng.randint(1, 700))
        instances.append(
            (
                iid,
                definition.id,
                "comprehensive_assistance",
                unit.id,
                district.id,
                street.id if street else None,
                "running",
                started,
                started,
                "",
                "{}",
                1,
            )
        )
        for k in range(PER_INSTANCE):
            pool = {**(STREET_ROLES if street else {}), **DISTRICT_ROLES, **CITY_ROLES}
            role = rng.choices(list(pool), weights=list(pool.values()))[0]
            is_open = k == PER_INSTANCE - 1
            due = now + dt.timedelta(hours=rng.randint(-24 * 60, 24 * 60))
            state = ("claimed" if rng.random() < 0.3 else "ready") if is_open else "completed"
            tasks.append(
                (
                    iid,
                    "comprehensive_assistance",
                    str(uuid.UUID(int=rng.getrandbits(128))),
                    f"step_{k}",
                    f"环节{k}",
                    role,
                    unit.id,
                    district.id,
                    street.id if street else None,
                    state,
                    started,
                    None if is_open else started + dt.timedelta(days=k),
                    due - dt.timedelta(days=1),
                    due,
                    due + dt.timedelta(days=3),
                    0,
                )
            )
    return instances, tasks


INSTANCE_COLS = (
    "id",
    "definition_id",
    "process_key",
    "org_unit_id",
    "district_id",
    "street_id",
    "status",
    "started_at",
    "updated_at",
    "state",
    "data",
    "version",
)
TASK_COLS = (
    "instance_id",
    "process_key",
    "spiff_task_id",
    "bpmn_id",
    "name",
    "candidate_role",
    "org_unit_id",
    "district_id",
    "street_id",
    "state",
    "created_at",
    "completed_at",
    "warn_at",
    "due_at",
    "escalate_at",
    "sla_level",
)


def load(engine, factory) -> float:
    t0 = time.perf_counter()
    with factory() as s:
        instances, tasks = rows(s)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        if engine.dialect.name == "postgresql":
            for table, cols, data in (
                ("process_instance", INSTANCE_COLS, instances),
                ("human_task", TASK_COLS, tasks),
            ):
                with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                    for row in data:
                        copy.write_row(row)
        else:
            fmt = lambda v: v.strftime("%Y-%m-%d %H:%M:%S.000000") if isinstance(v, dt.datetime) else v  # noqa: E731
            for table, cols, data in (
                ("process_instance", INSTANCE_COLS, instances),
                ("human_task", TASK_COLS, tasks),
            ):
                marks = ", ".join("?" for _ in cols)
                cur.executemany(
                    f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})",
                    ([fmt(v) for v in row] for row in data),
                )
            cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
    if engine.dialect.name == "postgresql":
        # What autovacuum does after a bulk load in a deployment (whatever this server's setting): the
        # statistics, and the visibility map that lets index-only scans skip the table.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("VACUUM (ANALYZE) process_instance")
            c.exec_driver_sql("VACUUM (ANALYZE) human_task")
    return time.perf_counter() - t0


def queries(factory) -> dict[str, object]:
    from engine.dashboards import service as dashboards
    from engine.tasks import service as tasks
    from engine.users import service as users

    def claimable(s, user):
        return tasks.inbox(s, user, scope="claimable", sort="due", page=1, per_page=50)

    def overdue(s, user):
        return tasks.inbox(s, user, scope="all", overdue=True, sort="due", page=1, per_page=50)

    def sla(s, user):
        return dashboards.sla_counts(s, user)

    return {"claimable": claimable, "overdue": overdue, "sla": sla}, users


def measure(factory, label: str) -> list[str]:
    fns, users = queries(factory)
    lines = []
    for username in ("street", "district", "city"):
        for name, fn in fns.items():
            with factory() as s:
                fn(s, users.by_username(s, username))  # warm-up
            times, size = [], None
            for _ in range(REPEAT):
                with factory() as s:
                    user = users.by_username(s, username)  # as the request's login does, not timed
                    t0 = time.perf_counter()
                    result = fn(s, user)
                    times.append(time.perf_counter() - t0)
                    size = result[1] if isinstance(result, tuple) else sum(r["count"] for r in result)
            times.sort()
            p50, p95 = statistics.median(times) * 1000, times[int(len(times) * 0.95) - 1] * 1000
            verdict = "ok" if p95 <= 20 else "ABOVE GOAL"
            lines.append(
                f"  {label:<10} {username:<9} {name:<10} p50 {p50:6.2f} ms   p95 {p95:6.2f} ms   "
                f"(goal p95 ≤ 20 ms: {verdict})   rows in scope: {size:,}"
            )
    return lines


def plans(engine, factory) -> None:

    from engine.dashboards import service as dashboards
    from engine.tasks import service as tasks
    from engine.users import service as users

    statements: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "human_task" in statement and not statement.lstrip().upper().startswith(("INSERT", "UPDATE")):
            statements.append((statement, parameters))

    from sqlalchemy import event

    event.listen(engine, "before_cursor_execute", capture)
    captured: list[tuple[str, str, object]] = []
    for username in ("district", "city"):
        with factory() as s:
            user = users.by_username(s, username)
            statements.clear()
            tasks.inbox(s, user, scope="claimable", sort="due", page=1, per_page=50)
            tasks.inbox(s, user, scope="all", overdue=True, sort="due", page=1, per_page=50)
            dashboards.sla_counts(s, user)
            captured += [(username, statement, params) for statement, params in statements]
    event.remove(engine, "before_cursor_execute", capture)
    with engine.connect() as c:
        for username, statement, params in captured:
            if "org_unit" in statement.split("FROM", 1)[1][:40] or "app_user" in statement:
                continue
            prefix = "EXPLAIN ANALYZE " if engine.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
            result = c.exec_driver_sql(prefix + statement, params)
            print(f"\n    [{username}] " + " ".join(statement.split())[:300] + " …")
            for row in result:
                print("      " + " | ".join(str(x) for x in row if x is not None))
            if engine.dialect.name == "sqlite":
                continue


def run(url: str, label: str) -> list[str]:
    engine, factory = setup(url)
    seconds = load(engine, factory)
    print(f"  {label}: {TOTAL:,} tasks ({TOTAL // PER_INSTANCE:,} open) loaded in {seconds:.0f} s")
    lines = measure(factory, label)
    for line in lines:
        print(line)
    if PLANS:
        print(f"  query plans ({label}, district and city officer):")
        plans(engine, factory)
    engine.dispose()
    return lines


def main() -> None:
    print(f"inbox at scale — {TOTAL:,} human tasks, {TOTAL // PER_INSTANCE:,} open, 16 districts\n")
    with tempfile.TemporaryDirectory() as tmp:
        run(f"sqlite:///{tmp}/inbox.db", "SQLite")
    url = postgres_url()
    if url:
        try:
            run(url, "PostgreSQL")
        finally:
            drop_database(url)
    else:
        print("PostgreSQL not reachable: skipped")


if __name__ == "__main__":
    main()
