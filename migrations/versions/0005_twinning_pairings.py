"""Twinning Plan pairings (reference data).

Revision ID: 0005_twinning_pairings
Revises: 0004_near_relative_filing
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_twinning_pairings"
down_revision = "0004_near_relative_filing"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "twinning_pairing",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("dispatching_agency", sa.String(length=100), nullable=False),
        sa.Column("county", sa.String(length=100), nullable=False),
        sa.Column("aided_agency", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_twinning_pairing")),
        sa.UniqueConstraint("code", name=op.f("uq_twinning_pairing_code")),
    )


def downgrade():
    op.drop_table("twinning_pairing")
