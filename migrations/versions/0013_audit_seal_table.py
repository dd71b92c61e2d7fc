"""The hash chain moves beside the audit events: ``audit_seal`` links, an ``audit_pending`` queue, and
events that are never updated.

Before, the sealer wrote each event's ``seq``, ``prev_hash`` and ``hash`` into the event row itself.
On PostgreSQL that UPDATE copies the whole row and, because ``seq`` and the unsealed index change,
adds a second entry to every index of the table; VACUUM reclaims the old row but the indexes keep
their grown pages (measured: 4.4 KB of audit indexes per finished case instead of 1.7 KB). Now the
sealer only inserts: one ``audit_seal`` row per event (``seq``, ``event_id``, ``hash``; the previous
hash is the previous link's, so it is not stored twice) and it removes the event from
``audit_pending``, which a trigger fills as events are inserted. ``audit_event`` refuses every UPDATE.

Existing links are moved over as they are (the hashes stay valid: what is hashed is unchanged);
unsealed events are queued. The downgrade puts the links back into the event rows.

Revision ID: 0013_audit_seal_table
Revises: 0012_open_task_city_indexes
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_audit_seal_table"
down_revision = "0012_open_task_city_indexes"
branch_labels = None
depends_on = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
GENESIS = "0" * 64

# audit events and their chain links: neither is ever changed or removed
GUARDED = ("audit_event", "audit_seal")

PG_FUNCTIONS = [
    """
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING HINT = 'audit events and their chain links are never changed or removed';
END;
$$
""",
    """
CREATE FUNCTION audit_event_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_pending (event_id) SELECT id FROM new_events;
    RETURN NULL;
END;
$$
""",
]
PG_UP = [
    *PG_FUNCTIONS,
    *(
        statement
        for table in GUARDED
        for statement in (
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION audit_append_only()",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()",
        )
    ),
    # one statement-level trigger per INSERT statement: a step's multi-row INSERT queues its events at once
    "CREATE TRIGGER audit_event_enqueue AFTER INSERT ON audit_event "
    "REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION audit_event_enqueue()",
]
PG_DOWN = [
    "DROP TRIGGER audit_event_enqueue ON audit_event",
    *(
        f"DROP TRIGGER {table}_{kind} ON {table}"
        for table in GUARDED
        for kind in ("append_only", "no_truncate")
    ),
    "DROP FUNCTION audit_event_enqueue()",
    "DROP FUNCTION audit_append_only()",
]
SQLITE_UP = [
    *(
        f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {verb} refused'); END"
        for table in GUARDED
        for verb in ("UPDATE", "DELETE")
    ),
    "CREATE TRIGGER audit_event_enqueue AFTER INSERT ON audit_event "
    "BEGIN INSERT INTO audit_pending (event_id) VALUES (NEW.id); END",
]
SQLITE_DOWN = [
    "DROP TRIGGER audit_event_enqueue",
    *(f"DROP TRIGGER {table}_no_{verb}" for table in GUARDED for verb in ("update", "delete")),
]


def _revision(name: str):
    """An earlier migration module, whose trigger and index statements this one reuses as they were."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(f"_assistflow_{name}", Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _is_pg() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade():
    op.create_table(
        "audit_seal",
        sa.Column("seq", _BIGINT, autoincrement=False, nullable=False),
        sa.Column("event_id", _BIGINT, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["audit_event.id"], name=op.f("fk_audit_seal_event_id_audit_event")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_seal")),
        sa.UniqueConstraint("event_id", name=op.f("uq_audit_seal_event_id")),
    )
    op.create_table(
        "audit_pending",
        sa.Column("event_id", _BIGINT, autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_audit_pending")),
    )
    op.execute(
        "INSERT INTO audit_seal (seq, event_id, hash) SELECT seq, id, hash FROM audit_event WHERE seq IS NOT NULL"
    )
    op.execute("INSERT INTO audit_pending (event_id) SELECT id FROM audit_event WHERE hash IS NULL")
    # 0008's triggers name the chain columns: replace them before the columns go
    _revision("0011_personal_data_encrypted")._triggers(create=False)
    for statement in PG_UP if _is_pg() else SQLITE_UP:
        op.execute(statement)
    op.drop_index("ix_audit_event_unsealed", table_name="audit_event")
    op.drop_index("ix_audit_event_seq", table_name="audit_event")
    for column in ("hash", "prev_hash", "seq"):  # ALTER TABLE … DROP COLUMN (SQLite ≥ 3.35 too)
        op.execute(f"ALTER TABLE audit_event DROP COLUMN {column}")


def downgrade():
    for statement in PG_DOWN if _is_pg() else SQLITE_DOWN:
        op.execute(statement)
    op.add_column("audit_event", sa.Column("seq", _BIGINT, nullable=True))
    op.add_column("audit_event", sa.Column("prev_hash", sa.String(length=64), nullable=True))
    op.add_column("audit_event", sa.Column("hash", sa.String(length=64), nullable=True))
    op.execute(
        "UPDATE audit_event SET seq = s.seq, hash = s.hash, prev_hash = s.prev_hash FROM "
        f"(SELECT event_id, seq, hash, COALESCE(LAG(hash) OVER (ORDER BY seq), '{GENESIS}') AS prev_hash "
        "FROM audit_seal) AS s WHERE s.event_id = audit_event.id"
    )
    op.create_index("ix_audit_event_seq", "audit_event", ["seq"], unique=True)
    _revision("0009_audit_unsealed_index").upgrade()  # ix_audit_event_unsealed
    _revision("0011_personal_data_encrypted")._triggers(create=True)  # 0008's
    op.drop_table("audit_pending")
    op.drop_table("audit_seal")
