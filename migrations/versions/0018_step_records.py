"""Step records: each completed user task's validated data as its own append-only row.

Existing completed tasks get their record from the audit log's ``task.completed`` event of the task,
whose details hold the validated ``data`` and the rules' ``derived`` figures. The JSON is copied as it is
stored: ID and phone numbers in it are already sealed (``enc1:…``) the same way, so no key is needed here.
A completed task without such an event gets no record. The table refuses UPDATE and DELETE (as the audit
log does); the downgrade drops it.

Revision ID: 0018_step_records
Revises: 0013_audit_seal_table
Create Date: 2026-12-02
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0018_step_records"
down_revision = "0017_audit_signatures"
branch_labels = None
depends_on = None


class UTCDateTime(sa.TypeDecorator):
    """A frozen copy of engine.db.UTCDateTime as of this revision (a migration carries what it needs):
    aware UTC datetimes, stored naive UTC on SQLite and as timestamptz on PostgreSQL."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

PG_UP = [
    """
CREATE FUNCTION step_record_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'step_record is append-only: % refused', TG_OP
        USING HINT = 'a completed step''s record is never changed or removed';
END;
$$
""",
    "CREATE TRIGGER step_record_append_only BEFORE UPDATE OR DELETE ON step_record "
    "FOR EACH ROW EXECUTE FUNCTION step_record_append_only()",
    "CREATE TRIGGER step_record_no_truncate BEFORE TRUNCATE ON step_record "
    "FOR EACH STATEMENT EXECUTE FUNCTION step_record_append_only()",
]
PG_DOWN = [
    "DROP TRIGGER step_record_no_truncate ON step_record",
    "DROP TRIGGER step_record_append_only ON step_record",
    "DROP FUNCTION step_record_append_only()",
]
SQLITE_UP = [
    f"CREATE TRIGGER step_record_no_{verb.lower()} BEFORE {verb} ON step_record "
    f"BEGIN SELECT RAISE(ABORT, 'step_record is append-only: {verb} refused'); END"
    for verb in ("UPDATE", "DELETE")
]
SQLITE_DOWN = ["DROP TRIGGER step_record_no_update", "DROP TRIGGER step_record_no_delete"]


def _backfill() -> None:
    bind = op.get_bind()
    task = sa.table(
        "human_task",
        sa.column("id", sa.Integer),
        sa.column("instance_id", sa.Integer),
        sa.column("bpmn_id", sa.String),
        sa.column("name", sa.String),
        sa.column("form_key", sa.String),
        sa.column("form_version", sa.Integer),
        sa.column("state", sa.String),
        sa.column("completed_at", UTCDateTime),
        sa.column("completed_by_id", sa.Integer),
    )
    event = sa.table(
        "audit_event",
        sa.column("id", _ID),
        sa.column("action", sa.String),
        sa.column("task_id", sa.Integer),
        sa.column("actor_id", sa.Integer),
        sa.column("at", UTCDateTime),
        sa.column("details", sa.JSON),
    )
    record = sa.table(
        "step_record",
        *(
            sa.column(name, kind)
            for name, kind in (
                ("instance_id", sa.Integer),
                ("task_id", sa.Integer),
                ("bpmn_id", sa.String),
                ("name", sa.String),
                ("form_key", sa.String),
                ("form_version", sa.Integer),
                ("iteration", sa.Integer),
                ("actor_id", sa.Integer),
                ("completed_at", UTCDateTime),
                ("data", sa.JSON(none_as_null=True)),
                ("derived", sa.JSON(none_as_null=True)),
                ("source", sa.String),
            )
        ),
    )
    rows = bind.execute(
        sa.select(task, event.c.actor_id, event.c.at, event.c.details)
        .join(event, (event.c.task_id == task.c.id) & (event.c.action == "task.completed"))
        .where(task.c.state == "completed")
        .order_by(task.c.instance_id, task.c.completed_at, task.c.id, event.c.id)
    ).mappings()
    runs: dict[tuple[int, str], int] = {}
    seen: set[int] = set()
    batch: list[dict] = []
    for r in rows:
        if r["id"] in seen:  # one record per task (the first completion event)
            continue
        seen.add(r["id"])
        details = r["details"] or {}
        key = (r["instance_id"], r["bpmn_id"])
        runs[key] = runs.get(key, 0) + 1
        batch.append(
            {
                "instance_id": r["instance_id"],
                "task_id": r["id"],
                "bpmn_id": r["bpmn_id"],
                "name": r["name"],
                "form_key": r["form_key"],
                "form_version": r["form_version"],
                "iteration": runs[key],
                "actor_id": r["actor_id"] or r["completed_by_id"],
                "completed_at": r["completed_at"] or r["at"],
                "data": details.get("data") or {},
                "derived": details.get("derived") or None,
                "source": "audit",
            }
        )
        if len(batch) >= 1000:
            bind.execute(sa.insert(record), batch)
            batch = []
    if batch:
        bind.execute(sa.insert(record), batch)


def upgrade() -> None:
    op.create_table(
        "step_record",
        sa.Column("id", _ID, nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("bpmn_id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("form_key", sa.String(length=100), nullable=True),
        sa.Column("form_version", sa.Integer(), nullable=True),
        sa.Column("iteration", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("completed_at", UTCDateTime(), nullable=False),
        sa.Column("data", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("derived", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["actor_id"], ["app_user.id"], name=op.f("fk_step_record_actor_id_app_user")),
        sa.ForeignKeyConstraint(
            ["instance_id"], ["process_instance.id"], name=op.f("fk_step_record_instance_id_process_instance")
        ),
        sa.ForeignKeyConstraint(["task_id"], ["human_task.id"], name=op.f("fk_step_record_task_id_human_task")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_step_record")),
        sa.UniqueConstraint("instance_id", "bpmn_id", "iteration", name="uq_step_record_step_iteration"),
        sa.UniqueConstraint("task_id", name="uq_step_record_task_id"),
    )
    _backfill()
    for statement in PG_UP if op.get_bind().dialect.name == "postgresql" else SQLITE_UP:
        op.execute(statement)


def downgrade() -> None:
    for statement in PG_DOWN if op.get_bind().dialect.name == "postgresql" else SQLITE_DOWN:
        op.execute(statement)
    op.drop_table("step_record")
