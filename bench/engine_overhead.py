"""Engine overhead: one persisted task completion through the engine service vs the bare library.

Prints, in one run, for SQLite (and PostgreSQL when BENCH_PG_URL or a local server is reachable):

* engine — the full service path per completion: token-less user lookup, instance lock, load state
  (spec from cache), form validation, run, engine steps with pruning, save, human-task projection,
  audit rows, commit; plus its share of sealing the audit hash chain (done by the scheduler after
  commit; here every 10 completions, its time shared over the next 10);
* bare   — SpiffWorkflow alone on the same process and BPMN: deserialize → set data → run →
  do_engine_steps → serialize (its default serializer, spec embedded, no database);

and the ratio engine / bare. It also measures what the step records cost: the same engine with the
kernel's ``task_completed`` subscriber that writes a completion's step record switched off ("before"),
each variant on its own database, steps interleaved — the ratio with / without is the records' cost
(goal ≤ 1.1×). The notices of new work are off in both of those (they are measured in "engine"). Both drive the demo procedure's visit loop, so both also show how the cost
moves as a case's history grows (the bare library's state grows with every visit).

Usage: .venv/bin/python bench/engine_overhead.py [completions]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import drop_database, postgres_url  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 300
SEAL_EVERY = 10  # completions per audit-chain sealing (the scheduler seals every second)
VISIT = {"visit_date": "2026-11-20", "summary": "入户走访，了解近况", "more_visits_needed": True}


def bare_steps():
    from SpiffWorkflow.bpmn import BpmnWorkflow
    from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
    from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
    from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
    from SpiffWorkflow.util.task import TaskState

    parser = SpiffBpmnParser()
    parser.add_bpmn_file(str(ROOT / "processes" / "demo_assistance.bpmn"))
    spec = parser.get_spec("demo_assistance")
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
    wf = BpmnWorkflow(spec)
    wf.do_engine_steps()

    def run(bpmn_id: str, **data):
        task = next(
            t for t in wf.get_tasks(state=TaskState.READY, manual=True) if t.task_spec.bpmn_id == bpmn_id
        )
        task.set_data(**data)
        task.run()
        wf.do_engine_steps()

    run("application", amount_requested=6000, household_size=3)
    run("review", decision="approve", amount_approved=5000)
    state = serializer.serialize_json(wf)
    while True:
        t0 = time.perf_counter()
        wf = serializer.deserialize_json(state)
        run("visit", **VISIT)
        state = serializer.serialize_json(wf)
        yield time.perf_counter() - t0


FEATURES = ("records", "notices")
RECORD_SECONDS = [0.0]  # time spent writing step records (the task_completed subscriber), all runners
RECORD_SHARE: dict[str, list[float]] = {}  # runner url -> per completion: record time / completion time


def _timed_write(session, **payload):
    from engine.records import service as records

    t0 = time.perf_counter()
    records.write(session, **payload)
    RECORD_SECONDS[0] += time.perf_counter() - t0


def _switch(features: tuple[str, ...]) -> None:
    """Subscribe or unsubscribe the parts this runner measures (runners interleave in one process)."""
    from engine.kernel import bus
    from engine.notifications import new_work
    from engine.records import service as records

    bus.unsubscribe(bus.TASK_COMPLETED, records.write)  # the untimed one engine.wiring subscribed
    for event, handler, part in (
        (bus.TASK_COMPLETED, _timed_write, "records"),
        (bus.TASK_OPENED, new_work.on_task_opened, "notices"),
        (bus.TASK_ASSIGNED, new_work.on_task_assigned, "notices"),
    ):
        if part in features:
            bus.subscribe(event, handler)
        else:
            bus.unsubscribe(event, handler)


def engine_steps(url: str, features: tuple[str, ...] = FEATURES):
    from flask_migrate import upgrade
    from sqlalchemy.orm import Session

    from api import create_app
    from api.extensions import db
    from engine.definitions import service as definitions
    from engine.orgs import service as orgs
    from engine.tasks import service as tasks
    from engine.users import service as users

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        engine = db.engine
    with Session(engine, expire_on_commit=False) as s:
        orgs.load_reference(s)
        definitions.sync_dir(s, ROOT / "processes")
        grants = [("advisor", "310107014"), ("street_officer", "310107014"), ("finance", "310107014")]
        users.create_user(s, "bench", "bench-password", grants=grants)
        s.commit()
        user = users.by_username(s, "bench")
        from engine.instances import service as instances

        _switch(features)
        instance = instances.start(s, user, "demo_assistance", "310107014")
        s.commit()

        def complete(bpmn_id, data):
            _switch(features)
            row = next(t for t in tasks.open_tasks_of(s, instance.id) if t.bpmn_id == bpmn_id)
            tasks.complete(s, user, row.id, data)
            s.commit()

        complete(
            "application",
            {
                "household_size": 3,
                "hardship_category": "dibao",
                "aid_types": ["money"],
                "amount_requested": "6000",
                "reason": "基准测试用例",
                "credit_commitment_signed": True,
            },
        )
        complete("review", {"decision": "approve", "amount_approved": "5000", "opinion": "同意"})
        from engine.audit import chain

        sealing_share, done = 0.0, 0
        try:
            while True:
                row = next(t for t in tasks.open_tasks_of(s, instance.id) if t.bpmn_id == "visit")
                _switch(features)
                spent_before = RECORD_SECONDS[0]
                t0 = time.perf_counter()
                tasks.complete(s, user, row.id, VISIT)
                s.commit()
                elapsed = time.perf_counter() - t0
                RECORD_SHARE.setdefault(url, []).append((RECORD_SECONDS[0] - spent_before) / elapsed)
                done += 1
                if done % SEAL_EVERY == 0:  # the scheduler's sealer, here in line: its cost shared out
                    t1 = time.perf_counter()
                    chain.seal(s)
                    s.commit()
                    sealing_share = (time.perf_counter() - t1) / SEAL_EVERY
                yield elapsed + sealing_share
        finally:
            s.close()
            engine.dispose()


def _second_postgres(url: str) -> tuple[str, str] | None:
    """Two more databases beside ``url`` for the before / records variants (None under BENCH_PG_URL)."""
    import os

    if os.environ.get("BENCH_PG_URL"):
        return None
    import psycopg

    base, _, name = url.rpartition("/")
    made = []
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as c:
        for suffix in ("before", "records"):
            c.execute(f'CREATE DATABASE "{name}_{suffix}"')
            made.append(f"{base}/{name}_{suffix}")
    return made[0], made[1]


def first(times: list[float]) -> float:
    return statistics.median(times[: max(1, len(times) // 10)])


def ratios(engine: list[float], bare: list[float], goal: str) -> str:
    return (
        f"  ratio engine/bare: median {statistics.median(engine) / statistics.median(bare):.2f}×, "
        f"short history (first 10%) {first(engine) / first(bare):.2f}×  (goal {goal})"
    )


def summary(times: list[float]) -> str:
    head, tail = times[: max(1, len(times) // 10)], times[-max(1, len(times) // 10) :]
    return (
        f"median {statistics.median(times) * 1000:6.2f} ms   first-10% {statistics.median(head) * 1000:6.2f} ms"
        f"   last-10% {statistics.median(tail) * 1000:6.2f} ms"
    )


def main() -> None:
    import logging

    logging.disable(logging.WARNING)
    print(f"engine overhead — {N} visit completions of one demo case, same process, steps interleaved\n")
    url = postgres_url()
    with tempfile.TemporaryDirectory() as tmp:
        urls = {
            "sqlite": f"sqlite:///{tmp}/bench.db",
            "sqlite_before": f"sqlite:///{tmp}/before.db",
            "sqlite_records": f"sqlite:///{tmp}/records.db",
        }
        second = _second_postgres(url) if url else None
        if url:
            urls["postgresql"] = url
        if url and second:
            urls["postgresql_before"], urls["postgresql_records"] = second
        runners = {"bare": bare_steps()}
        for name, where in urls.items():
            kind = name.partition("_")[2]
            runners[name] = engine_steps(
                where, () if kind == "before" else ("records",) if kind else FEATURES
            )
        try:
            times: dict[str, list[float]] = {name: [] for name in runners}
            for _ in range(N):  # one step of each in turn, so machine noise hits all alike
                for name, steps in runners.items():
                    times[name].append(next(steps))
        finally:
            for steps in runners.values():
                steps.close()
            if url:
                drop_database(url)
            for extra in second or ():
                drop_database(extra)
    bare = times["bare"]
    print(f"bare SpiffWorkflow load→step→save   {summary(bare)}")
    print(f"engine service, SQLite              {summary(times['sqlite'])}")
    print(ratios(times["sqlite"], bare, "≤ 1.5×"))
    if url:
        print(f"engine service, PostgreSQL          {summary(times['postgresql'])}")
        print(ratios(times["postgresql"], bare, "≤ 2.5×"))
    else:
        print("PostgreSQL not reachable: skipped")
    print("\nstep records (record written vs before, notices off in both):")
    for db_name, label in (("sqlite", "SQLite"), ("postgresql", "PostgreSQL")):
        if f"{db_name}_records" not in times:
            continue
        with_records, before = times[f"{db_name}_records"], times[f"{db_name}_before"]
        print(f"  {label:<11} before   {summary(before)}")
        print(f"  {label:<11} records  {summary(with_records)}")
        print(
            f"  {label:<11} ratio records/before: median "
            f"{statistics.median(with_records) / statistics.median(before):.3f}×, last-10% "
            f"{statistics.median(with_records[-max(1, N // 10) :]) / statistics.median(before[-max(1, N // 10) :]):.3f}×"
            "  (goal ≤ 1.1×)"
        )
        share = statistics.median(RECORD_SHARE[urls[f"{db_name}_records"]])
        print(
            f"  {label:<11} the record's own INSERT (timed inside the completion): median {share * 100:.1f} % "
            f"of a completion → ratio {1 / (1 - share):.3f}×"
        )


if __name__ == "__main__":
    main()
