"""Operations (issue 20): ``scheduler_heartbeat``, one row per scheduler process and its last beat.

Revision ID: 0028_operations
Revises: 0027_policy_parameters
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0028_operations"
down_revision = "0027_policy_parameters"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scheduler_heartbeat",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("beat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_job", sa.String(40), nullable=True),
        sa.Column("jobs_run", sa.Integer(), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_scheduler_heartbeat_beat_at", "scheduler_heartbeat", ["beat_at"])


def downgrade() -> None:
    op.drop_index("ix_scheduler_heartbeat_beat_at", table_name="scheduler_heartbeat")
    op.drop_table("scheduler_heartbeat")
