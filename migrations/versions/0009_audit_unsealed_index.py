"""Index of audit events not yet sealed into the hash chain.

The chain is now sealed after commit by the scheduler (``engine.audit.chain.seal``) rather than inside
every writing transaction; the sealer looks for unsealed events every second, and this partial index
holds only those few rows, so the look-up costs nothing however long the audit log grows.

Revision ID: 0009_audit_unsealed_index
Revises: 0008_audit_chain_and_lockout
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_audit_unsealed_index"
down_revision = "0008_audit_chain_and_lockout"
branch_labels = None
depends_on = None

UNSEALED = sa.text("hash IS NULL")


def upgrade():
    op.create_index(
        "ix_audit_event_unsealed",
        "audit_event",
        ["id"],
        unique=False,
        postgresql_where=UNSEALED,
        sqlite_where=UNSEALED,
    )


def downgrade():
    op.drop_index("ix_audit_event_unsealed", table_name="audit_event")
