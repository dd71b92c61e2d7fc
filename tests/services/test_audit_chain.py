"""The audit log is append-only in the database and hash-chained beside the events; ``assistflow audit
verify`` finds tampering."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from engine.audit import chain, signing
from engine.audit import service as audit
from engine.audit.models import AuditAction, AuditChainHead, AuditEvent, AuditPending, AuditSeal
from engine.db import make_engine
from engine.instances.models import ProcessInstance
from tests.audit_bypass import audit_triggers_off, legacy_chain_ok
from tests.conftest import DB_URL, IS_POSTGRES
from tests.factories import application_data, complete, start_demo


def _case(session, *, sealed=True):
    instance = start_demo(session)
    complete(session, "pt_advisor", instance.id, "application", application_data())
    session.commit()
    if sealed:  # what the scheduler's sealer does within a second
        chain.seal(session)
        session.commit()
        session.expire_all()
    return instance


def _events(session, instance_id):
    return session.scalars(
        select(AuditEvent).where(AuditEvent.instance_id == instance_id).order_by(AuditEvent.id)
    ).all()


def _links(session, instance_id):
    """The case's events with their chain links, in chain order."""
    return session.execute(
        select(AuditEvent, AuditSeal)
        .join(AuditSeal, AuditSeal.event_id == AuditEvent.id)
        .where(AuditEvent.instance_id == instance_id)
        .order_by(AuditSeal.seq)
    ).all()


def _previous_hash(session, seq):
    return session.scalar(select(AuditSeal.hash).where(AuditSeal.seq == seq - 1)) or chain.GENESIS


def _verify(app):
    return app.test_cli_runner().invoke(args=["audit", "verify"])


def test_events_commit_unsealed_and_the_sealer_chains_them(app, session):
    head_before = session.get(AuditChainHead, 1).seq
    instance = _case(session, sealed=False)
    events = _events(session, instance.id)
    assert len(events) >= 4 and _links(session, instance.id) == []
    queued = set(session.scalars(select(AuditPending.event_id)))
    assert {e.id for e in events} <= queued, "the insert trigger queued every event for the sealer"
    assert session.get(AuditChainHead, 1).seq == head_before, "writers do not touch the chain head"
    assert chain.pending(session) == len(queued)
    sealed = chain.seal(session)
    session.commit()
    session.expire_all()
    assert sealed == len(queued) and chain.pending(session) == 0
    links = _links(session, instance.id)
    assert [e.id for e, _ in links] == [e.id for e in events], "one batch is sealed in id order"
    seqs = [link.seq for _, link in links]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    prev = _previous_hash(session, seqs[0])
    for event, link in links:
        fields = {c: getattr(event, c) for c in ("id", "at", "action", "actor_id", "instance_id", "task_id")}
        stored = session.execute(select(*chain._FIELDS).where(AuditEvent.id == event.id)).mappings().one()
        assert fields.items() <= dict(stored).items()
        assert link.hash == chain.event_hash(stored, link.seq, prev), "each hash covers the one before"
        prev = link.hash
    head = session.get(AuditChainHead, 1)
    assert (head.seq, head.hash) == (links[-1][1].seq, links[-1][1].hash)
    assert chain.seal(session) == 0, "nothing left: the sealer returns without the head lock"
    verdict = chain.verify(session)
    assert verdict.ok, verdict
    assert verdict.checked == session.scalar(select(func.count()).select_from(AuditEvent))
    result = _verify(app)
    assert result.exit_code == 0 and "intact" in result.output and head.hash in result.output


def test_verify_and_the_cli_seal_what_is_pending_first(app, session):
    _case(session, sealed=False)
    assert chain.pending(session) > 0
    result = app.test_cli_runner().invoke(args=["audit", "seal"])
    assert result.exit_code == 0 and "sealed" in result.output, result.output
    session.expire_all()
    assert chain.pending(session) == 0
    _case(session, sealed=False)
    verdict = chain.verify(session)  # seals in the caller's transaction, then walks the chain
    assert verdict.ok and chain.pending(session) == 0


def test_the_scheduler_job_seals_new_events(engine, session):
    from sqlalchemy.orm import sessionmaker

    from engine.deadlines import scheduler

    _case(session, sealed=False)
    waiting = chain.pending(session)
    assert waiting > 0
    assert scheduler.seal_audit(sessionmaker(bind=session.get_bind())) == waiting
    session.expire_all()
    assert chain.pending(session) == 0 and chain.verify(session, seal_first=False).ok


