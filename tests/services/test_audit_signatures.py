"""Audit integrity against whoever holds the database: events signed by the application with a key the
database does not hold, and signed checkpoints of the chain head kept outside it."""

from __future__ import annotations

import json
import os

import pytest
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from engine.audit import chain, checkpoint, signing
from engine.audit import service as audit
from engine.audit.models import AuditAction, AuditChainHead, AuditEvent, AuditSeal, AuditSigning
from tests.audit_bypass import audit_triggers_off
from tests.conftest import DB_URL, IS_POSTGRES
from tests.factories import application_data, complete, start_demo


@pytest.fixture()
def folder(tmp_path):
    """A checkpoint directory of the test's own (the configured one restored afterwards)."""
    before = checkpoint._directory
    checkpoint.configure(tmp_path / "checkpoints")
    yield tmp_path / "checkpoints"
    checkpoint._directory = before


@pytest.fixture()
def audit_keys():
    """Lets a test install other audit keys; the session's keys come back afterwards."""
    before = signing._keys
    yield
    signing._keys = before


def _case(session):
    instance = start_demo(session)
    complete(session, "pt_advisor", instance.id, "application", application_data())
    _personal_event(session, instance.id, "110101199003070011")
    session.commit()
    chain.seal(session)
    session.commit()
    return instance


def _personal_event(session, instance_id, id_number):
    """An event whose details hold an ID number (stored encrypted)."""
    return audit.record(
        session,
        AuditAction.PERSONAL_DATA_READ,
        instance_id=instance_id,
        details={"field": "applicant_id_number", "applicant_id_number": id_number},
    )


def _forged_payment(**extra):
    """The attack that worked before: a payment the application never made, inserted with plain SQL."""
    return {
        "at": chain_now(),
        "action": "task.completed",
        "actor_id": None,
        "instance_id": None,
        "task_id": None,
        "definition_id": None,
        "details": {"amount_paid": "99999.00", "form": "disbursement"},
        **extra,
    }


def chain_now():
    import datetime as dt

    return dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)


def _cli(app, *args):
    return app.test_cli_runner().invoke(args=["audit", *args])


def test_events_are_signed_when_written_and_verify_checks_them(app, session):
    instance = _case(session)
    events = session.scalars(select(AuditEvent).where(AuditEvent.instance_id == instance.id)).all()
    assert len(events) >= 4
    current = signing.keys().current_id
    assert {e.sig_key_id for e in events} == {current}
    assert len({e.sig_nonce for e in events}) == len(events) and all(len(e.sig) == 64 for e in events)
    started = next(e for e in events if e.action == AuditAction.PERSONAL_DATA_READ.value)
    assert started.details["applicant_id_number"] == "110101199003070011"
    stored = session.execute(
        text("SELECT details FROM audit_event WHERE id = :id"), {"id": started.id}
    ).scalar_one()
    assert "110101199003070011" not in str(stored), "the signature does not make details stored in clear"
    verdict = chain.verify(session)
    assert verdict.ok and verdict.legacy == 0, verdict
    assert verdict.checked == session.scalar(select(func.count()).select_from(AuditEvent))


@pytest.mark.parametrize("signature", ["none", "made-up", "other key"])
def test_a_forged_insert_fails_verify(app, session, signature):
    """Inserted as the application's database role could (the triggers on: it is queued and sealed like
    any event) — without the audit key its signature cannot hold."""
    _case(session)
    row = _forged_payment()
    if signature == "made-up":
        row.update(sig_key_id=signing.keys().current_id, sig_nonce="00" * 8, sig="ab" * 32)
    elif signature == "other key":
        row = _sign_with(signing.generate(), row)
    forged_id = session.execute(insert(AuditEvent).values(**row).returning(AuditEvent.id)).scalar_one()
    session.commit()
    assert chain.seal(session) == 1, "the sealer chains it like any other event"
    session.commit()
    verdict = chain.verify(session)
    assert (verdict.ok, verdict.broken_id) == (False, forged_id), verdict
    reason = {"none": "no signature", "made-up": "does not match", "other key": "not in"}[signature]
    assert reason in verdict.reason
    result = _cli(app, "verify")
    assert result.exit_code == 1 and f"event id {forged_id}" in result.output


