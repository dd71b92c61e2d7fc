"""The audit log is append-only in the database and hash-chained; ``assistflow audit verify`` finds tampering."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from engine.audit import chain
from engine.audit import service as audit
from engine.audit.models import AuditAction, AuditChainHead, AuditEvent
from engine.db import make_engine
from engine.instances.models import ProcessInstance
from tests.audit_bypass import audit_triggers_off
from tests.conftest import DB_URL, IS_POSTGRES
from tests.factories import application_data, complete, start_demo


def _case(session):
    instance = start_demo(session)
    complete(session, "pt_advisor", instance.id, "application", application_data())
    session.commit()
    return instance


def _events(session, instance_id):
    return session.scalars(
        select(AuditEvent).where(AuditEvent.instance_id == instance_id).order_by(AuditEvent.seq)
    ).all()


def _verify(app):
    return app.test_cli_runner().invoke(args=["audit", "verify"])


def test_events_are_sealed_into_one_chain_at_commit(app, session):
    instance = _case(session)
    events = _events(session, instance.id)
    assert len(events) >= 4 and all(e.hash and len(e.hash) == 64 for e in events)
    seqs = [e.seq for e in events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "one transaction's events are consecutive"
    for before, after in zip(events, events[1:], strict=False):
        assert after.prev_hash == before.hash
    head = session.get(AuditChainHead, 1)
    assert (head.seq, head.hash) == (events[-1].seq, events[-1].hash)
    verdict = chain.verify(session)
    assert verdict.ok, verdict
    assert verdict.checked == session.scalar(select(func.count()).select_from(AuditEvent))
    result = _verify(app)
    assert result.exit_code == 0 and "intact" in result.output and head.hash in result.output


def test_rolled_back_events_leave_no_trace_in_the_chain(session):
    head = session.get(AuditChainHead, 1)
    before = (head.seq, head.hash)
    audit.record(session, AuditAction.USER_CREATED, details={"username": "ghost"})
    session.flush()
    session.rollback()
    session.expire_all()
    head = session.get(AuditChainHead, 1)
    assert (head.seq, head.hash) == before
    audit.record(session, AuditAction.USER_CREATED, details={"username": "real"})
    session.commit()
    session.expire_all()
    assert session.get(AuditChainHead, 1).seq == before[0] + 1
    assert chain.verify(session).ok


def test_a_savepoint_release_does_not_seal_only_the_real_commit_does(session):
    """The head is locked once, at the end: a batch of savepoints (the scheduler) holds it briefly."""
    head_before = session.get(AuditChainHead, 1).seq
    with session.begin_nested():
        first = audit.record(session, AuditAction.USER_CREATED, details={"n": 1})
    with pytest.raises(RuntimeError), session.begin_nested():
        audit.record(session, AuditAction.USER_CREATED, details={"n": "rolled back"})
        session.flush()
        raise RuntimeError("this savepoint fails")
    with session.begin_nested():
        last = audit.record(session, AuditAction.USER_CREATED, details={"n": 3})
    session.flush()
    assert first.hash is None and last.hash is None, "not sealed at a savepoint"
    session.commit()
    assert (first.seq, last.seq) == (head_before + 1, head_before + 2)
    assert last.prev_hash == first.hash
    assert chain.verify(session).ok


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_event SET details = '{}' WHERE id = :id",
        "UPDATE audit_event SET action = 'task.claimed' WHERE id = :id",
        "UPDATE audit_event SET hash = :zero WHERE id = :id",
        "DELETE FROM audit_event WHERE id = :id",
    ],
)
def test_the_database_refuses_updates_and_deletes(session, statement):
    instance = _case(session)
    target = _events(session, instance.id)[0]
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(text(statement), {"id": target.id, "zero": chain.GENESIS})
    session.rollback()
    assert chain.verify(session).ok


def test_deleting_an_instance_with_history_is_refused(session):
    instance = _case(session)
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(delete(ProcessInstance).where(ProcessInstance.id == instance.id))
    session.rollback()


@pytest.mark.skipif(not IS_POSTGRES, reason="TRUNCATE exists on PostgreSQL only")
def test_truncate_is_refused(session):
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(text("TRUNCATE audit_event CASCADE"))
    session.rollback()


def _tamper(session, *statements):
    with audit_triggers_off(session):
        for stmt in statements:
            session.execute(stmt)
    session.commit()


def test_verify_names_the_first_changed_event(app, session):
    instance = _case(session)
    events = _events(session, instance.id)
    victim = events[1]
    _tamper(
        session,
        update(AuditEvent).where(AuditEvent.id == victim.id).values(details={"amount_paid": "99999.00"}),
    )
    verdict = chain.verify(session)
    assert (verdict.ok, verdict.broken_id) == (False, victim.id)
    assert "content" in verdict.reason
    result = _verify(app)
    assert result.exit_code == 1 and f"event id {victim.id}" in result.output


def test_verify_finds_a_recomputed_hash_by_the_next_link(session):
    """A forger who also recomputes the changed row's hash breaks the next row's prev_hash."""
    instance = _case(session)
    events = _events(session, instance.id)
    victim = events[1]
    forged = {
        "id": victim.id,
        "at": victim.at,
        "action": victim.action,
        "actor_id": 999,
        "instance_id": victim.instance_id,
        "task_id": victim.task_id,
        "definition_id": victim.definition_id,
        "details": victim.details,
    }
    new_hash = chain.event_hash(forged, victim.seq, victim.prev_hash)
    _tamper(
        session,
        update(AuditEvent).where(AuditEvent.id == victim.id).values(actor_id=None, hash=new_hash),
    )
    verdict = chain.verify(session)
    assert not verdict.ok and verdict.broken_id in (victim.id, events[2].id)


def test_verify_finds_a_removed_event_and_a_removed_tail(session):
    instance = _case(session)
    events = _events(session, instance.id)
    _tamper(session, delete(AuditEvent).where(AuditEvent.id == events[1].id))
    verdict = chain.verify(session)
    assert (verdict.ok, verdict.broken_id) == (False, events[2].id)
    assert "missing" in verdict.reason
    _tamper(session, delete(AuditEvent).where(AuditEvent.id.in_([e.id for e in events])))
    verdict = chain.verify(session)
    assert not verdict.ok and verdict.broken_id is None and "head" in verdict.reason


def test_verify_finds_an_event_slipped_in_unsealed(session):
    _case(session)
    session.execute(insert(AuditEvent).values(action="task.completed", details={"forged": True}))
    session.commit()  # written around the ORM: never sealed
    verdict = chain.verify(session)
    assert not verdict.ok and "not sealed" in verdict.reason


@pytest.mark.postgres_only
@pytest.mark.skipif(not IS_POSTGRES, reason="real concurrent writers need PostgreSQL")
def test_concurrent_writers_never_fork_the_chain(engine, session):
    writers, per_writer = 20, 5
    barrier = threading.Barrier(writers, timeout=30)
    engine = make_engine(DB_URL, poolclass=NullPool)  # one connection per writer, no pool limit
    errors: list[str] = []

    def write(n: int) -> None:
        try:
            with Session(engine) as s:
                for i in range(per_writer):
                    audit.record(s, AuditAction.USER_CREATED, details={"writer": n, "i": i})
                s.flush()
                barrier.wait()
                s.commit()
        except Exception as err:  # reported below
            errors.append(repr(err))

    head_before = session.get(AuditChainHead, 1).seq
    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    engine.dispose()
    assert errors == []
    session.expire_all()
    rows = session.execute(
        select(AuditEvent.seq, AuditEvent.details)
        .where(AuditEvent.seq > head_before)
        .order_by(AuditEvent.seq)
    ).all()
    assert [r.seq for r in rows] == list(range(head_before + 1, head_before + 1 + writers * per_writer))
    by_writer: dict[int, list[int]] = {}
    for r in rows:
        by_writer.setdefault(r.details["writer"], []).append(r.seq)
    assert all(s == list(range(s[0], s[0] + per_writer)) for s in by_writer.values()), "no interleaving"
    verdict = chain.verify(session)
    assert verdict.ok, verdict
    print(f"\nRELIABILITY audit-chain: {writers} concurrent writers x {per_writer} events -> chain intact")


def test_the_migration_seals_existing_events_and_downgrades(tmp_path):
    """Upgrading a database that already has audit events chains them in id order; verify passes."""
    import uuid

    from flask_migrate import downgrade, upgrade

    from api import create_app
    from api.extensions import db

    if IS_POSTGRES:
        import psycopg

        base, _, _name = DB_URL.rpartition("/")
        name = f"assistflow_chain_{uuid.uuid4().hex[:8]}"
        admin = base.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = f"{base}/{name}"
    else:
        url, admin, name = f"sqlite:///{tmp_path}/chain.db", None, None
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    try:
        with app.app_context():
            upgrade(revision="0007_open_task_scope_indexes")
            with db.engine.begin() as conn:
                for i in range(3):
                    conn.execute(
                        text(
                            "INSERT INTO audit_event (at, action, details) "
                            "VALUES (CURRENT_TIMESTAMP, 'user.created', :d)"
                        ),
                        {"d": f'{{"username": "old_{i}", "note": "写于迁移之前"}}'},
                    )
            upgrade()
            with Session(db.engine) as s:
                verdict = chain.verify(s)
                assert verdict.ok and verdict.checked == 3 and verdict.head_seq == 3, verdict
                with pytest.raises(DBAPIError, match="append-only"):
                    s.execute(text("DELETE FROM audit_event"))
            downgrade(revision="0007_open_task_scope_indexes")
            with db.engine.connect() as conn:
                assert conn.execute(text("SELECT count(*) FROM audit_event")).scalar() == 3
                conn.execute(text("DELETE FROM audit_event"))  # no trigger after the downgrade
            db.engine.dispose()
    finally:
        if admin:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_no_code_path_changes_or_removes_audit_events():
    """Only the chain's sealing step writes to existing audit rows; nothing in engine/ or api/ deletes them."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    pattern = re.compile(
        r"(delete|update)\(\s*(AuditEvent|_EVENTS)|session\.delete\(|(DELETE FROM|UPDATE|TRUNCATE)\s+audit_event",
        re.IGNORECASE,
    )
    offenders = []
    for path in [*(root / "engine").rglob("*.py"), *(root / "api").rglob("*.py")]:
        for line in path.read_text(encoding="utf-8").splitlines():
            if pattern.search(line):
                offenders.append(f"{path.relative_to(root)}: {line.strip()}")
    assert offenders == ["engine/audit/chain.py: update(_EVENTS)"], offenders  # the sealing step
