"""Attachments: the files (materials) uploaded at a case's steps, stored encrypted outside the database.

Revision ID: 0026_attachments
Revises: 0021_holiday_calendar
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0026_attachments"
down_revision = "0021_holiday_calendar"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "attachment",
        sa.Column("id", ID, nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("field", sa.String(length=64), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=True),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=64), nullable=False),
        sa.Column("thumb_key", sa.String(length=80), nullable=True),
        sa.Column("wrapped_key", sa.Text(), nullable=False),
        sa.Column("location_removed", sa.Boolean(), nullable=False),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=True),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"], ["process_instance.id"], name=op.f("fk_attachment_instance_id_process_instance")
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["human_task.id"], name=op.f("fk_attachment_task_id_human_task")
        ),
        sa.ForeignKeyConstraint(
            ["household_id"], ["household.id"], name=op.f("fk_attachment_household_id_household")
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"], ["app_user.id"], name=op.f("fk_attachment_uploaded_by_id_app_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachment")),
        sa.UniqueConstraint("storage_key", name=op.f("uq_attachment_storage_key")),
    )
    op.create_index("ix_attachment_instance_id", "attachment", ["instance_id"])
    op.create_index("ix_attachment_task_id", "attachment", ["task_id"])
    op.create_index("ix_attachment_household_id", "attachment", ["household_id"])


def downgrade() -> None:
    op.drop_index("ix_attachment_household_id", table_name="attachment")
    op.drop_index("ix_attachment_task_id", table_name="attachment")
    op.drop_index("ix_attachment_instance_id", table_name="attachment")
    op.drop_table("attachment")