def _sign_with(key, row):
    saved = signing._keys
    try:
        signing.configure(key)
        return signing.sign(row)
    finally:
        signing._keys = saved


def test_changed_encrypted_details_fail_verify(session):
    """Swapping the stored ciphertext of a personal value for another valid one changes what the event
    says: the signature covers the values in clear."""
    instance = _case(session)
    started = session.scalars(
        select(AuditEvent).where(
            AuditEvent.instance_id == instance.id, AuditEvent.action == AuditAction.PERSONAL_DATA_READ.value
        )
    ).one()
    other = _personal_event(session, instance.id, "110101199003070038")
    session.commit()
    chain.seal(session)
    session.commit()
    raw = {
        r.id: r.details
        for r in session.execute(
            text("SELECT id, details FROM audit_event WHERE id IN (:a, :b)"), {"a": started.id, "b": other.id}
        )
    }
    assert len(raw) == 2
    theirs = next(v for k, v in raw.items() if k != started.id)
    with audit_triggers_off(session):
        session.execute(
            text("UPDATE audit_event SET details = :d WHERE id = :id"),
            {"d": theirs if isinstance(theirs, str) else json.dumps(theirs), "id": started.id},
        )
    session.commit()
    verdict = chain.verify(session)
    assert (verdict.ok, verdict.broken_id) == (False, started.id)


def test_a_replayed_event_fails_verify(session):
    """A signed event copied row for row (a second payment) repeats its signature."""
    instance = _case(session)
    victim = session.scalars(
        select(AuditEvent).where(AuditEvent.instance_id == instance.id).order_by(AuditEvent.id.desc())
    ).first()
    columns = "at, action, actor_id, instance_id, task_id, definition_id, details, sig_key_id, sig_nonce, sig"
    session.execute(
        text(f"INSERT INTO audit_event ({columns}) SELECT {columns} FROM audit_event WHERE id = :id"),
        {"id": victim.id},
    )
    session.commit()
    copy_id = session.scalar(select(func.max(AuditEvent.id)))
    verdict = chain.verify(session)
    assert (verdict.ok, verdict.broken_id) == (False, copy_id) and "repeats" in verdict.reason, verdict


def test_key_rotation_keeps_old_events_verifiable(app, session, audit_keys):
    session_keys = os.environ[signing.AUDIT_KEYS_ENV]  # the seed's events were signed with these
    old_key, new_key = signing.generate(), signing.generate()
    signing.configure(f"{old_key},{session_keys}")
    audit.record(session, AuditAction.USER_CREATED, details={"username": "before_rotation"})
    session.commit()
    signing.configure(f"{new_key},{old_key},{session_keys}")  # the new key signs; the old one verifies
    batch = audit.Batch()
    batch.add(AuditAction.USER_CREATED, actor_id=None, instance_id=None, details={"username": "after"})
    batch.write(session)
    session.commit()
    rows = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(2)).all()
    ids = [signing.AuditKeys([k]).current_id for k in (new_key, old_key)]
    assert [r.sig_key_id for r in rows] == ids
    verdict = chain.verify(session)
    assert verdict.ok, verdict
    session.commit()
    signing.configure(f"{new_key},{session_keys}")  # the old key dropped too early
    verdict = chain.verify(session)
    assert (verdict.ok, verdict.broken_id) == (False, rows[1].id) and "not in" in verdict.reason


# --- checkpoints ------------------------------------------------------------------------------------


