"""Audit hash chain and append-only triggers, idempotency keys, login failures for the lockout.

Revision ID: 0008_audit_chain_and_lockout
Revises: 0007_open_task_scope_indexes
Create Date: 2026-11-23

The triggers make ``audit_event`` append-only in the database itself: an UPDATE is let through only
while a row is still unsealed and only for its chain columns (``seq``, ``prev_hash``, ``hash``, set
once when the writing transaction commits); DELETE (and TRUNCATE on PostgreSQL) is refused. Rows
written before this revision are sealed here, in id order.
"""

import datetime as dt
import hashlib
import json

import sqlalchemy as sa
from alembic import op

revision = "0008_audit_chain_and_lockout"
down_revision = "0007_open_task_scope_indexes"
branch_labels = None
depends_on = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
GENESIS = "0" * 64

PG_FUNCTION = """
CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.hash IS NULL
       AND NEW.id = OLD.id AND NEW.at = OLD.at AND NEW.action = OLD.action
       AND NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id
       AND NEW.instance_id IS NOT DISTINCT FROM OLD.instance_id
       AND NEW.task_id IS NOT DISTINCT FROM OLD.task_id
       AND NEW.definition_id IS NOT DISTINCT FROM OLD.definition_id
       AND NEW.details::text = OLD.details::text THEN
        RETURN NEW;  -- sealing: the chain columns of a row not yet sealed, set once
    END IF;
    RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP
        USING HINT = 'audit events are never changed or removed';
END;
$$
"""
PG_TRIGGERS = [
    "CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event "
    "FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()",
    "CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only()",
]
SQLITE_TRIGGERS = [
    "CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event "
    "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: DELETE refused'); END",
    "CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event "
    "WHEN OLD.hash IS NOT NULL OR NEW.id IS NOT OLD.id OR NEW.at IS NOT OLD.at "
    "OR NEW.action IS NOT OLD.action OR NEW.actor_id IS NOT OLD.actor_id "
    "OR NEW.instance_id IS NOT OLD.instance_id OR NEW.task_id IS NOT OLD.task_id "
    "OR NEW.definition_id IS NOT OLD.definition_id OR NEW.details IS NOT OLD.details "
    "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: UPDATE refused'); END",
]


# --- frozen copy of engine.audit.chain.event_hash as it was at this revision --------------------------
# A migration carries what it needs: the engine's hash may change later, the rows sealed here may not.


def _at(value):
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds")


def event_hash(row, seq, prev_hash):
    """SHA-256 of sorted-key compact JSON of every field of one event, its position and the prev hash."""
    payload = {
        "id": row["id"],
        "seq": seq,
        "at": _at(row["at"]),
        "action": row["action"],
        "actor_id": row["actor_id"],
        "instance_id": row["instance_id"],
        "task_id": row["task_id"],
        "definition_id": row["definition_id"],
        "details": row["details"],
        "prev_hash": prev_hash,
    }
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _seal_existing_rows():
    events = sa.table(
        "audit_event",
        sa.column("id", sa.Integer()),
        sa.column("at", sa.DateTime(timezone=True)),
        sa.column("action", sa.String()),
        sa.column("actor_id", sa.Integer()),
        sa.column("instance_id", sa.Integer()),
        sa.column("task_id", sa.Integer()),
        sa.column("definition_id", sa.Integer()),
        sa.column("details", sa.JSON()),
        sa.column("seq", sa.Integer()),
        sa.column("prev_hash", sa.String()),
        sa.column("hash", sa.String()),
    )
    bind = op.get_bind()
    seq, prev = 0, GENESIS
    rows = bind.execute(sa.select(events).order_by(events.c.id)).mappings().all()
    for row in rows:
        seq += 1
        digest = event_hash(row, seq, prev)
        bind.execute(
            events.update().where(events.c.id == row["id"]).values(seq=seq, prev_hash=prev, hash=digest)
        )
        prev = digest
    return seq, prev


def upgrade():
    op.add_column("audit_event", sa.Column("seq", _BIGINT, nullable=True))
    op.add_column("audit_event", sa.Column("prev_hash", sa.String(length=64), nullable=True))
    op.add_column("audit_event", sa.Column("hash", sa.String(length=64), nullable=True))
    op.create_index("ix_audit_event_seq", "audit_event", ["seq"], unique=True)
    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", _BIGINT, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    seq, head = _seal_existing_rows()
    op.execute(
        sa.table("audit_chain_head", sa.column("id"), sa.column("seq"), sa.column("hash"))
        .insert()
        .values(id=1, seq=seq, hash=head)
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        for statement in PG_TRIGGERS:
            op.execute(statement)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)

    op.create_table(
        "idempotency_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("response", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["app_user.id"], name=op.f("fk_idempotency_key_user_id_app_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_key")),
        sa.UniqueConstraint("user_id", "key", name=op.f("uq_idempotency_key_user_id")),
    )
    op.create_table(
        "login_failure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("remote_addr", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failure")),
    )
    op.create_index("ix_login_failure_username_at", "login_failure", ["username", "at"], unique=False)


def downgrade():
    op.drop_index("ix_login_failure_username_at", table_name="login_failure")
    op.drop_table("login_failure")
    op.drop_table("idempotency_key")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_event_no_truncate ON audit_event")
        op.execute("DROP TRIGGER audit_event_append_only ON audit_event")
        op.execute("DROP FUNCTION audit_event_append_only()")
    else:
        op.execute("DROP TRIGGER audit_event_no_update")
        op.execute("DROP TRIGGER audit_event_no_delete")
    op.drop_table("audit_chain_head")
    op.drop_index("ix_audit_event_seq", table_name="audit_event")
    with op.batch_alter_table("audit_event") as batch:
        batch.drop_column("hash")
        batch.drop_column("prev_hash")
        batch.drop_column("seq")
