"""Staff load: 50 street staff working their inboxes for 60 s against gunicorn (2 workers) + PostgreSQL.

Run by hand (not part of ``make test``)::

    .venv/bin/python bench/load_staff.py [users] [seconds]

It creates a throw-away PostgreSQL database (or uses ``BENCH_PG_URL``), migrates and seeds it (reference
org units, the procedures, ``users`` staff of street 310107014: one in five an advisor, the others
street officers who also sit on the review panel, head the street and pay out), starts ``gunicorn -w 2
api.wsgi:app`` on it and runs locust headless with this file as the locustfile. Each simulated staff
member logs in, then loops with a pause of 1–3 s (reading before the next click; logins ramp up over 10 s): advisors start comprehensive-assistance cases
and enter the application; everyone lists the tasks they may claim, opens one's case and the task,
claims it and completes it with that step's form, and now and then looks at their own tasks. A claim
that another staff member won first (409) is a lost race, counted apart and not an error; every other
answer outside 2xx is an error and the run fails unless there are none. At the end the audit hash
chain of the database is verified. Prints throughput, p50/p99 latency and the error count.
"""

from __future__ import annotations

import csv
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STREET = "310107014"
PASSWORD = "bench-password"
PAUSE = (1.0, 3.0)  # a staff member reads before the next click

# the form of every step of comprehensive assistance, the same ones http_throughput.py completes with
sys.path.insert(0, str(ROOT / "bench"))
from http_throughput import STEPS  # noqa: E402

FORMS = dict(STEPS)
ADVISOR_ROLES = ("advisor",)
OFFICER_ROLES = ("street_officer", "review_panel", "street_head", "finance")


def staff_names(n: int) -> list[str]:
    return [f"load_{'advisor' if i % 5 == 0 else 'officer'}_{i:03d}" for i in range(n)]


# --- the locustfile part (imported by locust, in its gevent world) --------------------------------------

if os.environ.get("LOAD_STAFF_LOCUST"):
    import itertools

    from locust import HttpUser, between, events, task

    _NAMES = itertools.cycle(staff_names(int(os.environ["LOAD_STAFF_USERS"])))
    RACES = [0]

    @events.test_stop.add_listener
    def _write_races(**_kwargs: object) -> None:
        Path(os.environ["LOAD_STAFF_RACES"]).write_text(str(RACES[0]))

    class Staff(HttpUser):
        wait_time = between(*PAUSE)

        def on_start(self) -> None:
            self.username = next(_NAMES)
            self.advisor = "_advisor_" in self.username
            with self.client.post(
                "/api/v1/auth/token",
                json={"username": self.username, "password": PASSWORD},
                name="POST /auth/token",
                catch_response=True,
            ) as response:
                if response.status_code != 201:
                    response.failure(f"login {response.status_code}")
                    raise RuntimeError("login failed")
                self.client.headers["Authorization"] = f"Bearer {response.json()['token']}"

        def _ok(self, response, *allowed: int) -> bool:
            if response.status_code in allowed:
                response.success()
                return True
            response.failure(f"{response.status_code}: {response.text[:200]}")
            return False

        @task(1)
        def start_case(self) -> None:
            if not self.advisor:
                return self.work_inbox()
            with self.client.post(
                "/api/v1/process-instances",
                json={"process_key": "comprehensive_assistance", "org_unit": STREET},
                name="POST /process-instances",
                catch_response=True,
            ) as response:
                if not self._ok(response, 201):
                    return None
                (first,) = [t for t in response.json()["open_tasks"] if t["bpmn_id"] == "application"]
            self._complete(first["id"], "application")
            return None

        @task(6)
        def work_inbox(self) -> None:
            with self.client.get(
                "/api/v1/tasks?scope=claimable&per_page=25",
                name="GET /tasks?scope=claimable",
                catch_response=True,
            ) as response:
                if not self._ok(response, 200):
                    return
                items = [t for t in response.json()["items"] if t["bpmn_id"] in FORMS]
            if not items:
                return
            chosen = random.choice(items)
            with self.client.get(
                f"/api/v1/process-instances/{chosen['instance_id']}",
                name="GET /process-instances/[id]",
                catch_response=True,
            ) as response:
                self._ok(response, 200)
            with self.client.get(
                f"/api/v1/tasks/{chosen['id']}", name="GET /tasks/[id]", catch_response=True
            ) as response:
                self._ok(response, 200)
            with self.client.post(
                f"/api/v1/tasks/{chosen['id']}/claim", name="POST /tasks/[id]/claim", catch_response=True
            ) as response:
                if response.status_code == 409:  # someone else was quicker: a lost race, not an error
                    response.success()
                    RACES[0] += 1
                    return
                if not self._ok(response, 200):
                    return
            self._complete(chosen["id"], chosen["bpmn_id"])

        @task(1)
        def my_tasks(self) -> None:
            with self.client.get(
                "/api/v1/tasks?scope=mine", name="GET /tasks?scope=mine", catch_response=True
            ) as r:
                self._ok(r, 200)

        def _complete(self, task_id: int, bpmn_id: str) -> None:
            with self.client.post(
                f"/api/v1/tasks/{task_id}/complete",
                json={"data": FORMS[bpmn_id]},
                name="POST /tasks/[id]/complete",
                catch_response=True,
            ) as response:
                self._ok(response, 200)