def test_rolled_back_events_leave_no_trace_in_the_chain(session):
    _case(session)
    head = session.get(AuditChainHead, 1)
    before = (head.seq, head.hash)
    audit.record(session, AuditAction.USER_CREATED, details={"username": "ghost"})
    session.flush()
    session.rollback()
    assert chain.seal(session) == 0
    session.expire_all()
    head = session.get(AuditChainHead, 1)
    assert (head.seq, head.hash) == before
    audit.record(session, AuditAction.USER_CREATED, details={"username": "real"})
    session.commit()
    assert chain.seal(session) == 1
    session.commit()
    session.expire_all()
    assert session.get(AuditChainHead, 1).seq == before[0] + 1
    assert chain.verify(session).ok


def test_a_rolled_back_savepoint_leaves_a_gap_in_ids_not_in_the_chain(session):
    _case(session)
    head_before = session.get(AuditChainHead, 1).seq
    with session.begin_nested():
        first = audit.record(session, AuditAction.USER_CREATED, details={"n": 1})
    with pytest.raises(RuntimeError), session.begin_nested():
        audit.record(session, AuditAction.USER_CREATED, details={"n": "rolled back"})
        session.flush()
        raise RuntimeError("this savepoint fails")
    with session.begin_nested():
        last = audit.record(session, AuditAction.USER_CREATED, details={"n": 3})
    session.commit()
    assert chain.seal(session) == 2
    session.commit()
    links = session.scalars(
        select(AuditSeal).where(AuditSeal.seq > head_before).order_by(AuditSeal.seq)
    ).all()
    assert [(link.seq, link.event_id) for link in links] == [
        (head_before + 1, first.id),
        (head_before + 2, last.id),
    ]
    assert chain.verify(session).ok


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_event SET details = '{}' WHERE id = :id",
        "UPDATE audit_event SET action = 'task.claimed' WHERE id = :id",
        "UPDATE audit_event SET actor_id = NULL WHERE id = :id",
        "DELETE FROM audit_event WHERE id = :id",
        "UPDATE audit_seal SET hash = :zero WHERE event_id = :id",
        "UPDATE audit_seal SET seq = seq + 1000000 WHERE event_id = :id",
        "DELETE FROM audit_seal WHERE event_id = :id",
    ],
)
def test_the_database_refuses_updates_and_deletes(session, statement):
    instance = _case(session)
    target = _events(session, instance.id)[0]
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(text(statement), {"id": target.id, "zero": chain.GENESIS})
    session.rollback()
    assert chain.verify(session).ok


def test_an_event_cannot_be_changed_before_it_is_sealed_either(session):
    instance = _case(session, sealed=False)
    target = _events(session, instance.id)[0]
    assert session.scalar(select(AuditPending.event_id).where(AuditPending.event_id == target.id))
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(text("UPDATE audit_event SET details = '{}' WHERE id = :id"), {"id": target.id})
    session.rollback()
    assert chain.verify(session).ok


def test_an_event_is_chained_once(session):
    """The link's event is unique: a second link for a sealed event is refused by the database."""
    instance = _case(session)
    target = _events(session, instance.id)[0]
    head = session.get(AuditChainHead, 1)
    with pytest.raises(DBAPIError):
        session.execute(insert(AuditSeal).values(seq=head.seq + 1, event_id=target.id, hash=chain.GENESIS))
    session.rollback()


def test_deleting_an_instance_with_history_is_refused(session):
    instance = _case(session)
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(delete(ProcessInstance).where(ProcessInstance.id == instance.id))
    session.rollback()


@pytest.mark.skipif(not IS_POSTGRES, reason="TRUNCATE exists on PostgreSQL only")
@pytest.mark.parametrize("table", ["audit_event", "audit_seal"])
def test_truncate_is_refused(session, table):
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(text(f"TRUNCATE {table} CASCADE"))
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
    """A forger who also recomputes the changed event's link breaks the next link, which covers it (even
    one holding the audit key, who re-signs the event: see tests/services/test_audit_signatures.py for
    what the signature and the checkpoints add)."""
    instance = _case(session)
    events = _events(session, instance.id)
    victim = events[1]
    link = session.scalars(select(AuditSeal).where(AuditSeal.event_id == victim.id)).one()
    forged = {
        "id": victim.id,
        "at": victim.at,
        "action": victim.action,
        "actor_id": None,
        "instance_id": victim.instance_id,
        "task_id": victim.task_id,
        "definition_id": victim.definition_id,
        "details": victim.details,
    }
    new_hash = chain.event_hash(forged, link.seq, _previous_hash(session, link.seq))
    signature = {k: v for k, v in signing.sign(forged).items() if k.startswith("sig")}
    _tamper(
        session,
        update(AuditEvent).where(AuditEvent.id == victim.id).values(actor_id=None, **signature),
        update(AuditSeal).where(AuditSeal.seq == link.seq).values(hash=new_hash),
    )
    verdict = chain.verify(session)
    assert (verdict.ok, verdict.broken_id) == (False, events[2].id), verdict


