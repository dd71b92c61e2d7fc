"""PostgreSQL: the application runs as a role that does not own the tables (``assistflow db
grant-app-role``). As that role the app works — cases, sealing, checkpoints, the REST API — but it
cannot change, remove or truncate audit events or links, nor switch their triggers off; an event it
inserts with plain SQL, without the audit key, fails ``verify``."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from api.db_roles import grant_app_role
from engine.audit import chain, checkpoint
from engine.audit.models import AuditEvent
from engine.db import make_engine
from tests.conftest import DB_URL, IS_POSTGRES, PASSWORD
from tests.factories import application_data, complete, start_demo

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(not IS_POSTGRES, reason="database roles and privileges are PostgreSQL's"),
]


@pytest.fixture()
def app_role(app, engine):
    """A fresh non-owner role, prepared by the CLI command; its URL. Dropped afterwards."""
    name = f"assistflow_app_{uuid.uuid4().hex[:8]}"
    result = app.test_cli_runner().invoke(grant_app_role, [name])
    assert result.exit_code == 0, result.output
    assert "audit_event: SELECT/INSERT" in result.output and "audit_seal: SELECT/INSERT" in result.output
    url = re.sub(r"//[^@/]*@", f"//{name}@", DB_URL)
    yield name, url
    with engine.begin() as conn:
        conn.execute(text(f'DROP OWNED BY "{name}"'))
        conn.execute(text(f'DROP ROLE "{name}"'))


@pytest.fixture()
def folder(tmp_path):
    before = checkpoint._directory
    checkpoint.configure(tmp_path)
    yield tmp_path
    checkpoint._directory = before


REFUSED = [
    "UPDATE audit_event SET details = '{}'",
    "UPDATE audit_event SET sig = NULL",
    "DELETE FROM audit_event",
    "TRUNCATE audit_event CASCADE",
    "UPDATE audit_seal SET hash = hash",
    "DELETE FROM audit_seal",
    "TRUNCATE audit_seal CASCADE",
    "UPDATE audit_signing SET legacy_max_id = 1000000000",
    "ALTER TABLE audit_event DISABLE TRIGGER USER",
    "ALTER TABLE audit_seal DISABLE TRIGGER ALL",
    "ALTER TABLE audit_signing DISABLE TRIGGER USER",
    "DROP TRIGGER audit_event_append_only ON audit_event",
    "SET session_replication_role = replica",  # what let a superuser delete with triggers skipped
]


def test_the_app_works_as_the_non_owner_role_and_cannot_touch_the_audit_log(app, session, app_role, folder):
    name, url = app_role
    role_engine = make_engine(url, poolclass=NullPool)
    try:
        with Session(role_engine) as s:
            assert s.execute(text("SELECT current_user")).scalar() == name
            instance = start_demo(s)
            complete(s, "pt_advisor", instance.id, "application", application_data())
            instance_id = instance.id
            s.commit()
        factory = sessionmaker(bind=role_engine)
        assert chain.seal_all(factory) >= 4
        assert checkpoint.write_all(factory, folder=folder) is not None
        with Session(role_engine) as s:
            assert checkpoint.verify(s).ok
            target = s.scalar(select(AuditEvent.id).where(AuditEvent.instance_id == instance_id).limit(1))
        for statement in REFUSED:
            with Session(role_engine) as s, pytest.raises(DBAPIError) as refused:
                s.execute(text(statement))
            assert re.search(r"permission denied|must be owner", str(refused.value)), statement
        with Session(role_engine) as s:  # the forgery of the report: an invented payment
            forged = s.execute(
                insert(AuditEvent)
                .values(action="task.completed", instance_id=instance_id, details={"amount_paid": "99999.00"})
                .returning(AuditEvent.id)
            ).scalar_one()
            s.commit()
        assert chain.seal_all(factory) == 1, "the role's insert is queued and sealed like any event"
        with Session(role_engine) as s:
            verdict = checkpoint.verify(s)
        assert (verdict.ok, verdict.broken_id) == (False, forged) and "no signature" in verdict.reason
        assert target is not None
    finally:
        role_engine.dispose()


def test_the_rest_api_runs_as_the_non_owner_role(app, app_role):
    from api import create_app
    from api.extensions import db

    _name, url = app_role
    role_app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    try:
        client = role_app.test_client()
        response = client.post("/api/v1/auth/token", json={"username": "pt_advisor", "password": PASSWORD})
        assert response.status_code == 201, response.json
        headers = {"Authorization": f"Bearer {response.json['token']}"}
        response = client.get("/api/v1/tasks?scope=claimable", headers=headers)
        assert response.status_code == 200, response.json
    finally:
        with role_app.app_context():
            db.engine.dispose()


def test_grant_app_role_refuses_a_superuser(app):
    result = app.test_cli_runner().invoke(grant_app_role, ["postgres"])
    assert result.exit_code != 0 and "superuser" in result.output