# --- the driver ---------------------------------------------------------------------------------------------


def seed(url: str, users: int) -> None:
    import logging

    from flask_migrate import upgrade
    from sqlalchemy.orm import Session

    from api import create_app
    from api.extensions import db
    from engine.definitions import service as definitions
    from engine.orgs import service as orgs
    from engine.users import service as users_service

    logging.disable(logging.WARNING)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        engine = db.engine
    with Session(engine) as s:
        orgs.load_reference(s)
        definitions.sync_dir(s, ROOT / "processes")
        for name in staff_names(users):
            roles = ADVISOR_ROLES if "_advisor_" in name else OFFICER_ROLES
            users_service.create_user(s, name, PASSWORD, grants=[(r, STREET) for r in roles])
        s.commit()
    engine.dispose()


def summary(csv_prefix: str) -> dict[str, dict[str, str]]:
    with open(f"{csv_prefix}_stats.csv", newline="", encoding="utf-8") as f:
        return {f"{r['Type']} {r['Name']}".strip(): r for r in csv.DictReader(f)}


def database_check(url: str) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.orm import Session

    from engine.audit import chain

    engine = create_engine(url)
    try:
        with Session(engine) as s:
            verdict = chain.verify(s)
            done = s.execute(
                text("SELECT count(*) FROM human_task WHERE lower(state) = 'completed'")
            ).scalar()
            cases = s.execute(text("SELECT count(*) FROM process_instance")).scalar()
            paid = s.execute(
                text(
                    "SELECT count(*) FROM human_task WHERE lower(state) = 'completed' AND bpmn_id = 'disbursement'"
                )
            ).scalar()
        return (
            f"database: {cases} cases, {done} tasks completed ({paid} disbursements); audit chain "
            f"{'intact' if verdict.ok else 'BROKEN'} ({verdict.checked} events)"
        )
    finally:
        engine.dispose()


def main() -> int:
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "bench"))
    from common import drop_database, postgres_url
    from http_throughput import gunicorn, rss_mb

    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    users = int(args[0]) if args else 50
    seconds = int(args[1]) if len(args) > 1 else 60
    url = postgres_url()
    if url is None:
        print("PostgreSQL at 127.0.0.1:5432 (user postgres) is needed")
        return 2
    server = None
    try:
        seed(url, users)
        server, port = gunicorn(url, 2)
        with tempfile.TemporaryDirectory() as tmp:
            prefix = f"{tmp}/load"
            env = {**os.environ, "LOAD_STAFF_LOCUST": "1", "LOAD_STAFF_USERS": str(users)}
            env["LOAD_STAFF_RACES"] = races_file = f"{tmp}/races"
            command = [
                *(str(Path(sys.executable).parent / "locust"), "-f", __file__, "--headless"),
                *("-u", str(users), "-r", str(max(1, users // 10)), "-t", f"{seconds}s"),
                *(
                    "--host",
                    f"http://127.0.0.1:{port}",
                    "--csv",
                    prefix,
                    "--only-summary",
                    "--loglevel",
                    "WARNING",
                ),
                "--reset-stats",  # figures from the end of the ramp-up: all staff logged in
            ]
            subprocess.run(command, env=env, cwd=ROOT, check=False, stdout=subprocess.DEVNULL)
            rows = summary(prefix)
            races = int(Path(races_file).read_text()) if Path(races_file).exists() else -1
        memory = rss_mb(server)
        total = rows["Aggregated"]
        requests = int(total["Request Count"])
        failures = int(total["Failure Count"])
        print(f"\nstaff load — {users} staff, {seconds} s, gunicorn 2 sync workers, PostgreSQL")
        print(f"{'request':34} {'count':>7} {'fail':>5} {'p50 ms':>7} {'p99 ms':>7} {'req/s':>7}")
        for name, r in rows.items():
            print(
                f"{name[:34]:34} {r['Request Count']:>7} {r['Failure Count']:>5} {r['50%']:>7} "
                f"{r['99%']:>7} {float(r['Requests/s']):7.1f}"
            )
        completions = rows.get("POST POST /tasks/[id]/complete", {}).get("Request Count", "0")
        print(
            f"\nthroughput {float(total['Requests/s']):.1f} requests/s ({requests} requests, "
            f"{completions} completions after the ramp-up); "
            f"p50 {total['50%']} ms, p99 {total['99%']} ms; errors {failures}; claim races lost (409) {races}; "
            f"worker RSS {', '.join(f'{m:.0f}' for m in memory)} MB"
        )
        print(database_check(url))
        return 0 if failures == 0 else 1
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        drop_database(url)


if __name__ == "__main__":
    sys.exit(main())
