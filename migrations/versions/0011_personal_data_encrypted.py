"""Personal data encrypted at rest: blind-index columns, and every stored ID or phone number encrypted.

Revision ID: 0011_personal_data_encrypted
Revises: 0010_form_versions
Create Date: 2026-11-27

Needs the keys (``ASSISTFLOW_DATA_KEYS``, ``ASSISTFLOW_INDEX_KEY``; see ``engine.crypto``) in the
environment of ``assistflow db upgrade``: existing rows are encrypted with the current key — the
workflow state as a whole, the ID and phone values inside process data, idempotent responses and audit
details, the ledger's and the near-relative filings' numbers (which also get their blind index). The
downgrade decrypts everything back (same keys needed).

Audit events are append-only (0008's triggers): this revision lifts the triggers for the one rewrite
of ``details``, re-seals the whole hash chain over the stored (encrypted) form and restores the
triggers. The chain head hash therefore changes here: re-anchor the hash printed by
``assistflow audit verify`` after upgrading.
"""

import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0011_personal_data_encrypted"
down_revision = "0010_form_versions"
branch_labels = None
depends_on = None


def _m0008():
    path = Path(__file__).with_name("0008_audit_chain_and_lockout.py")
    spec = importlib.util.spec_from_file_location("_m0008", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _triggers(create: bool) -> None:
    bind = op.get_bind()
    m = _m0008()
    if bind.dialect.name == "postgresql":
        if create:
            op.execute(m.PG_FUNCTION)
            for statement in m.PG_TRIGGERS:
                op.execute(statement)
        else:
            op.execute("DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event")
            op.execute("DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_event")
            op.execute("DROP FUNCTION IF EXISTS audit_event_append_only()")
    elif create:
        for statement in m.SQLITE_TRIGGERS:
            op.execute(statement)
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_delete")
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_update")


def _convert(forward: bool) -> None:
    """Encrypt (forward) or decrypt every stored personal value, then re-seal the audit chain."""
    from engine import crypto
    from engine.audit.chain import GENESIS, event_hash

    ring = crypto.keyring()
    bind = op.get_bind()
    text = ring.encrypt if forward else ring.decrypt
    json_ = (lambda v: crypto.seal(v, ring)) if forward else (lambda v: crypto.unseal(v, ring))

    instances = sa.table(
        "process_instance", sa.column("id", sa.Integer()), sa.column("state", sa.Text()),
        sa.column("data", sa.JSON()),
    )  # fmt: skip
    for row in bind.execute(sa.select(instances)).mappings().all():
        bind.execute(
            instances.update()
            .where(instances.c.id == row["id"])
            .values(state=text(row["state"]), data=None if row["data"] is None else json_(row["data"]))
        )
    keys = sa.table("idempotency_key", sa.column("id", sa.Integer()), sa.column("response", sa.JSON()))
    for row in bind.execute(sa.select(keys)).mappings().all():
        if row["response"] is not None:
            bind.execute(keys.update().where(keys.c.id == row["id"]).values(response=json_(row["response"])))
    for table, column, index in (
        ("service_record", "household_id_number", "household_id_index"),
        ("near_relative_filing", "relative_id_number", "relative_id_index"),
    ):
        t = sa.table(table, sa.column("id", sa.Integer()), sa.column(column, sa.Text()), sa.column(index))
        for row in bind.execute(sa.select(t.c.id, t.c[column])).mappings().all():
            if row[column] is None:
                continue
            values = {column: text(row[column])}
            if forward:
                values[index] = ring.blind_index(row[column])
            bind.execute(t.update().where(t.c.id == row["id"]).values(**values))

    events = sa.table(
        "audit_event",
        *(sa.column(c, sa.Integer()) for c in ("id", "actor_id", "instance_id", "task_id", "definition_id")),
        sa.column("at", sa.DateTime(timezone=True)), sa.column("action", sa.String()),
        sa.column("details", sa.JSON()), sa.column("seq", sa.Integer()),
        sa.column("prev_hash", sa.String()), sa.column("hash", sa.String()),
    )  # fmt: skip
    _triggers(create=False)
    # Events not sealed yet (the scheduler seals them after commit) are converted in place and sealed
    # later, over their new stored form.
    unsealed = bind.execute(sa.select(events.c.id, events.c.details).where(events.c.seq.is_(None)))
    for row in unsealed.mappings().all():
        if row["details"] is not None:
            bind.execute(events.update().where(events.c.id == row["id"]).values(details=json_(row["details"])))
    seq, prev = 0, GENESIS
    rows = bind.execute(sa.select(events).where(events.c.seq.is_not(None)).order_by(events.c.seq))
    for row in rows.mappings().all():
        details = row["details"] if row["details"] is None else json_(row["details"])
        seq += 1
        digest = event_hash({**row, "details": details}, seq, prev)
        bind.execute(
            events.update()
            .where(events.c.id == row["id"])
            .values(details=details, seq=seq, prev_hash=prev, hash=digest)
        )
        prev = digest
    head = sa.table("audit_chain_head", sa.column("id"), sa.column("seq"), sa.column("hash"))
    bind.execute(head.update().where(head.c.id == 1).values(seq=seq, hash=prev))
    _triggers(create=True)


def upgrade():
    with op.batch_alter_table("service_record") as batch:
        batch.drop_index("ix_service_record_household")
        batch.alter_column("household_id_number", type_=sa.Text(), existing_type=sa.String(length=18))
        batch.add_column(sa.Column("household_id_index", sa.String(length=64), nullable=True))
    with op.batch_alter_table("near_relative_filing") as batch:
        batch.drop_index("ix_near_relative_filing_relative_id_number")
        batch.alter_column(
            "relative_id_number", type_=sa.Text(), existing_type=sa.String(length=18), existing_nullable=False
        )
        batch.add_column(sa.Column("relative_id_index", sa.String(length=64), nullable=True))
    _convert(forward=True)
    with op.batch_alter_table("near_relative_filing") as batch:
        batch.alter_column("relative_id_index", nullable=False, existing_type=sa.String(length=64))
        batch.create_index(
            "ix_near_relative_filing_relative_id_index", ["relative_id_index", "active"], unique=False
        )
    with op.batch_alter_table("service_record") as batch:
        batch.create_index("ix_service_record_household", ["household_id_index"], unique=False)


def downgrade():
    _convert(forward=False)
    with op.batch_alter_table("service_record") as batch:
        batch.drop_index("ix_service_record_household")
        batch.drop_column("household_id_index")
        batch.alter_column("household_id_number", type_=sa.String(length=18), existing_type=sa.Text())
        batch.create_index("ix_service_record_household", ["household_id_number"], unique=False)
    with op.batch_alter_table("near_relative_filing") as batch:
        batch.drop_index("ix_near_relative_filing_relative_id_index")
        batch.drop_column("relative_id_index")
        batch.alter_column(
            "relative_id_number", type_=sa.String(length=18), existing_type=sa.Text(), existing_nullable=False
        )
        batch.create_index(
            "ix_near_relative_filing_relative_id_number", ["relative_id_number", "active"], unique=False
        )