def test_checkpoint_anchors_the_head_outside_the_database(app, session, folder):
    _case(session)
    result = _cli(app, "checkpoint")
    assert result.exit_code == 0, result.output
    files = sorted(folder.glob("audit-checkpoint-*.json"))
    head = session.get(AuditChainHead, 1)
    session.refresh(head)
    assert len(files) == 1
    data = json.loads(files[0].read_text())
    assert (data["seq"], data["hash"]) == (head.seq, head.hash)
    anchored = head.seq
    assert data["key_id"] == signing.keys().current_id and len(data["mac"]) == 64
    assert _cli(app, "checkpoint").exit_code == 0
    assert len(list(folder.glob("audit-checkpoint-*.json"))) == 1, "no new file while the head stands"
    result = _cli(app, "verify")
    assert result.exit_code == 0 and f"matches checkpoint seq {anchored}" in result.output, result.output
    session.rollback()
    audit.record(session, AuditAction.USER_CREATED, details={"username": "later"})
    session.commit()
    from engine.deadlines import scheduler

    assert scheduler.checkpoint_audit(sessionmaker(bind=session.get_bind())) == anchored + 1
    assert len(list(folder.glob("audit-checkpoint-*.json"))) == 2
    assert checkpoint.verify(session).ok


def _rechain(session: Session, from_seq: int) -> None:
    """What the tables' owner can do: relink every event from ``from_seq`` on consistently, renumbered,
    and move the head — a chain that verifies on its own."""
    rows = (
        session.execute(
            select(*chain._FIELDS)
            .join(AuditSeal, AuditSeal.event_id == AuditEvent.id)
            .where(AuditSeal.seq >= from_seq)
            .order_by(AuditSeal.seq)
        )
        .mappings()
        .all()
    )
    prev = session.scalar(select(AuditSeal.hash).where(AuditSeal.seq == from_seq - 1)) or chain.GENESIS
    with audit_triggers_off(session):
        session.execute(delete(AuditSeal).where(AuditSeal.seq >= from_seq))
        seq = from_seq - 1
        for row in rows:
            seq += 1
            prev = chain.event_hash(row, seq, prev)
            session.execute(insert(AuditSeal).values(seq=seq, event_id=row["id"], hash=prev))
        session.execute(update(AuditChainHead).values(seq=seq, hash=prev))
    session.commit()


def _remove_event(session: Session, event_id: int) -> None:
    with audit_triggers_off(session):
        session.execute(delete(AuditSeal).where(AuditSeal.event_id == event_id))
        session.execute(delete(AuditEvent).where(AuditEvent.id == event_id))
    session.commit()


def test_a_rewritten_chain_fails_against_the_checkpoint(app, session, folder):
    instance = _case(session)
    cp, verdict = checkpoint.write(session)
    session.commit()
    assert cp is not None and verdict.ok
    events = session.scalars(
        select(AuditEvent).where(AuditEvent.instance_id == instance.id).order_by(AuditEvent.id)
    ).all()
    victim = events[1]  # a signed event: the owner removes it and relinks the rest
    victim_seq = session.scalar(select(AuditSeal.seq).where(AuditSeal.event_id == victim.id))
    _remove_event(session, victim.id)
    _rechain(session, victim_seq)
    audit.record(session, AuditAction.USER_CREATED, details={"username": "after the rewrite"})
    session.commit()  # the application writes on: the chain reaches the checkpoint's seq again
    assert chain.verify(session).ok, "without the checkpoint the rewritten chain holds together"
    session.commit()
    verdict = checkpoint.verify(session)
    assert not verdict.ok and "differs from the checkpoint" in verdict.reason, verdict
    result = _cli(app, "verify")
    assert result.exit_code == 1 and "differs from the checkpoint" in result.output
    result = _cli(app, "checkpoint")
    assert result.exit_code == 1 and "no checkpoint written" in result.output
    assert len(list(folder.glob("audit-checkpoint-*.json"))) == 1