def test_verify_finds_a_removed_event_and_a_removed_tail(session):
    instance = _case(session)
    events = _events(session, instance.id)
    ids = [e.id for e in events]
    _tamper(  # the link references its event: removing an event means removing its link first
        session,
        delete(AuditSeal).where(AuditSeal.event_id == ids[1]),
        delete(AuditEvent).where(AuditEvent.id == ids[1]),
    )
    verdict = chain.verify(session)
    assert (verdict.ok, verdict.broken_id) == (False, ids[2]) and "missing" in verdict.reason, verdict
    _tamper(
        session,
        delete(AuditSeal).where(AuditSeal.event_id.in_(ids)),
        delete(AuditEvent).where(AuditEvent.id.in_(ids)),
    )
    verdict = chain.verify(session)
    assert not verdict.ok and verdict.broken_id is None and "head" in verdict.reason


def test_verify_finds_a_removed_link(session):
    instance = _case(session)
    events = _events(session, instance.id)
    _tamper(session, delete(AuditSeal).where(AuditSeal.event_id == events[1].id))
    verdict = chain.verify(session)
    assert (verdict.ok, verdict.broken_id) == (False, events[2].id) and "missing" in verdict.reason, verdict


def test_verify_finds_an_event_outside_the_chain(session):
    """An event written around the queue (triggers off) and never chained is named by verify."""
    _case(session)
    head = session.get(AuditChainHead, 1)
    stray = {"id": 10**9, "at": head_at(session), "action": "task.completed", "details": {"forged": True}}
    _tamper(session, insert(AuditEvent).values(**stray))
    assert chain.pending(session) == 0
    verdict = chain.verify(session)
    assert (verdict.ok, verdict.broken_id) == (False, 10**9) and "neither" in verdict.reason, verdict
    assert verdict.head_seq == head.seq


def test_verify_finds_an_event_slipped_in_past_the_head(session):
    """A row written around the app with a well-formed link (and, here, a valid signature: a forger with
    the audit key) but no head move is found at the head."""
    _case(session)
    head = session.get(AuditChainHead, 1)
    row = {
        "id": 10**9,
        "at": head_at(session),
        "action": "task.completed",
        "actor_id": None,
        "instance_id": None,
        "task_id": None,
        "definition_id": None,
        "details": {"forged": True},
    }
    digest = chain.event_hash(row, head.seq + 1, head.hash)
    _tamper(
        session,
        insert(AuditEvent).values(**signing.sign(row)),
        insert(AuditSeal).values(seq=head.seq + 1, event_id=row["id"], hash=digest),
    )
    verdict = chain.verify(session)
    assert not verdict.ok and verdict.broken_id is None and "head" in verdict.reason


def head_at(session):
    return session.scalar(select(func.max(AuditEvent.at)))


