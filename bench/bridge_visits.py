"""Bridge Plan household: the cost of recording visit 1 and visit N of one household (goal: ratio ≤ 2×).

Drives one district project to its confirmation, which opens two household cases, then records home
visits one by one through the engine service — each a full persisted completion: instance lock, load,
form validation, the double-counting ledger, run, pruning, save, task projection, audit, commit.

Household A first gets visits 1 … N-10. Then A's visits N-9 … N are recorded interleaved with visits
1 … 10 of household B, so machine noise (this is a shared 2-core box) hits both alike; the ratio is the
median of A's last ten over the median of B's first ten. A's whole curve is printed too. SQLite and,
when a server is reachable, PostgreSQL, in one run.

Usage: .venv/bin/python bench/bridge_visits.py [visits]
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
WINDOW = 10
STREET, DISTRICT = "310107014", "310107"


YOUTH = {"youth_age": 18, "youth_education": "secondary_vocational", "youth_intention": "work"}


def visits(url: str) -> tuple[list[float], list[float], int]:
    """(household A's visit times, household B's first visit times, A's state size)."""
    from flask_migrate import upgrade
    from sqlalchemy.orm import Session

    from api import create_app
    from api.extensions import db
    from engine.definitions import service as definitions
    from engine.forms import with_check_digit
    from engine.instances import service as instances
    from engine.orgs import service as orgs
    from engine.tasks import service as tasks
    from engine.users import service as users

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        engine = db.engine
    households = [
        {
            "household_ref": f"BENCH-{n}",
            "head_id_number": with_check_digit(f"9999911990010100{n}"),
            "street": STREET,
        }
        for n in (1, 2)
    ]
    with Session(engine, expire_on_commit=False) as s:
        orgs.load_reference(s)
        definitions.sync_dir(s, ROOT / "processes")
        grants = [("city_officer", "310000"), ("district_officer", DISTRICT), ("agency_lead", DISTRICT)]
        users.create_user(s, "bench", "bench-password", grants=[*grants, ("agency_worker", DISTRICT)])
        s.commit()
        user = users.by_username(s, "bench")

        def complete(instance_id: int, bpmn_id: str, data: dict) -> None:
            row = next(t for t in tasks.open_tasks_of(s, instance_id) if t.bpmn_id == bpmn_id)
            tasks.complete(s, user, row.id, data)
            s.commit()

        project = instances.start(s, user, "bridge_plan_project", DISTRICT)
        s.commit()
        complete(project.id, "city_plan", {"project_year": 2026, "district_allocation": "10000"})
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
            {"category": "comprehensive_services", "purpose": "服务", "payee": "agency", "amount": "9000"}
        ]
        annual = {"households": households, "budget_lines": budget, "fewer_reason": "基准测试：两户"}
        complete(project.id, "annual_list", annual)
        complete(project.id, "district_confirmation", {"decision": "approve", "opinion": "同意"})
        case_a, case_b = s.get(type(project), project.id).data["household_case_ids"]
        needs = {"family_withdraws": False, "pre_test_score": 40}
        needs |= {
            f"need_{k}": "medium" for k in ("economic", "psychological", "medical", "education", "employment")
        }
        plan = {"goals": "完成学业并就业", "methods": ["policy"], "planned_visits": 5}
        for case_id in (case_a, case_b):
            complete(case_id, "needs_assessment", needs)
            complete(case_id, "household_plan", plan)
        visit = {"action": "visit", "happened_on": "2026-07-01", "content": "入户走访"}

        def record(case_id: int) -> float:
            row_id = next(t.id for t in tasks.open_tasks_of(s, case_id) if t.bpmn_id == "case_work")
            s.expunge_all()  # as in a request: nothing carried over in the session
            t0 = time.perf_counter()
            tasks.complete(s, user, row_id, visit)
            s.commit()
            return time.perf_counter() - t0

        times_a = [record(case_a) for _ in range(N - WINDOW)]
        times_b = []
        for _ in range(WINDOW):
            times_b.append(record(case_b))
            times_a.append(record(case_a))
        state_bytes = len(s.get(type(project), case_a).state)
    engine.dispose()
    return times_a, times_b, state_bytes


def report(name: str, result: tuple[list[float], list[float], int]) -> None:
    times_a, times_b, state_bytes = result
    ms = lambda xs: statistics.median(xs) * 1000  # noqa: E731
    curve = "  ".join(f"{i + 1}–{i + 50}: {ms(times_a[i : i + 50]):.2f}" for i in range(0, N - WINDOW, 50))
    print(f"  household A, median ms per 50 visits: {curve}")
    first, last = ms(times_b), ms(times_a[-WINDOW:])
    print(f"  visit 1 (household B, visits 1–{WINDOW}, median): {first:6.2f} ms")
    print(
        f"  visit {N} (household A, visits {N - WINDOW + 1}–{N}, median, interleaved with B): {last:6.2f} ms"
    )
    print(f"  ratio visit {N} / visit 1: {last / first:.2f}×   (goal ≤ 2×)   [{name}]")
    print(f"  household A's workflow state after {N} visits: {state_bytes:,} bytes")


def main() -> None:
    import logging

    logging.disable(logging.WARNING)
    print(f"Bridge Plan household — cost of recording home visits 1 … {N} of one household\n")
    with tempfile.TemporaryDirectory() as tmp:
        print("SQLite")
        report("SQLite", visits(f"sqlite:///{tmp}/bench.db"))
    url = postgres_url()
    if url:
        try:
            print("PostgreSQL")
            report("PostgreSQL", visits(url))
        finally:
            drop_database(url)
    else:
        print("PostgreSQL not reachable: skipped")


if __name__ == "__main__":
    main()
