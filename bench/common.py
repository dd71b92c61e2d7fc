"""What every benchmark shares: the throw-away PostgreSQL database, and the personal-data keys.

Importing this module gives the benchmark (and the gunicorn and scheduler processes it starts, which
inherit the environment) a fresh pair of data keys when none are configured: the app refuses to run
against a configured database without them, and benchmark data is thrown away with its keys.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def ensure_keys() -> None:
    if not os.environ.get("ASSISTFLOW_AUDIT_KEYS"):
        from engine.audit import signing

        os.environ["ASSISTFLOW_AUDIT_KEYS"] = signing.generate()
    if not os.environ.get("ASSISTFLOW_SECRET_KEY"):  # the session secret, required likewise
        import secrets

        os.environ["ASSISTFLOW_SECRET_KEY"] = secrets.token_urlsafe(48)
    if os.environ.get("ASSISTFLOW_DATA_KEYS") and os.environ.get("ASSISTFLOW_INDEX_KEY"):
        return
    from engine import crypto

    data_key, index_key = crypto.generate()
    os.environ["ASSISTFLOW_DATA_KEYS"], os.environ["ASSISTFLOW_INDEX_KEY"] = data_key, index_key


ensure_keys()


def machine_reference() -> float:
    """Milliseconds of CPU for a fixed piece of pure-Python work (the best of five): a yardstick printed
    beside a benchmark's figures, so runs on VMs of different speed can be told apart. The work is the
    kind a request does: building, encoding and decoding a nested record, sorting and dictionary
    look-ups. About 10 ms on the VM of 2026-12-05."""
    import json
    import time

    record = {
        "steps": [
            {"id": i, "name": f"step {i}", "data": {"amount": i * 1.5, "ok": i % 2 == 0}} for i in range(40)
        ]
    }
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        for _ in range(60):
            copy = json.loads(json.dumps(record))
            index = {step["name"]: step for step in copy["steps"]}
            sorted(index.values(), key=lambda step: (-step["data"]["amount"], step["id"]))
            sum(1 for name in index if isinstance(index[name]["data"]["ok"], bool))
        best = min(best, time.process_time() - start)
    return best * 1000


def postgres_url() -> str | None:
    url = os.environ.get("BENCH_PG_URL")
    if url:
        return url
    try:
        import psycopg

        with psycopg.connect(
            "host=127.0.0.1 user=postgres dbname=postgres", autocommit=True, connect_timeout=2
        ) as c:
            name = f"assistflow_bench_{os.getpid()}"
            c.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    except Exception:
        return None


def drop_database(url: str) -> None:
    if os.environ.get("BENCH_PG_URL"):
        return  # not ours to drop
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrated(url: str, users: list[tuple[str, list[tuple[str, str]]]], password: str):
    """A database at ``url`` migrated to head, with the reference org units, the shipped procedures and
    the benchmark's ``users`` ((username, grants) pairs); (engine, session factory)."""
    import logging

    from flask_migrate import upgrade
    from sqlalchemy.orm import sessionmaker

    from api import create_app
    from api.extensions import db
    from engine import formstore
    from engine.definitions import service as definitions
    from engine.orgs import service as orgs
    from engine.users import service as users_service

    logging.disable(logging.WARNING)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        engine = db.engine
    formstore.configure(str(ROOT / "forms"))
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    with factory() as s:
        orgs.load_reference(s)
        definitions.sync_dir(s, ROOT / "processes")
        for username, grants in users:
            users_service.create_user(s, username, password, grants=grants)
        s.commit()
    return engine, factory
