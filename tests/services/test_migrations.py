"""The Alembic migrations build exactly the schema the models describe, and downgrade cleanly."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import engine.models as models


def test_migrated_schema_matches_the_models(engine):
    with engine.connect() as connection:
        diff = compare_metadata(
            MigrationContext.configure(connection, opts={"compare_type": True}), models.Base.metadata
        )
    assert diff == []


def test_upgrade_downgrade_upgrade_on_an_empty_database(tmp_path):
    """Every migration's downgrade works: head → base leaves no tables, and head again is whole."""
    import uuid

    from flask_migrate import downgrade, upgrade
    from sqlalchemy import inspect

    from api import create_app
    from api.extensions import db
    from tests.conftest import DB_URL, IS_POSTGRES

    if IS_POSTGRES:
        import psycopg

        base, _, _name = DB_URL.rpartition("/")
        name = f"assistflow_migr_{uuid.uuid4().hex[:8]}"
        admin = base.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = f"{base}/{name}"
    else:
        url, admin, name = f"sqlite:///{tmp_path}/migrations.db", None, None
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    try:
        with app.app_context():
            upgrade()
            assert "human_task" in inspect(db.engine).get_table_names()
            downgrade(revision="base")
            assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
            upgrade()
            assert {"start_schedule", "notification", "near_relative_filing"} <= set(
                inspect(db.engine).get_table_names()
            )
            db.engine.dispose()
    finally:
        if admin:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def fresh_database_url(tmp_path):
    """The URL of a new, empty database (SQLite file or a PostgreSQL database dropped afterwards)."""
    import uuid

    from tests.conftest import DB_URL, IS_POSTGRES

    if not IS_POSTGRES:
        yield f"sqlite:///{tmp_path}/migrations.db"
        return
    import psycopg

    base, _, _name = DB_URL.rpartition("/")
    name = f"assistflow_migr_{uuid.uuid4().hex[:8]}"
    admin = base.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _events_table():
    return sa.table(
        "audit_event",
        *(sa.column(c, sa.Integer()) for c in ("id", "actor_id", "instance_id", "task_id", "definition_id")),
        sa.column("at", sa.DateTime(timezone=True)),
        sa.column("action", sa.String()),
        sa.column("details", sa.JSON()),
        sa.column("seq", sa.Integer()),
        sa.column("prev_hash", sa.String()),
        sa.column("hash", sa.String()),
    )


def _events(connection):
    events = _events_table()
    return events, connection.execute(sa.select(events).order_by(events.c.id)).mappings().all()


def _assert_chain_verifies_with_the_engine(connection):
    """Every sealed row's hash is what today's engine computes: `assistflow audit verify` accepts it."""
    from engine.audit.chain import GENESIS, event_hash

    _, rows = _events(connection)
    prev = GENESIS
    for seq, row in enumerate(rows, start=1):
        assert (row["seq"], row["prev_hash"]) == (seq, prev)
        assert row["hash"] == event_hash(row, seq, prev)
        prev = row["hash"]
    head = connection.execute(sa.text("SELECT seq, hash FROM audit_chain_head WHERE id = 1")).one()
    assert tuple(head) == (len(rows), prev)
    return rows


def test_0008_and_0011_rewrite_existing_rows_so_todays_engine_reads_them(fresh_database_url):
    """0008 seals rows written before it and 0011 encrypts personal values and re-seals, each with its
    own frozen copy of the hash and the cipher: the result must still verify and decrypt with the engine."""
    import datetime as dt

    from flask_migrate import downgrade, upgrade

    from api import create_app
    from api.extensions import db
    from engine import crypto

    phone = "13900000000"
    app = create_app({"SQLALCHEMY_DATABASE_URI": fresh_database_url})
    with app.app_context():
        upgrade(revision="0007_open_task_scope_indexes")
        events = _events_table()
        at = dt.datetime(2026, 11, 20, 8, 30, 15, 123456, tzinfo=dt.UTC)
        if db.engine.dialect.name == "sqlite":
            at = at.replace(tzinfo=None)  # as the app's UTCDateTime stores it there
        with db.engine.begin() as connection:
            connection.execute(
                events.insert(),
                [
                    {"at": at, "action": "case_started", "details": {"applicant_phone": phone, "note": "甲"}},
                    {"at": at + dt.timedelta(seconds=1), "action": "task_completed", "details": {"n": 1}},
                ],
            )

        upgrade(revision="0008_audit_chain_and_lockout")
        with db.engine.connect() as connection:
            rows = _assert_chain_verifies_with_the_engine(connection)
        assert rows[0]["details"] == {"applicant_phone": phone, "note": "甲"}

        upgrade(revision="0011_personal_data_encrypted")
        with db.engine.connect() as connection:
            rows = _assert_chain_verifies_with_the_engine(connection)
        stored = rows[0]["details"]["applicant_phone"]
        assert stored.startswith("enc1:") and phone not in str(rows[0]["details"])
        assert crypto.keyring().decrypt(stored) == phone
        assert rows[0]["details"]["note"] == "甲" and rows[1]["details"] == {"n": 1}

        downgrade(revision="0010_form_versions")
        with db.engine.connect() as connection:
            rows = _assert_chain_verifies_with_the_engine(connection)
        assert rows[0]["details"] == {"applicant_phone": phone, "note": "甲"}
        db.engine.dispose()


def test_0011_downgrade_opens_state_the_engine_wrote_compressed_after_it():
    """Workflow state written after 0011 is compressed (``encz1:``); 0011's downgrade must still open it."""
    import importlib.util
    import os
    from pathlib import Path

    from engine import crypto

    path = Path(__file__).parents[2] / "migrations" / "versions" / "0011_personal_data_encrypted.py"
    spec = importlib.util.spec_from_file_location("_m0011", path)
    assert spec and spec.loader
    m0011 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m0011)
    ring = m0011._Keyring(os.environ["ASSISTFLOW_DATA_KEYS"], os.environ["ASSISTFLOW_INDEX_KEY"])
    engine_ring = crypto.Keyring(
        os.environ["ASSISTFLOW_DATA_KEYS"].split(","), os.environ["ASSISTFLOW_INDEX_KEY"]
    )
    state = '{"tasks": {"a": "申请"}}'
    assert ring.decrypt(engine_ring.encrypt(state, compress=True)) == state
    assert engine_ring.decrypt(ring.encrypt(state)) == state  # what 0011 writes, today's engine reads
    assert ring.blind_index(" 11010119900307001x ") == engine_ring.blind_index("11010119900307001X")
