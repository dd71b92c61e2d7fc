"""Near-relative filing (近亲属备案) for recusal in comprehensive assistance.

Revision ID: 0004_near_relative_filing
Revises: 0003_start_schedules
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_near_relative_filing"
down_revision = "0003_start_schedules"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "near_relative_filing",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_user_id", sa.Integer(), nullable=False),
        sa.Column("relative_id_number", sa.String(length=18), nullable=False),
        sa.Column("relation", sa.String(length=20), nullable=False),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("filed_by_id", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["filed_by_id"], ["app_user.id"], name=op.f("fk_near_relative_filing_filed_by_id_app_user")),
        sa.ForeignKeyConstraint(
            ["staff_user_id"], ["app_user.id"], name=op.f("fk_near_relative_filing_staff_user_id_app_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_near_relative_filing")),
    )
    op.create_index(
        "ix_near_relative_filing_relative_id_number", "near_relative_filing", ["relative_id_number", "active"]
    )


def downgrade():
    op.drop_index("ix_near_relative_filing_relative_id_number", table_name="near_relative_filing")
    op.drop_table("near_relative_filing")
