"""The Alembic migrations build exactly the schema the models describe, and downgrade cleanly."""

from __future__ import annotations

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
