"""Liveness and readiness (issue 20): each check named; 503 when the database is gone or the schema
behind, "degraded" (200) while the holiday calendar is short of the next 30 days — and ready once it
recovers. Both
databases (a scratch database or file of the test's own, never the session's)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.conftest import DB_URL, IS_POSTGRES, SHANGHAI_TZ, get_user

JUNE = dt.datetime(2026, 6, 10, 9, 0, tzinfo=SHANGHAI_TZ)  # the seeded years cover the next 30 days
DECEMBER = dt.datetime(2026, 12, 15, 9, 0, tzinfo=SHANGHAI_TZ)  # 2027 not entered yet
CHECKS = {"database", "migrations", "keys", "holiday_calendar"}


def _ready(client):
    response = client.get("/api/v1/health/ready")
    body = response.get_json()
    assert set(body["checks"]) == CHECKS, body
    return response.status_code, body


def test_live_answers_without_the_database(client):
    response = client.get("/api/v1/health/live")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_ready_names_each_check(client):
    with time_machine.travel(JUNE, tick=True):
        status, body = _ready(client)
    assert status == 200, body
    assert body["status"] == "ready"
    assert all(check["ok"] for check in body["checks"].values()), body
    assert body["checks"]["migrations"]["detail"]  # the head revision named


def test_ready_is_degraded_until_the_next_year_is_entered(client, session):
    """A short calendar is named but keeps the node in the pool (every node shares it)."""
    from engine.deadlines import calendar, holidays

    with time_machine.travel(DECEMBER, tick=True):
        status, body = _ready(client)
        assert status == 200 and body["status"] == "degraded"
        assert not body["checks"]["holiday_calendar"]["ok"]
        assert "30" in body["checks"]["holiday_calendar"]["detail"]
        assert all(body["checks"][name]["ok"] for name in ("database", "migrations", "keys")), body
        holidays.put_year(
            session,
            get_user(session, "admin"),
            2027,
            [{"date": dt.date(2027, 1, 1), "kind": "holiday", "name": "元旦"}],
        )
        session.commit()
        calendar.invalidate()
        status, body = _ready(client)
    assert status == 200 and body["status"] == "ready", body


@pytest.fixture()
def scratch_url(app, tmp_path):
    """A database of this test's own (dropped and made again by it), and the app restored after it."""
    if IS_POSTGRES:
        url = make_url(DB_URL)
        name = f"{url.database}_ready"
        admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield url.set(database=name).render_as_string(hide_password=False), admin, name
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    else:
        yield f"sqlite:///{tmp_path / 'ready.db'}", None, str(tmp_path / "ready.db")
    # the holiday calendar reads the session app's database again
    from api import _calendar_bind
    from api.extensions import db
    from engine.deadlines import holidays

    with app.app_context():
        holidays.install(_calendar_bind(db.engine))


def test_ready_fails_when_the_database_is_gone_and_recovers(scratch_url):
    from flask_migrate import upgrade

    from api import create_app
    from api.extensions import db

    url, admin, name = scratch_url
    other = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    client = other.test_client()
    with other.app_context():
        upgrade()
    with time_machine.travel(JUNE, tick=True):
        status, body = _ready(client)
        assert status == 200, body

        # the database goes away
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        else:
            with other.app_context():
                db.engine.dispose()  # a restarted process: no connection opened before the loss
            Path(name).rename(f"{name}.away")
            for suffix in ("-wal", "-shm"):
                if os.path.exists(name + suffix):
                    Path(name + suffix).rename(f"{name}{suffix}.away")
            os.mkdir(name)  # not a database any more: SQLite cannot open it
        status, body = _ready(client)
        assert status == 503, body
        assert body["status"] == "not_ready"
        assert not body["checks"]["database"]["ok"] and not body["checks"]["migrations"]["ok"]
        assert body["checks"]["keys"]["ok"]
        assert client.get("/api/v1/health/live").status_code == 200  # alive: a restart would not help

        # and comes back
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            with other.app_context():
                upgrade()
        else:
            os.rmdir(name)
            shutil.move(f"{name}.away", name)
            for suffix in ("-wal", "-shm"):
                if os.path.exists(f"{name}{suffix}.away"):
                    shutil.move(f"{name}{suffix}.away", name + suffix)
        status, body = _ready(client)
        assert status == 200, body
    with other.app_context():
        db.engine.dispose()


def test_ready_fails_when_the_schema_is_behind(scratch_url):
    from flask_migrate import downgrade, upgrade

    from api import create_app
    from api.extensions import db

    url, _admin, _name = scratch_url
    other = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    client = other.test_client()
    with other.app_context():
        upgrade()
        downgrade(revision="-1")
    with time_machine.travel(JUNE, tick=True):
        status, body = _ready(client)
        assert status == 503 and not body["checks"]["migrations"]["ok"], body
        assert body["checks"]["database"]["ok"]
        with other.app_context():
            upgrade()
        assert _ready(client)[0] == 200
    with other.app_context():
        db.engine.dispose()
