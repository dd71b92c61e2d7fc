"""Load with faults (PostgreSQL): concurrent clients work cases to the end while their database
connections are killed under them; retried requests (with Idempotency-Key) lose and double nothing.

Each client drives one demo case through its four steps over the real WSGI stack. A killer thread
terminates every other connection to the database several times during the run. A killed request
answers 503 (its transaction is gone whole) and the client retries the same request with the same
key. At the end every case is complete, each step was applied exactly once, the disbursements add up,
and the audit chain verifies.
"""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from api.extensions import db
from engine.audit import chain
from engine.audit.models import AuditEvent
from engine.instances.models import InstanceStatus, ProcessInstance
from tests.conftest import IS_POSTGRES, report
from tests.factories import application_data, disbursement_data, review_data, visit_data

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(not IS_POSTGRES, reason="killing connections under load needs PostgreSQL"),
]
CLIENTS = 12
KILL_ROUNDS = 6
STEPS = [
    ("application", "pt_advisor", application_data()),
    ("review", "pt_officer", review_data()),
    ("visit", "pt_advisor", visit_data(more=False)),
    ("disbursement", "pt_finance", disbursement_data()),
]


def test_cases_finish_with_nothing_lost_or_doubled_while_connections_are_killed(app, client, login):
    tokens = {name: login(name) for name in ("pt_advisor", "pt_officer", "pt_finance", "pt_head")}
    ids = []
    for _ in range(CLIENTS):
        response = client.post(
            "/api/v1/process-instances",
            json={"process_key": "demo_assistance", "org_unit": "310107014"},
            headers=tokens["pt_advisor"],
        )
        assert response.status_code == 201
        ids.append(response.json["id"])
    db.session.remove()

    stats = {"requests": 0, "503": 0, "replayed": 0, "other": []}
    lock = threading.Lock()
    done = threading.Event()

    def call(c, method, url, **kwargs):
        for _attempt in range(50):
            response = c.open(url, method=method, **kwargs)
            with lock:
                stats["requests"] += 1
                if response.status_code == 503:
                    stats["503"] += 1
                if response.headers.get("Idempotent-Replayed"):
                    stats["replayed"] += 1
            if response.status_code != 503:
                return response
            time.sleep(0.01)
        raise AssertionError(f"{method} {url} still 503 after 50 tries")

    def work(instance_id: int) -> None:
        try:
            with app.app_context():
                c = app.test_client()
                for bpmn_id, username, data in STEPS:
                    detail = call(
                        c, "GET", f"/api/v1/process-instances/{instance_id}", headers=tokens["pt_head"]
                    )
                    assert detail.status_code == 200, detail.json
                    task = next(t for t in detail.json["open_tasks"] if t["bpmn_id"] == bpmn_id)
                    response = call(
                        c,
                        "POST",
                        f"/api/v1/tasks/{task['id']}/complete",
                        json={"data": data},
                        headers={**tokens[username], "Idempotency-Key": f"case-{instance_id}-{bpmn_id}"},
                    )
                    assert response.status_code == 200, (bpmn_id, response.status_code, response.json)
        except Exception as err:  # reported below
            with lock:
                stats["other"].append(f"{instance_id}: {err!r}")

    killed = []

    engine = db.engine

    def killer() -> None:
        """Terminate the backends that are inside a request (a statement running or a transaction
        open), round after round, until KILL_ROUNDS rounds killed something and a client saw a 503."""
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            while not done.is_set():
                with lock:
                    enough = len([n for n in killed if n]) >= KILL_ROUNDS and stats["503"] > 0
                if enough:
                    break
                n = conn.execute(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                        "AND backend_type = 'client backend' "
                        "AND state IN ('active', 'idle in transaction')"
                    )
                ).scalar()
                killed.append(n)
                done.wait(0.1 if n else 0.005)

    started = time.monotonic()
    workers = [threading.Thread(target=work, args=(i,)) for i in ids]
    kill_thread = threading.Thread(target=killer)
    kill_thread.start()
    for t in workers:
        t.start()
    for t in workers:
        t.join(120)
    done.set()
    kill_thread.join(30)
    elapsed = time.monotonic() - started
    assert stats["other"] == []
    # the faults happened: connections were killed in the middle of requests, and clients saw 503s
    assert len([n for n in killed if n]) >= 1 and sum(killed) >= 1, killed
    assert stats["503"] >= 1, stats

    db.engine.dispose()  # the pool's connections were killed too
    with Session(db.engine) as s:
        rows = s.scalars(select(ProcessInstance).where(ProcessInstance.id.in_(ids))).all()
        assert [r.status for r in rows] == [InstanceStatus.COMPLETED] * CLIENTS
        completed = s.execute(
            select(AuditEvent.instance_id, AuditEvent.details).where(
                AuditEvent.instance_id.in_(ids), AuditEvent.action == "task.completed"
            )
        ).all()
        per_case: dict[int, list[str]] = {}
        paid = Decimal("0")
        for instance_id, details in completed:
            per_case.setdefault(instance_id, []).append(details["bpmn_id"])
            if details["bpmn_id"] == "disbursement":
                paid += Decimal(details["data"]["amount_paid"])
        assert all(sorted(steps) == sorted(b for b, _u, _d in STEPS) for steps in per_case.values()), per_case
        assert len(per_case) == CLIENTS
        assert paid == Decimal(disbursement_data()["amount_paid"]) * CLIENTS, "each payment once"
        verdict = chain.verify(s)
        assert verdict.ok, verdict
    report(
        f"RELIABILITY load+faults: {CLIENTS} clients, {stats['requests']} requests in {elapsed:.1f}s, "
        f"{len([n for n in killed if n])} kill rounds ({sum(killed)} connections killed mid-request), {stats['503']} answered 503 and retried, "
        f"{stats['replayed']} replayed by idempotency key, {CLIENTS * len(STEPS)} steps applied once each, "
        f"lost 0, doubled 0"
    )
