"""Engine overhead: one persisted task completion through the engine service vs the bare library.

Prints, in one run, for SQLite (and PostgreSQL when BENCH_PG_URL or a local server is reachable):

* engine — the full service path per completion: token-less user lookup, instance lock, load state
  (spec from cache), form validation, run, engine steps with pruning, save, human-task projection,
  audit rows, commit; plus its share of sealing the audit hash chain (done by the scheduler after
  commit; here every 10 completions, its time shared over the next 10);
* bare   — SpiffWorkflow alone on the same process and BPMN: deserialize → set data → run →
  do_engine_steps → serialize (its default serializer, spec embedded, no database);

and the ratio engine / bare. Both drive the demo procedure's visit loop, so both also show how the cost
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


def engine_steps(url: str):
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

        instance = instances.start(s, user, "demo_assistance", "310107014")
        s.commit()

        def complete(bpmn_id, data):
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
                t0 = time.perf_counter()
                tasks.complete(s, user, row.id, VISIT)
                s.commit()
                elapsed = time.perf_counter() - t0
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
        runners = {"bare": bare_steps(), "sqlite": engine_steps(f"sqlite:///{tmp}/bench.db")}
        if url:
            runners["postgresql"] = engine_steps(url)
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
    bare = times["bare"]
    print(f"bare SpiffWorkflow load→step→save   {summary(bare)}")
    print(f"engine service, SQLite              {summary(times['sqlite'])}")
    print(ratios(times["sqlite"], bare, "≤ 1.5×"))
    if url:
        print(f"engine service, PostgreSQL          {summary(times['postgresql'])}")
        print(ratios(times["postgresql"], bare, "≤ 2.5×"))
    else:
        print("PostgreSQL not reachable: skipped")


if __name__ == "__main__":
    main()
