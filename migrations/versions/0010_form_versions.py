"""Form versions saved by admins, and the form version each human task was created with.

Revision ID: 0010_form_versions
Revises: 0009_audit_unsealed_index
Create Date: 2026-11-27

``human_task.form_version`` is NULL for tasks that use the form file in ``forms/`` (every task created
before this revision, and tasks of forms without a saved version).
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_form_versions"
down_revision = "0009_audit_unsealed_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "form_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["created_by_id"], ["app_user.id"], name=op.f("fk_form_version_created_by_id_app_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_form_version")),
        sa.UniqueConstraint("key", "version", name="uq_form_version_key_version"),
    )
    # A plain ADD/DROP COLUMN (SQLite ≥ 3.35 too): no table rebuild, the partial indexes stay as they are.
    op.add_column("human_task", sa.Column("form_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("human_task", "form_version")
    op.drop_table("form_version")
