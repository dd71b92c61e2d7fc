"""Inbox page benchmark: the staff web app's task inbox with 100,000 open tasks.

Fills a fresh database (SQLite in a temp dir, or DATABASE_URL) with open human tasks spread over the
Putuo streets, then times the inbox pages of a street officer and a district officer (first page,
a later page, a filter) through the Flask test client, logged in with the session cookie.
Usage: .venv/bin/python bench/inbox_web.py [open_tasks]
"""

from __future__ import annotations

import datetime as dt
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

import common  # noqa: E402,F401  (personal-data keys for the app under test)

TASKS = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
PER_INSTANCE = 20
PASSWORD = "bench-password-1"


def main() -> None:
    import logging

    from flask_migrate import upgrade
    from sqlalchemy import insert, select

    from api import create_app
    from api.extensions import db
    from engine.definitions import service as definitions
    from engine.instances.models import ProcessInstance
    from engine.orgs import service as orgs
    from engine.orgs.models import OrgLevel, OrgUnit
    from engine.tasks.models import HumanTask
    from engine.users import service as users

    logging.disable(logging.WARNING)
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{tempfile.mkdtemp()}/inbox.db"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        session = db.session()
        orgs.load_reference(session)
        definitions.sync_dir(session, ROOT / "processes")
        users.create_user(session, "bench_officer", PASSWORD, grants=[("street_officer", "310107014")])
        users.create_user(session, "bench_district", PASSWORD, grants=[("district_officer", "310107")])
        session.commit()
        streets = list(
            session.scalars(
                select(OrgUnit).where(OrgUnit.level == OrgLevel.STREET, OrgUnit.code.like("310107%"))
            )
        )
        definition = definitions.latest(session, "comprehensive_assistance")
        now = dt.datetime.now(dt.UTC)
        started = time.perf_counter()
        for first in range(0, TASKS // PER_INSTANCE, 500):
            instances, tasks = [], []
            for n in range(first, min(first + 500, TASKS // PER_INSTANCE)):
                street = streets[n % len(streets)]
                instances.append(
                    {
                        "id": n + 1,
                        "definition_id": definition.id,
                        "process_key": definition.key,
                        "business_key": f"B-{n:06d}",
                        "org_unit_id": street.id,
                        "district_id": street.district_id,
                        "street_id": street.id,
                        "status": "running",
                        "state": "",
                        "data": {},
                        "version": 1,
                        "started_at": now,
                        "updated_at": now,
                    }
                )
                for k in range(PER_INSTANCE):
                    due = now + dt.timedelta(hours=(n * PER_INSTANCE + k) % 500 - 100)
                    tasks.append(
                        {
                            "instance_id": n + 1,
                            "process_key": definition.key,
                            "spiff_task_id": str(uuid.uuid4()),
                            "bpmn_id": "acceptance",
                            "name": "受理",
                            "candidate_role": "street_officer",
                            "org_unit_id": street.id,
                            "district_id": street.district_id,
                            "street_id": street.id,
                            "state": "ready",
                            "created_at": now,
                            "due_at": due,
                            "warn_at": due - dt.timedelta(days=1),
                            "escalate_at": due + dt.timedelta(days=3),
                            "sla_level": 0,
                        }
                    )
            session.execute(insert(ProcessInstance), instances)
            session.execute(insert(HumanTask), tasks)
            session.commit()
        print(f"{TASKS} open tasks in {len(streets)} streets loaded in {time.perf_counter() - started:.1f} s")

    client = app.test_client()
    for username in ("bench_officer", "bench_district"):
        client.get("/logout")
        page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
        for label, path in (
            ("claimable, page 1", "/?tab=claimable"),
            ("claimable, page 200", "/?tab=claimable&page=200"),
            ("overdue, page 1", "/?tab=overdue"),
            ("claimable, sla=orange", "/?tab=claimable&sla=orange"),
        ):
            times = []
            for _ in range(7):
                t0 = time.perf_counter()
                response = client.get(path)
                times.append((time.perf_counter() - t0) * 1000)
                assert response.status_code == 200, response.status_code
            rows = response.get_data(as_text=True).count('<tr id="task-')
            print(f"{username:15} {label:24} median {statistics.median(times):7.1f} ms  ({rows} rows shown)")
        client.post("/logout", data={"csrf_token": token})


if __name__ == "__main__":
    main()
