"""Case pages: server time of a Bridge Plan project's case page (300 household cases, 6,000 step records)
and of one household case page with 300 visit records (goals: p95 ≤ 100 ms and ≤ 50 ms).

The project goes through the engine service up to the district's confirmation, which opens one case per
household (300 by default). Household A then gets its needs assessment, plan and all its visits through
the engine service too (each a persisted completion writing its step record). The other households get
the same steps in bulk: copies of A's completed task rows and step records (the rows the engine wrote,
read back and inserted again for another case, iterations numbered per case), and their case data's
visit count — so the project has ``records`` step records in all. Each page is then requested through
the Flask test client (in process: the time is the server's, rendering included) by a district officer,
a few times, after one warm-up request. SQLite and, when a server is reachable, PostgreSQL.

Each page's figure is wall-clock time (what the goals are about) and the CPU time the web process spent
on it (its own work without waiting for a core: on a machine shared with other jobs the wall time is
mostly the wait; PostgreSQL's own work is in the wall time only).

Usage: .venv/bin/python bench/case_pages.py [households] [visits of household A] [records] [requests]
[--profile]   (--profile: a pyinstrument profile of each page's timed requests, SQLite only)
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import drop_database, postgres_url  # noqa: E402

ARGS = [a for a in sys.argv[1:] if not a.startswith("--")]
PROFILE = "--profile" in sys.argv
HOUSEHOLDS = int(ARGS[0]) if len(ARGS) > 0 else 300
VISITS = int(ARGS[1]) if len(ARGS) > 1 else 300
RECORDS = int(ARGS[2]) if len(ARGS) > 2 else 6000
REQUESTS = int(ARGS[3]) if len(ARGS) > 3 else 20
STREET, DISTRICT = "310107014", "310107"
PASSWORD = "bench-password-1"


YOUTH = {"youth_age": 18, "youth_education": "secondary_vocational", "youth_intention": "work"}


def p95(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=20, method="inclusive")[-1] if len(xs) > 1 else xs[0]


def build(url: str):
    """The app and its data; returns (app, project id, household A's case id, total step records)."""
    from flask_migrate import upgrade
    from sqlalchemy import func, insert, select
    from sqlalchemy.orm import Session

    from api import create_app, demo_materials
    from api.extensions import db
    from engine.definitions import service as definitions
    from engine.forms import with_check_digit
    from engine.instances import service as instances
    from engine.instances.models import ProcessInstance
    from engine.orgs import service as orgs
    from engine.records.models import StepRecord
    from engine.tasks import service as tasks
    from engine.tasks.models import HumanTask
    from engine.users import service as users

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        engine = db.engine
    households = [
        {
            "household_ref": f"BENCH-{n:04d}",
            "head_id_number": with_check_digit(f"99999119900101{n:03d}"),
            "street": STREET,
        }
        for n in range(1, HOUSEHOLDS + 1)
    ]
    started = time.perf_counter()
    with Session(engine, expire_on_commit=False) as s:
        orgs.load_reference(s)
        definitions.sync_dir(s, ROOT / "processes")
        grants = [("city_officer", "310000"), ("district_officer", DISTRICT), ("agency_lead", DISTRICT)]
        users.create_user(s, "bench", PASSWORD, grants=[*grants, ("agency_worker", DISTRICT)])
        users.create_user(s, "bench_district", PASSWORD, grants=[("district_officer", DISTRICT)])
        s.commit()
        user = users.by_username(s, "bench")

        def complete(instance_id: int, bpmn_id: str, data: dict) -> None:
            row = next(t for t in tasks.open_tasks_of(s, instance_id) if t.bpmn_id == bpmn_id)
            demo_materials.supply(s, user, row)  # the step's required materials (sample files)
            try:
                tasks.complete(s, user, row.id, data)
            except Exception as err:
                raise SystemExit(f"{bpmn_id}: {err} {getattr(err, 'fields', '')}") from err
            s.commit()

        project = instances.start(s, user, "bridge_plan_project", DISTRICT)
        s.commit()
        allocation = 5_000 * HOUSEHOLDS
        complete(project.id, "city_plan", {"project_year": 2026, "district_allocation": str(allocation)})
        candidates = [{**h, "hardship": "dibao", "source": "big_data", **YOUTH} for h in households]
        complete(project.id, "candidate_list", {"candidates": candidates})
        staff = [{"staff_ref": f"S{i}", "qualification": "social_worker"} for i in range(3)]
        contract = {"agency_name": "基准机构", "agency_rating": "4A", "contract_signed_on": "2026-05-20"}
        complete(project.id, "agency_contract", {**contract, "staff": staff})
        filing = {"agreement_ref": "BENCH-1", "agreement_signed_on": "2026-05-20", "filed_on": "2026-05-27"}
        complete(project.id, "agreement_filing", {**filing, "signed_copy_received": True})
        calls = [
            {"household_ref": h["household_ref"], "called_on": "2026-06-01", "willing": True}
            for h in households
        ]
        complete(project.id, "willingness_calls", {"calls": calls})
        budget = [
            {
                "category": "comprehensive_services",
                "purpose": "服务",
                "payee": "agency",
                "amount": str(allocation * 9 // 10),
            }
        ]
        annual = {"households": households, "budget_lines": budget, "fewer_reason": "基准测试用例"}
        complete(project.id, "annual_list", annual)
        complete(project.id, "district_confirmation", {"decision": "approve", "opinion": "同意"})
        case_ids = s.get(ProcessInstance, project.id).data["household_case_ids"]
        print(
            f"  project and {len(case_ids)} household cases through the service: {time.perf_counter() - started:.1f} s"
        )
        started = time.perf_counter()
        case_a = case_ids[0]
        needs = {"family_withdraws": False, "pre_test_score": 40}
        needs |= {
            f"need_{k}": "medium" for k in ("economic", "psychological", "medical", "education", "employment")
        }
        complete(case_a, "needs_assessment", needs)
        complete(
            case_a, "household_plan", {"goals": "完成学业并就业", "methods": ["policy"], "planned_visits": 5}
        )
        visit = {"action": "visit", "happened_on": "2026-07-01", "content": "入户走访"}
        for _ in range(VISITS):
            complete(case_a, "case_work", visit)
        print(f"  household A: {VISITS} visits through the service: {time.perf_counter() - started:.1f} s")

        # The other households: copies of A's completed tasks and their records, in bulk.
        started = time.perf_counter()
        task_cols = [c for c in HumanTask.__table__.c if c.name != "id"]
        record_cols = [c for c in StepRecord.__table__.c if c.name not in ("id", "task_id", "instance_id")]
        done_a = list(
            s.execute(
                select(HumanTask.__table__)
                .where(HumanTask.instance_id == case_a, HumanTask.completed_at.is_not(None))
                .order_by(HumanTask.id)
            ).mappings()
        )
        rec_by_task = {
            r["task_id"]: r
            for r in s.execute(
                select(StepRecord.__table__).where(StepRecord.instance_id == case_a)
            ).mappings()
        }
        done_a = [t for t in done_a if t["id"] in rec_by_task]
        head = [t for t in done_a if t["bpmn_id"] != "case_work"]
        visits_a = [t for t in done_a if t["bpmn_id"] == "case_work"]
        already = s.scalar(select(func.count()).select_from(StepRecord)) or 0
        others = case_ids[1:]
        left = max(0, RECORDS - already - len(head) * len(others))
        per_case = [left // len(others) + (1 if i < left % len(others) else 0) for i in range(len(others))]
        data_a = dict(s.get(ProcessInstance, case_a).data or {})
        for case_id, n_visits in zip(others, per_case, strict=True):
            chosen = head + [visits_a[i % len(visits_a)] for i in range(n_visits)]
            task_rows = [
                {c.name: t[c.name] for c in task_cols}
                | {"instance_id": case_id, "spiff_task_id": str(uuid.uuid4())}
                for t in chosen
            ]
            ids = list(
                s.scalars(insert(HumanTask).returning(HumanTask.id, sort_by_parameter_order=True), task_rows)
            )
            runs: dict[str, int] = {}
            record_rows = []
            for new_id, t in zip(ids, chosen, strict=True):
                runs[t["bpmn_id"]] = runs.get(t["bpmn_id"], 0) + 1
                rec = rec_by_task[t["id"]]
                record_rows.append(
                    {c.name: rec[c.name] for c in record_cols}
                    | {"task_id": new_id, "instance_id": case_id, "iteration": runs[t["bpmn_id"]]}
                )
            s.execute(insert(StepRecord), record_rows)
            if "visit_count" in data_a:
                row = s.get(ProcessInstance, case_id)
                row.data = {**(row.data or {}), "visit_count": n_visits}
        s.commit()
        total = s.scalar(select(func.count()).select_from(StepRecord)) or 0
        print(f"  {len(others)} households' records in bulk: {time.perf_counter() - started:.1f} s")
        if engine.dialect.name == "postgresql":  # statistics as autovacuum leaves them after a load
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                c.exec_driver_sql("VACUUM (ANALYZE)")
        else:
            s.connection().exec_driver_sql("ANALYZE")
            s.commit()
    return app, project.id, case_a, total


def measure(app, paths: list[tuple[str, str]], profile: bool = False) -> dict[str, list[float]]:
    from sqlalchemy import event

    from api.extensions import db

    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/login", data={"username": "bench_district", "password": PASSWORD, "csrf_token": token})
    out: dict[str, list[float]] = {}
    with app.app_context():
        engine = db.engine
    counted = [0]

    def count(*_a, **_k):
        counted[0] += 1

    event.listen(engine, "before_cursor_execute", count)
    try:
        for label, path in paths:
            response = client.get(path)  # warm-up (caches, first compile)
            assert response.status_code == 200, (path, response.status_code)
            times, cpu = [], []
            profiler = None
            if profile:
                from pyinstrument import Profiler

                profiler = Profiler(interval=0.0005)
                profiler.start()
            for _ in range(REQUESTS):
                counted[0] = 0
                t0, c0 = time.perf_counter(), time.process_time()
                response = client.get(path)
                times.append((time.perf_counter() - t0) * 1000)
                cpu.append((time.process_time() - c0) * 1000)
                assert response.status_code == 200, (path, response.status_code)
            if profiler is not None:
                profiler.stop()
                print(profiler.output_text(unicode=False, color=False))
            out[label] = times
            out[label + " cpu"] = cpu
            out[label + " statements"] = [float(counted[0])]
            out[label + " bytes"] = [float(len(response.data))]
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return out


def report(name: str, url: str, profile: bool = False) -> dict[str, tuple[float, float]]:
    app, project_id, case_a, total = build(url)
    print(f"  {total:,} step records in all")
    results = measure(
        app,
        [
            (f"project case page ({HOUSEHOLDS} households)", f"/cases/{project_id}"),
            (f"household case page ({VISITS} visits)", f"/cases/{case_a}"),
        ],
        profile,
    )
    goals = {"project": 100.0, "household": 50.0}
    figures: dict[str, tuple[float, float]] = {}  # page -> (wall p95, web process CPU p95)
    for label, times in results.items():
        if label.endswith(("statements", "bytes", "cpu")):
            continue
        goal = goals[label.split()[0]]
        cpu = results[label + " cpu"]
        figures[label.split()[0]] = (p95(times), p95(cpu))
        print(
            f"  {name:<10} {label:<36} median {statistics.median(times):7.1f} ms   p95 {p95(times):7.1f} ms"
            f"   (goal p95 ≤ {goal:.0f} ms; {int(results[label + ' statements'][0])} statements,"
            f" {int(results[label + ' bytes'][0]):,} bytes)\n"
            f"  {'':<10} {'  web process CPU':<36} median {statistics.median(cpu):7.1f} ms   p95 {p95(cpu):7.1f} ms"
        )
    with app.app_context():
        from api.extensions import db

        db.engine.dispose()
    return figures


def summary_row(figures: dict[str, dict[str, tuple[float, float]]]) -> str:
    """The run as docs/PERFORMANCE.md's summary row 8 (goal met where every wall p95 is within it)."""
    import datetime as dt
    import subprocess

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    goals = {"project": 100.0, "household": 50.0}
    wall = ", ".join(
        f"{name} {f['project'][0]:,.0f} / {f['household'][0]:,.0f} ms" for name, f in figures.items()
    )
    cpu = ", ".join(
        f"{name} {f['project'][1]:,.0f} / {f['household'][1]:,.0f} ms" for name, f in figures.items()
    )
    met = all(f[page][0] <= goal for f in figures.values() for page, goal in goals.items())
    return (
        f"| 8 | case pages, server time p95: Bridge Plan project with {HOUSEHOLDS} household cases and"
        f" {RECORDS:,} step records; household case with {VISITS} visits | ≤ 100 ms; ≤ 50 ms |"
        f" wall p95 {wall}; web process CPU p95 {cpu} at load average {os.getloadavg()[0]:.1f} —"
        f" {'met' if met else '**not met in this run**'} | {dt.date.today().isoformat()} | `{commit}` |"
    )


def main() -> None:
    import logging

    logging.disable(logging.WARNING)
    print(
        f"case pages — a Bridge Plan project with {HOUSEHOLDS} household cases and about {RECORDS:,} step"
        f" records, household A with {VISITS} visits; {REQUESTS} requests per page (load {os.getloadavg()[0]:.2f})\n"
    )
    figures: dict[str, dict[str, tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ASSISTFLOW_FILES_URL"] = f"{tmp}/files"  # the steps' required materials
        print("SQLite")
        figures["SQLite"] = report("SQLite", f"sqlite:///{tmp}/bench.db", PROFILE)
        url = None if PROFILE else postgres_url()
        if url:
            try:
                print("PostgreSQL")
                figures["PostgreSQL"] = report("PostgreSQL", url)
            finally:
                drop_database(url)
        else:
            print("PostgreSQL: skipped (--profile)" if PROFILE else "PostgreSQL not reachable: skipped")
    print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("\ndocs/PERFORMANCE.md summary row (project / household):\n" + summary_row(figures))


if __name__ == "__main__":
    main()