def test_truncation_below_the_checkpoint_is_found(app, session, folder):
    instance = _case(session)
    assert checkpoint.write(session)[0] is not None
    session.commit()
    tail = session.scalars(
        select(AuditEvent.id).where(AuditEvent.instance_id == instance.id).order_by(AuditEvent.id)
    ).all()[-3:]
    for event_id in reversed(tail):
        _remove_event(session, event_id)
    last = session.execute(
        select(AuditSeal.seq, AuditSeal.hash).order_by(AuditSeal.seq.desc()).limit(1)
    ).one()
    with audit_triggers_off(session):
        session.execute(update(AuditChainHead).values(seq=last.seq, hash=last.hash))
    session.commit()
    assert chain.verify(session).ok, "a cut tail with the head moved back holds together on its own"
    session.commit()
    verdict = checkpoint.verify(session)
    assert not verdict.ok and "below the checkpoint" in verdict.reason, verdict
    assert _cli(app, "verify").exit_code == 1


def test_a_changed_checkpoint_file_fails(app, session, folder):
    _case(session)
    cp, _ = checkpoint.write(session)
    session.commit()
    path = next(folder.glob("audit-checkpoint-*.json"))
    data = json.loads(path.read_text())
    data["hash"] = chain.GENESIS
    path.write_text(json.dumps(data))
    verdict = checkpoint.verify(session)
    assert not verdict.ok and "HMAC does not match" in verdict.reason
    path.write_text("{not json")
    assert "unreadable" in checkpoint.verify(session).reason


def test_the_legacy_bound_cannot_change_unnoticed(app, session, folder):
    _case(session)
    checkpoint.write(session)
    session.commit()
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(update(AuditSigning).values(legacy_max_id=10**9))
    session.rollback()
    # open the transaction with a no-op write first: on SQLite the DDL below is then part of it
    session.execute(update(AuditChainHead).values(seq=AuditChainHead.seq))
    if IS_POSTGRES:  # what the owner can do
        session.execute(text("ALTER TABLE audit_signing DISABLE TRIGGER USER"))
    else:
        session.execute(text("DROP TRIGGER audit_signing_no_update"))
    session.execute(update(AuditSigning).values(legacy_max_id=10**9))
    verdict = checkpoint.verify(session)
    assert not verdict.ok and "legacy bound" in verdict.reason
    session.rollback()  # the trigger and the bound come back
    assert checkpoint.legacy_bound(session) == (0, 0)
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(update(AuditSigning).values(legacy_max_id=10**9))
    session.rollback()


# --- the migration ------------------------------------------------------------------------------------


