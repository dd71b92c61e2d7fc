"""Incidents: failures of automatic steps of a case, kept for admins to fix and retry (issue 18 item 11).

Revision ID: 0016_incidents
Revises: 0013_audit_seal_table
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op


revision = "0016_incidents"
down_revision = "0015_grants_bound_to_procedures"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incident",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("element", sa.String(length=200), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("origin", sa.String(length=20), nullable=False),
        sa.Column(
            "status",
            sa.Enum("open", "resolved", name="incident_status", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["process_instance.id"],
            name=op.f("fk_incident_instance_id_process_instance"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["created_by_id"], ["app_user.id"], name=op.f("fk_incident_created_by_id_app_user")),
        sa.ForeignKeyConstraint(
            ["resolved_by_id"], ["app_user.id"], name=op.f("fk_incident_resolved_by_id_app_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident")),
    )
    op.create_index("ix_incident_status_created_at", "incident", ["status", "created_at"])
    op.create_index("ix_incident_instance_id_status", "incident", ["instance_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_incident_instance_id_status", table_name="incident")
    op.drop_index("ix_incident_status_created_at", table_name="incident")
    op.drop_table("incident")
