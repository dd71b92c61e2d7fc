"""Backup and restore, as docs/RELIABILITY.md describes them, on the database the suite runs on.

SQLite: an online backup (``sqlite3.Connection.backup``) while the app holds the database open, and
``VACUUM INTO`` too. PostgreSQL: ``pg_dump -Fc`` of the test database and ``pg_restore`` into a fresh
throw-away database. Either way the copy is opened by a second app, which must find the case, its tasks,
the same token still valid, and an intact audit hash chain — and go on working on it.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from tests.conftest import DB_URL, IS_POSTGRES
from tests.procedures.helpers import Case

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")  # pg_dump subprocess pipes


def _case_with_history(client, login) -> tuple[Case, dict]:
    """A case two steps in; what its advisor reads of it (detail and audit trail) before the backup."""
    case = Case(client, login)
    case.do("acceptance", "pt_officer", {"accepted": True})
    headers = login("pt_advisor")
    detail = client.get(f"/api/v1/process-instances/{case.id}", headers=headers).json
    events = client.get(f"/api/v1/process-instances/{case.id}/events", headers=headers).json
    assert len(events) >= 3 and detail["open_tasks"]
    return case, {"detail": detail, "events": events}


def _check_restored(url: str, case: Case, before: dict, headers: dict[str, str], audit_head: tuple) -> None:
    """A second app on the restored copy sees the same case and tasks, an intact chain, and works on."""
    from api import create_app
    from api.extensions import db
    from engine.audit import chain
    from engine.definitions import service as definitions

    definitions.SPEC_CACHE.clear()  # as a fresh process on the restored database
    restored = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    try:
        other = restored.test_client()
        detail = other.get(f"/api/v1/process-instances/{case.id}", headers=headers)
        assert detail.status_code == 200, detail.json
        assert detail.json == before["detail"]
        events = other.get(f"/api/v1/process-instances/{case.id}/events", headers=headers)
        assert events.json == before["events"]
        with restored.app_context(), Session(db.engine) as s:
            verdict = chain.verify(s)
            assert verdict.ok, verdict
            assert (verdict.head_seq, verdict.head_hash) == audit_head
        # The copy is a working database: the next step can be done on it, and the chain grows intact.
        (task,) = [t for t in before["detail"]["open_tasks"] if t["bpmn_id"] == "home_investigation"]
        claimed = other.post(f"/api/v1/tasks/{task['id']}/claim", headers=headers)
        assert claimed.status_code == 200, claimed.json
        with restored.app_context(), Session(db.engine) as s:
            verdict = chain.verify(s)
            assert verdict.ok and verdict.head_seq == audit_head[0] + 1, verdict
    finally:
        with restored.app_context():
            db.engine.dispose()
        definitions.SPEC_CACHE.clear()


def _audit_head(engine) -> tuple[int, str]:
    from engine.audit import chain

    with Session(engine) as s:
        verdict = chain.verify(s)
        assert verdict.ok, verdict
        return verdict.head_seq, verdict.head_hash


@pytest.mark.skipif(IS_POSTGRES, reason="SQLite backup: the suite runs on PostgreSQL")
@pytest.mark.parametrize("method", ["backup_api", "vacuum_into"])
def test_sqlite_online_backup_restores_case_tasks_and_audit_chain(client, login, engine, tmp_path, method):
    case, before = _case_with_history(client, login)
    head = _audit_head(engine)
    source = make_url(DB_URL).database
    copy = tmp_path / "backup.db"
    with engine.connect():  # the app keeps its connection open: the backup is online
        src = sqlite3.connect(source)
        try:
            if method == "backup_api":
                dst = sqlite3.connect(copy)
                with dst:
                    src.backup(dst)
                dst.close()
            else:
                src.execute("VACUUM INTO ?", (str(copy),))
        finally:
            src.close()
    restored = tmp_path / "restored.db"  # "restore" = put the backup file where the app expects it
    shutil.copyfile(copy, restored)
    check = sqlite3.connect(restored)
    assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    check.close()
    _check_restored(f"sqlite:///{restored}", case, before, case.login("pt_advisor"), head)


@contextmanager
def _throwaway_database(url) -> Iterator[str]:
    name = f"assistflow_restore_{uuid.uuid4().hex[:10]}"
    psql = [
        "psql",
        "-q",
        "-h",
        url.host or "127.0.0.1",
        "-p",
        str(url.port or 5432),
        "-U",
        url.username or "postgres",
    ]
    subprocess.run([*psql, "-d", "postgres", "-c", f'CREATE DATABASE "{name}"'], check=True)
    try:
        yield name
    finally:
        subprocess.run(
            [*psql, "-d", "postgres", "-c", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], check=True
        )


@pytest.mark.skipif(not IS_POSTGRES, reason="pg_dump / pg_restore: the suite runs on SQLite")
@pytest.mark.skipif(shutil.which("pg_dump") is None, reason="pg_dump is not installed")
def test_postgres_dump_and_restore_into_a_fresh_database(client, login, engine, tmp_path: Path):
    case, before = _case_with_history(client, login)
    head = _audit_head(engine)
    url = make_url(DB_URL)
    where = ["-h", url.host or "127.0.0.1", "-p", str(url.port or 5432), "-U", url.username or "postgres"]
    dump = tmp_path / "assistflow.dump"
    subprocess.run(["pg_dump", *where, "-Fc", "-f", str(dump), url.database], check=True)
    with _throwaway_database(url) as name:
        subprocess.run(
            ["pg_restore", *where, "--no-owner", "--exit-on-error", "-d", name, str(dump)], check=True
        )
        restored = url.set(database=name).render_as_string(hide_password=False)
        _check_restored(restored, case, before, case.login("pt_advisor"), head)
