"""Case search at scale: N cases and N persons (default 1,000,000 each) across the 16 districts, on SQLite
and PostgreSQL.

Generates, in bulk (SQLite: executemany in one transaction, then ANALYZE; PostgreSQL: COPY, then
VACUUM (ANALYZE) as autovacuum would): N/2 households of two persons each (fictional names from a
syllable table, resident ID numbers in the unallocated area 999999 — encrypted with the run's keys, with
their blind index and last four digits, as the service stores them), and two cases per household
(``case_household``: the household and its head as applicant) with readable case numbers. 80 % of the
cases sit at a street, the rest at their district, spread over every district.

Then times, through the engine's own search (``engine.cases.service.search`` followed by ``rows_view``,
exactly what ``GET /api/v1/cases`` runs; fresh session each time, a different target each repetition,
after a warm-up) for a street officer (a Putuo street) and a district officer (Putuo):

* id_number   — the cases of the household of an exact ID number (blind index);
* name        — the cases of households with a member of that full name;
* case_number — the case with that case number;

and prints p50 / p95 against the goal (p95 ≤ 50 ms). Search targets are drawn from the officer's own
scope, so every search finds something.

Usage: .venv/bin/python bench/case_search.py [cases] [--sqlite-only | --pg-only] [--plans]
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
sys.path.insert(0, str(ROOT / "bench"))

from common import drop_database, migrated, postgres_url  # noqa: E402

ARGS = [a for a in sys.argv[1:] if not a.startswith("--")]
TOTAL = int(ARGS[0]) if ARGS else 1_000_000
REPEAT = int(os.environ.get("BENCH_REPEAT", "60"))
GOAL_MS = 50
PASSWORD = "bench-password"
STREET, DISTRICT = "310107014", "310107"
SURNAMES = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张孔曹严华金魏陶姜戚谢邹喻柏水窦章云苏潘葛奚范彭郎"
GIVEN = "安宁平和春夏秋冬明亮清远文武思远晨曦嘉欣浩然子涵雨轩若云梓萱一诺语桐宇航俊杰志强秀英桂兰建国"


def setup(url: str):
    return migrated(
        url,
        [("street", [("street_officer", STREET)]), ("district", [("district_officer", DISTRICT)])],
        PASSWORD,
    )


def generate(session) -> dict[str, list[tuple]]:
    """Rows of every table as plain tuples, deterministic (seeded), with the run's encryption."""
    from sqlalchemy import select

    from engine import crypto
    from engine.definitions import service as definitions
    from engine.forms import with_check_digit
    from engine.orgs.models import OrgLevel, OrgUnit

    ring = crypto.keyring()
    rng = random.Random(2026)
    districts = list(session.scalars(select(OrgUnit).where(OrgUnit.level == OrgLevel.DISTRICT)))
    streets: dict[int, list[OrgUnit]] = {}
    for unit in session.scalars(select(OrgUnit).where(OrgUnit.level == OrgLevel.STREET)):
        streets.setdefault(unit.district_id, []).append(unit)
    definition = definitions.latest(session, "comprehensive_assistance")
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    out: dict[str, list[tuple]] = {
        "household": [],
        "person": [],
        "process_instance": [],
        "case_household": [],
    }
    for h in range(TOTAL // 2):
        hid = 1 + h
        district = districts[h % len(districts)]
        street = rng.choice(streets[district.id]) if district.id in streets and rng.random() < 0.8 else None
        unit = street or district
        out["household"].append((hid, unit.id, district.id, street.id if street else None, "other", now, now))
        head_pid = None
        for k in range(2):
            pid = 1 + 2 * h + k
            head_pid = head_pid or pid
            name = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
            # (birth date, sequence) from the person's id: every number distinct
            born = dt.date(1950, 1, 1) + dt.timedelta(days=(pid // 1000) * 17)
            number = with_check_digit(f"999999{born:%Y%m%d}{pid % 1000:03d}")
            out["person"].append(
                (
                    pid,
                    hid,
                    name,
                    "head" if k == 0 else "spouse",
                    ring.encrypt(number),
                    ring.blind_index(number),
                    number[-4:],
                    born,
                    now,
                )
            )
        code = street.code if street else district.code
        for c in range(2):
            iid = 1 + 2 * h + c
            started = now - dt.timedelta(days=rng.randint(1, 700))
            out["process_instance"].append(
                (
                    iid,
                    definition.id,
                    "comprehensive_assistance",
                    f"CA-{started.year}-{code}-{iid:07d}",
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
            out["case_household"].append((iid, hid, head_pid))
    return out


COLUMNS = {
    "household": (
        "id",
        "org_unit_id",
        "district_id",
        "street_id",
        "hardship_category",
        "created_at",
        "updated_at",
    ),
    "person": (
        "id",
        "household_id",
        "name",
        "relation",
        "id_number",
        "id_index",
        "id_last4",
        "birth_date",
        "created_at",
    ),
    "process_instance": (
        "id",
        "definition_id",
        "process_key",
        "business_key",
        "org_unit_id",
        "district_id",
        "street_id",
        "status",
        "started_at",
        "updated_at",
        "state",
        "data",
        "version",
    ),
    "case_household": ("instance_id", "household_id", "applicant_person_id"),
}


def load(engine, data: dict[str, list[tuple]]) -> float:
    t0 = time.perf_counter()
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for table in ("household", "person", "process_instance", "case_household"):
            cols = COLUMNS[table]
            if engine.dialect.name == "postgresql":
                with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                    for row in data[table]:
                        copy.write_row(row)
            else:

                def fmt(v):
                    if isinstance(v, dt.datetime):
                        return v.strftime("%Y-%m-%d %H:%M:%S.000000")
                    return v.isoformat() if isinstance(v, dt.date) else v

                marks = ", ".join("?" for _ in cols)
                cur.executemany(
                    f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})",  # noqa: S608 — fixed names
                    ([fmt(v) for v in row] for row in data[table]),
                )
        if engine.dialect.name == "sqlite":
            cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            for table in ("household", "person", "process_instance", "case_household"):
                c.exec_driver_sql(f"VACUUM (ANALYZE) {table}")
    return time.perf_counter() - t0


def targets(factory, username: str) -> dict[str, list[dict]]:
    """Search terms drawn from the officer's own scope (so each finds something)."""
    from sqlalchemy import select

    from engine.households.models import CaseHousehold, Person
    from engine.instances.models import ProcessInstance
    from engine.scope import visible_clause
    from engine.users import service as users

    with factory() as s:
        user = users.by_username(s, username)
        rows = s.execute(
            select(ProcessInstance.business_key, Person.name, Person.id_number)
            .join(CaseHousehold, CaseHousehold.instance_id == ProcessInstance.id)
            .join(Person, Person.id == CaseHousehold.applicant_person_id)
            .where(visible_clause(s, user, ProcessInstance))
            .limit(2000)
        ).all()
    rng = random.Random(7)
    rng.shuffle(rows)
    rows = rows[: REPEAT + 1]
    return {
        "id_number": [{"id_number": r[2]} for r in rows],
        "name": [{"name": r[1]} for r in rows],
        "case_number": [{"case_number": r[0]} for r in rows],
    }


def measure(factory, label: str) -> list[str]:
    from engine.cases import service as cases
    from engine.users import service as users

    lines = []
    for username in ("street", "district"):
        for kind, terms in targets(factory, username).items():
            times, found = [], 0
            for i, term in enumerate(terms):
                with factory() as s:
                    user = users.by_username(s, username)  # as the request's login does, not timed
                    t0 = time.perf_counter()
                    rows, _more = cases.search(s, user, cases.Query(**term), per_page=50)
                    cases.rows_view(s, rows)
                    elapsed = time.perf_counter() - t0
                    s.rollback()  # the audited read is not kept
                if i:  # the first is the warm-up
                    times.append(elapsed)
                    found += bool(rows)
            times.sort()
            p50, p95 = statistics.median(times) * 1000, times[max(0, int(len(times) * 0.95) - 1)] * 1000
            verdict = "ok" if p95 <= GOAL_MS else "ABOVE GOAL"
            lines.append(
                f"  {label:<10} {username:<9} {kind:<12} p50 {p50:6.2f} ms   p95 {p95:6.2f} ms   "
                f"(goal p95 ≤ {GOAL_MS} ms: {verdict})   found {found}/{len(times)}"
            )
    return lines


def plans(engine, factory) -> None:
    """The search statement of each kind with its plan (EXPLAIN ANALYZE on PostgreSQL), district officer."""
    from sqlalchemy import event

    from engine.cases import service as cases
    from engine.users import service as users

    captured: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "FROM process_instance" in statement and "count(" not in statement:
            captured.append((statement, parameters))

    for kind, terms in targets(factory, "district").items():
        captured.clear()
        event.listen(engine, "before_cursor_execute", capture)
        with factory() as s:
            cases.search(s, users.by_username(s, "district"), cases.Query(**terms[0]), per_page=50)
            s.rollback()
        event.remove(engine, "before_cursor_execute", capture)
        statement, params = captured[0]
        prefix = "EXPLAIN ANALYZE " if engine.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
        with engine.connect() as c:
            print(f"\n    [{kind}] " + " ".join(statement.split())[:400] + " …")
            for row in c.exec_driver_sql(prefix + statement, params):
                print("      " + " | ".join(str(x) for x in row if x is not None))


def run(url: str, label: str, data: dict[str, list[tuple]] | None) -> tuple[list[str], dict]:
    engine, factory = setup(url)
    if data is None:
        t0 = time.perf_counter()
        with factory() as s:
            data = generate(s)
        print(f"  generated {TOTAL:,} cases and {TOTAL:,} persons in {time.perf_counter() - t0:.0f} s")
    seconds = load(engine, data)
    print(f"  {label}: loaded in {seconds:.0f} s")
    lines = measure(factory, label)
    for line in lines:
        print(line, flush=True)
    if "--plans" in sys.argv:
        plans(engine, factory)
    engine.dispose()
    return lines, data


def main() -> None:
    print(
        f"case search at scale — {TOTAL:,} cases, {TOTAL:,} persons, {TOTAL // 2:,} households, 16 districts\n"
    )
    data = None
    if "--pg-only" not in sys.argv:
        with tempfile.TemporaryDirectory() as tmp:
            _lines, data = run(f"sqlite:///{tmp}/cases.db", "SQLite", data)
    if "--sqlite-only" in sys.argv:
        return
    url = postgres_url()
    if url:
        try:
            run(url, "PostgreSQL", data)
        finally:
            drop_database(url)
    else:
        print("PostgreSQL not reachable: skipped")


if __name__ == "__main__":
    main()
