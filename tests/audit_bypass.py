"""The privileged way around the audit log's append-only triggers, for tests only.

Removing audit rows (events and their chain links) needs DDL on the tables — ``ALTER TABLE … DISABLE
TRIGGER`` on PostgreSQL (table owner or superuser), dropping and re-creating the triggers on SQLite —
inside the caller's transaction, so the triggers are back the moment it commits or rolls back. Nothing in ``engine/`` or ``api/`` does
this: the per-test cleanup uses it to remove the rows a test wrote (and resets the chain head), and the
tamper tests use it to play an attacker with table-owner rights.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

TABLES = ("audit_event", "audit_seal")


@contextmanager
def audit_triggers_off(session: Session, tables: tuple[str, ...] = TABLES) -> Iterator[None]:
    """``tables``: the append-only tables to open (default: the audit log's; also ``step_record``)."""
    if session.get_bind().dialect.name == "postgresql":
        for table in tables:  # every trigger: also the one that queues new events for the sealer
            session.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        yield
        for table in tables:
            session.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
        return
    triggers = session.execute(
        text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN :tables").bindparams(
            bindparam("tables", expanding=True)
        ),
        {"tables": list(tables)},
    ).all()
    for name, _sql in triggers:
        session.execute(text(f'DROP TRIGGER "{name}"'))
    yield
    for _name, sql in triggers:
        session.execute(text(sql))


def legacy_chain_ok(session: Session) -> bool:
    """Verify a chain stored the way revisions 0008–0012 stored it, in the event rows themselves
    (``seq``, ``prev_hash``, ``hash``; unsealed rows have none): the migration tests check databases at
    those revisions."""
    from sqlalchemy import literal_column, select

    from engine.audit import chain

    links = (literal_column("seq"), literal_column("prev_hash"), literal_column("hash"))
    sealed = literal_column("seq").is_not(None)
    rows = (
        session.execute(select(*chain._FIELDS, *links).where(sealed).order_by(literal_column("seq")))
        .mappings()
        .all()
    )
    seq, prev = 0, chain.GENESIS
    for row in rows:
        seq += 1
        if (row["seq"], row["prev_hash"]) != (seq, prev) or chain.event_hash(row, seq, prev) != row["hash"]:
            return False
        prev = row["hash"]
    head = session.execute(text("SELECT seq, hash FROM audit_chain_head WHERE id = 1")).one()
    return (head.seq, head.hash) == (seq, prev)
