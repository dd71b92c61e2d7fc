"""Sub-case link on process instances (Bridge Plan households) and the cross-project service ledger.

Revision ID: 0006_parent_and_service_ledger
Revises: 0005_twinning_pairings
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op


revision = "0006_parent_and_service_ledger"
down_revision = "0005_twinning_pairings"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("process_instance") as batch:
        batch.add_column(sa.Column("parent_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            batch.f("fk_process_instance_parent_id_process_instance"), "process_instance", ["parent_id"], ["id"]
        )
        batch.create_index(batch.f("ix_process_instance_parent_id"), ["parent_id"], unique=False)
    op.create_table(
        "service_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_ref", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("process_key", sa.String(length=100), nullable=False),
        sa.Column("project_ref", sa.String(length=120), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("household_id_number", sa.String(length=18), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["process_instance.id"],
            name=op.f("fk_service_record_instance_id_process_instance"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["human_task.id"], name=op.f("fk_service_record_task_id_human_task"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_record")),
        sa.UniqueConstraint("item_ref", name=op.f("uq_service_record_item_ref")),
    )
    op.create_index("ix_service_record_household", "service_record", ["household_id_number"], unique=False)
    op.create_index(op.f("ix_service_record_instance_id"), "service_record", ["instance_id"], unique=False)
    op.create_index(op.f("ix_service_record_project_ref"), "service_record", ["project_ref"], unique=False)


def downgrade():
    op.drop_table("service_record")
    with op.batch_alter_table("process_instance") as batch:
        batch.drop_index(batch.f("ix_process_instance_parent_id"))
        batch.drop_constraint(batch.f("fk_process_instance_parent_id_process_instance"), type_="foreignkey")
        batch.drop_column("parent_id")
