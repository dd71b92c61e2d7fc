"""Audit events signed by the application; the events before signatures recorded as legacy.

Revision ID: 0017_audit_signatures
Revises: 0013_audit_seal_table
Create Date: 2026-12-02

``audit_event`` gets ``sig_key_id``, ``sig_nonce`` and ``sig`` (``engine.audit.signing``: an HMAC the
application computes with ``ASSISTFLOW_AUDIT_KEYS``, which the database never holds). Events already
written stay unsigned — nobody can sign them honestly after the fact — and are *legacy*: the new
one-row table ``audit_signing`` records their bound (``legacy_max_id`` = the highest event id now,
``legacy_count`` = how many events there are now). ``assistflow audit verify`` accepts an unsigned event
only at or below that id and only that many of them; every later event must carry a valid signature.
The row is written once here and refused UPDATE and DELETE (triggers, like the events'); checkpoints
outside the database repeat the bound, so changing it fails verify.

The downgrade drops the columns (the signatures are lost) and the table; upgrading again records a new
legacy bound that covers every event then present, so checkpoints written before the downgrade no
longer match: move them aside after such a round trip (docs/RELIABILITY.md).

Running the application as a database role that does not own the tables is done by
``assistflow db grant-app-role NAME`` (api/db_roles.py), after this and every later upgrade.
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0017_audit_signatures"
down_revision = "0016_incidents"
branch_labels = None
depends_on = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

PG_UP = [
    # audit_append_only() is 0013's: it refuses whatever it is attached to
    "CREATE TRIGGER audit_signing_append_only BEFORE UPDATE OR DELETE ON audit_signing "
    "FOR EACH ROW EXECUTE FUNCTION audit_append_only()",
    "CREATE TRIGGER audit_signing_no_truncate BEFORE TRUNCATE ON audit_signing "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()",
]
PG_DOWN = [
    "DROP TRIGGER audit_signing_no_truncate ON audit_signing",
    "DROP TRIGGER audit_signing_append_only ON audit_signing",
]
SQLITE_UP = [
    f"CREATE TRIGGER audit_signing_no_{verb.lower()} BEFORE {verb} ON audit_signing "
    f"BEGIN SELECT RAISE(ABORT, 'audit_signing is append-only: {verb} refused'); END"
    for verb in ("UPDATE", "DELETE")
]
SQLITE_DOWN = ["DROP TRIGGER audit_signing_no_update", "DROP TRIGGER audit_signing_no_delete"]


def _is_pg() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade():
    # plain ADD COLUMN (no table copy on SQLite): the events' triggers stay as they are
    op.add_column("audit_event", sa.Column("sig_key_id", sa.String(length=16), nullable=True))
    op.add_column("audit_event", sa.Column("sig_nonce", sa.String(length=16), nullable=True))
    op.add_column("audit_event", sa.Column("sig", sa.String(length=64), nullable=True))
    op.create_table(
        "audit_signing",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("legacy_max_id", _BIGINT, nullable=False),
        sa.Column("legacy_count", _BIGINT, nullable=False),
        sa.Column("signed_since", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_signing")),
    )
    bind = op.get_bind()
    max_id, count = bind.execute(sa.text("SELECT COALESCE(MAX(id), 0), COUNT(*) FROM audit_event")).one()
    now = dt.datetime.now(dt.UTC)
    signing = sa.table(
        "audit_signing",
        sa.column("id", sa.Integer()),
        sa.column("legacy_max_id", _BIGINT),
        sa.column("legacy_count", _BIGINT),
        sa.column("signed_since", sa.DateTime(timezone=True)),
    )
    op.execute(
        signing.insert().values(
            id=1,
            legacy_max_id=int(max_id),
            legacy_count=int(count),
            signed_since=now if _is_pg() else now.replace(tzinfo=None),  # SQLite: naive UTC
        )
    )
    for statement in PG_UP if _is_pg() else SQLITE_UP:
        op.execute(statement)


def downgrade():
    for statement in PG_DOWN if _is_pg() else SQLITE_DOWN:
        op.execute(statement)
    op.drop_table("audit_signing")
    for column in ("sig", "sig_nonce", "sig_key_id"):  # ALTER TABLE … DROP COLUMN (SQLite ≥ 3.35 too)
        op.execute(f"ALTER TABLE audit_event DROP COLUMN {column}")
