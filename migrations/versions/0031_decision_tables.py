"""DMN decision tables, deployed and versioned like process definitions.

Revision ID: 0031_decision_tables
Revises: 0033_oidc_identities
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0031_decision_tables"
down_revision = "0033_oidc_identities"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "decision_definition",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("dmn_xml", sa.Text(), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("deployed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deployed_by_id", sa.Integer(), sa.ForeignKey("app_user.id"), nullable=True),
        sa.UniqueConstraint("key", "version", name="uq_decision_definition_key_version"),
    )
    op.create_index("ix_decision_definition_key", "decision_definition", ["key"])


def downgrade() -> None:
    op.drop_index("ix_decision_definition_key", table_name="decision_definition")
    op.drop_table("decision_definition")