def test_the_migration_bounds_legacy_events_and_round_trips(tmp_path):
    """Events written before 0017 are legacy (unsigned, counted); an unsigned one slipped into a gap
    below the bound is found; up/down/up keeps every event and verifies."""
    import uuid

    from flask_migrate import downgrade, upgrade
    from sqlalchemy import inspect as sa_inspect

    from api import create_app
    from api.extensions import db

    if IS_POSTGRES:
        import psycopg

        base, _, _name = DB_URL.rpartition("/")
        name = f"assistflow_sig_{uuid.uuid4().hex[:8]}"
        admin = base.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = f"{base}/{name}"
    else:
        url, admin, name = f"sqlite:///{tmp_path}/sig.db", None, None
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    try:
        with app.app_context():
            upgrade(revision="0013_audit_seal_table")
            with db.engine.begin() as conn:
                for event_id in (1, 2, 5):  # a gap, as rolled-back transactions leave on PostgreSQL
                    conn.execute(
                        text(
                            "INSERT INTO audit_event (id, at, action, details) "
                            "VALUES (:id, CURRENT_TIMESTAMP, 'user.created', :d)"
                        ),
                        {"id": event_id, "d": json.dumps({"username": f"old_{event_id}"})},
                    )
                if IS_POSTGRES:  # explicit ids leave the sequence behind
                    conn.execute(text("SELECT setval(pg_get_serial_sequence('audit_event', 'id'), 5)"))
            upgrade()
            with Session(db.engine) as s:
                assert checkpoint.legacy_bound(s) == (5, 3)
                verdict = chain.verify(s)
                assert verdict.ok and (verdict.checked, verdict.legacy) == (3, 3), verdict
                audit.record(s, AuditAction.USER_CREATED, details={"username": "signed"})
                s.commit()
                verdict = chain.verify(s)
                assert verdict.ok and (verdict.checked, verdict.legacy) == (4, 3), verdict
                s.commit()
                s.execute(
                    text(
                        "INSERT INTO audit_event (id, at, action, details) "
                        "VALUES (3, CURRENT_TIMESTAMP, 'task.completed', '{\"amount_paid\": \"99999.00\"}')"
                    )
                )
                s.commit()
                verdict = chain.verify(s)
                assert not verdict.ok and "legacy bound" in verdict.reason, verdict
                s.rollback()
                with audit_triggers_off(s):  # undo the forgery for the round trip below
                    s.execute(text("DELETE FROM audit_pending WHERE event_id = 3"))
                    s.execute(text("DELETE FROM audit_seal WHERE event_id = 3"))
                    s.execute(text("DELETE FROM audit_event WHERE id = 3"))
                    head = s.execute(text("SELECT seq, hash FROM audit_seal ORDER BY seq DESC LIMIT 1")).one()
                    s.execute(
                        text("UPDATE audit_chain_head SET seq = :s, hash = :h"), {"s": head[0], "h": head[1]}
                    )
                s.commit()
                assert chain.verify(s).ok
                s.commit()
            downgrade(revision="0013_audit_seal_table")
            with Session(db.engine) as s:
                assert s.execute(text("SELECT count(*) FROM audit_event")).scalar() == 4
                columns = {c["name"] for c in sa_inspect(s.connection()).get_columns("audit_event")}
                assert (
                    "sig" not in columns
                    and "audit_signing" not in sa_inspect(s.connection()).get_table_names()
                )
            upgrade()
            with Session(db.engine) as s:
                assert checkpoint.legacy_bound(s)[1] == 4, "every event then present becomes legacy"
                verdict = chain.verify(s)
                assert verdict.ok and (verdict.checked, verdict.legacy) == (4, 4), verdict
                s.commit()
            downgrade(revision="0013_audit_seal_table")
            db.engine.dispose()
    finally:
        if admin:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_keys_generate_prints_an_audit_key():
    from click.testing import CliRunner

    from api.cli import keys_generate

    result = CliRunner().invoke(keys_generate)
    line = next(x for x in result.output.splitlines() if x.startswith(f"{signing.AUDIT_KEYS_ENV}="))
    assert signing.AuditKeys([line.split("=", 1)[1]]).current_id


def test_no_audit_key_is_refused(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", DB_URL)
    monkeypatch.delenv(signing.AUDIT_KEYS_ENV)
    from api import create_app

    saved = signing._keys
    try:
        with pytest.raises(signing.AuditKeysNotConfigured):
            create_app({"SQLALCHEMY_DATABASE_URI": DB_URL})
        with pytest.raises(signing.AuditKeysNotConfigured):
            signing.configure("c2hvcnQ=")
    finally:
        signing._keys = saved


def test_the_local_demo_gets_an_audit_key_beside_its_data_keys(tmp_path, monkeypatch):
    """``make run`` (no DATABASE_URL): a keys file made before audit signing gains an audit key, kept."""
    from api import config

    keys_file = tmp_path / "data-keys.env"
    keys_file.write_text("ASSISTFLOW_DATA_KEYS=x\nASSISTFLOW_INDEX_KEY=y\n")
    monkeypatch.setattr(config, "LOCAL_KEYS", keys_file)
    first = config.local_audit_key()
    assert signing.AuditKeys([first]).current_id
    assert config.local_audit_key() == first and keys_file.read_text().count(signing.AUDIT_KEYS_ENV) == 1
    assert keys_file.read_text().startswith("ASSISTFLOW_DATA_KEYS=x\n"), "the data keys stay as they were"
