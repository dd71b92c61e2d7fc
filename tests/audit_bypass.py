"""The privileged way around the audit log's append-only triggers, for tests only.

Removing audit rows needs DDL on the table — ``ALTER TABLE … DISABLE TRIGGER`` on PostgreSQL (table
owner or superuser), dropping and re-creating the triggers on SQLite — inside the caller's transaction,
so the triggers are back the moment it commits or rolls back. Nothing in ``engine/`` or ``api/`` does
this: the per-test cleanup uses it to remove the rows a test wrote (and resets the chain head), and the
tamper tests use it to play an attacker with table-owner rights.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.orm import Session

PG_TRIGGERS = ("audit_event_append_only",)


@contextmanager
def audit_triggers_off(session: Session) -> Iterator[None]:
    if session.get_bind().dialect.name == "postgresql":
        for name in PG_TRIGGERS:
            session.execute(text(f"ALTER TABLE audit_event DISABLE TRIGGER {name}"))
        yield
        for name in PG_TRIGGERS:
            session.execute(text(f"ALTER TABLE audit_event ENABLE TRIGGER {name}"))
        return
    triggers = session.execute(
        text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_event'")
    ).all()
    for name, _sql in triggers:
        session.execute(text(f'DROP TRIGGER "{name}"'))
    yield
    for _name, sql in triggers:
        session.execute(text(sql))
