"""Schedules of timer-started processes (one row per process and org unit, with its next run).

Revision ID: 0003_start_schedules
Revises: 0002_deadlines_sla_notifications
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_start_schedules"
down_revision = "0002_deadlines_sla_notifications"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "start_schedule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("process_key", sa.String(length=100), nullable=False),
        sa.Column("definition_id", sa.Integer(), nullable=False),
        sa.Column("bpmn_id", sa.String(length=100), nullable=False),
        sa.Column("expression", sa.String(length=200), nullable=False),
        sa.Column("org_unit_id", sa.Integer(), nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("remaining", sa.Integer(), nullable=True),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["definition_id"], ["process_definition.id"], name=op.f("fk_start_schedule_definition_id_process_definition")
        ),
        sa.ForeignKeyConstraint(["org_unit_id"], ["org_unit.id"], name=op.f("fk_start_schedule_org_unit_id_org_unit")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_start_schedule")),
    )
    op.create_index("ix_start_schedule_active_next", "start_schedule", ["active", "next_run_at"])


def downgrade():
    op.drop_index("ix_start_schedule_active_next", table_name="start_schedule")
    op.drop_table("start_schedule")