@pytest.mark.postgres_only
@pytest.mark.skipif(not IS_POSTGRES, reason="real concurrent writers need PostgreSQL")
def test_concurrent_writers_and_sealers_never_fork_the_chain(engine, session):
    writers, per_writer, sealers = 20, 5, 3
    barrier = threading.Barrier(writers + sealers, timeout=30)
    engine = make_engine(DB_URL, poolclass=NullPool)  # one connection per thread, no pool limit
    errors: list[str] = []
    sealed: list[int] = []

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

    def seal() -> None:
        try:
            barrier.wait()
            for _ in range(20):  # sealing while the writers commit, taking turns on the head
                with Session(engine) as s:
                    sealed.append(chain.seal(s))
                    s.commit()
        except Exception as err:  # reported below
            errors.append(repr(err))

    head_before = session.get(AuditChainHead, 1).seq
    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    threads += [threading.Thread(target=seal) for _ in range(sealers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    with Session(engine) as s:
        sealed.append(chain.seal(s))
        s.commit()
    engine.dispose()
    assert sum(sealed) == writers * per_writer, "each event sealed exactly once"
    session.expire_all()
    rows = session.execute(
        select(AuditSeal.seq, AuditEvent.details)
        .join(AuditEvent, AuditEvent.id == AuditSeal.event_id)
        .where(AuditSeal.seq > head_before)
        .order_by(AuditSeal.seq)
    ).all()
    assert [r.seq for r in rows] == list(range(head_before + 1, head_before + 1 + writers * per_writer))
    assert sorted((r.details["writer"], r.details["i"]) for r in rows) == [
        (n, i) for n in range(writers) for i in range(per_writer)
    ]
    verdict = chain.verify(session)
    assert verdict.ok, verdict
    print(
        f"\nRELIABILITY audit-chain: {writers} concurrent writers x {per_writer} events, {sealers} sealers "
        "-> each sealed once, chain intact"
    )


@pytest.mark.postgres_only
@pytest.mark.skipif(not IS_POSTGRES, reason="row locks between connections need PostgreSQL")
def test_a_writer_commits_while_the_chain_head_is_locked(engine, session):
    """Writers never wait on the chain: the head lock is the sealers' alone."""
    engine = make_engine(DB_URL, poolclass=NullPool)
    try:
        with Session(engine) as sealer, Session(engine) as writer:
            sealer.execute(select(AuditChainHead).where(AuditChainHead.id == 1).with_for_update())
            writer.execute(text("SET LOCAL lock_timeout = '2s'"))
            audit.record(writer, AuditAction.USER_CREATED, details={"while": "head locked"})
            writer.commit()  # would time out if commits took the head lock
            sealer.rollback()
    finally:
        engine.dispose()


def test_the_migration_seals_existing_events_and_downgrades(tmp_path):
    """Upgrading a database that already has audit events chains them in id order; verify passes. The
    move of the links out of the event rows (0013) keeps the chain whole both ways, pending events too."""
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
            upgrade(revision="0012_open_task_city_indexes")
            with Session(db.engine) as s:
                assert legacy_chain_ok(s)
            upgrade()
            with Session(db.engine) as s:
                assert chain.pending(s) == 0
                verdict = chain.verify(s)
                assert verdict.ok and verdict.checked == 3 and verdict.head_seq == 3, verdict
                with pytest.raises(DBAPIError, match="append-only"):
                    s.execute(text("DELETE FROM audit_event"))
                s.rollback()
                audit.record(s, AuditAction.USER_CREATED, details={"username": "pending_at_downgrade"})
                s.commit()
                assert chain.pending(s) == 1
            downgrade(revision="0012_open_task_city_indexes")
            with Session(db.engine) as s:
                assert legacy_chain_ok(s), "the links are back in the event rows"
                assert s.execute(text("SELECT count(*) FROM audit_event WHERE hash IS NULL")).scalar() == 1
            upgrade()
            with Session(db.engine) as s:
                assert chain.pending(s) == 1, "the unsealed event is queued again"
                verdict = chain.verify(s)
                assert verdict.ok and verdict.checked == 4 and verdict.head_seq == 4, verdict
                s.commit()
            downgrade(revision="0007_open_task_scope_indexes")
            with db.engine.connect() as conn:
                assert conn.execute(text("SELECT count(*) FROM audit_event")).scalar() == 4
                conn.execute(text("DELETE FROM audit_event"))  # no trigger after the downgrade
            db.engine.dispose()
    finally:
        if admin:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_no_code_path_changes_or_removes_audit_events():
    """Nothing in engine/ or api/ updates or deletes audit events or their chain links."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    pattern = re.compile(
        r"(delete|update)\(\s*(AuditEvent|_EVENTS|AuditSeal|_SEALS)|session\.delete\(\s*\w*(event|seal)"
        r"|(DELETE FROM|UPDATE|TRUNCATE)\s+audit_(event|seal)",
        re.IGNORECASE,
    )
    # the pattern catches what it is for (an ORM delete of an event or link) and lets other rows go
    assert pattern.search("session.delete(event)") and pattern.search("session.delete(audit_seal)")
    assert not pattern.search("session.delete(attachment)")
    offenders = []
    for path in [*(root / "engine").rglob("*.py"), *(root / "api").rglob("*.py")]:
        for line in path.read_text(encoding="utf-8").splitlines():
            if pattern.search(line):
                offenders.append(f"{path.relative_to(root)}: {line.strip()}")
    assert offenders == [], offenders
