"""Single sign-on (issue 20): ``external_identity``, a user's OpenID Connect account (issuer × subject).

Revision ID: 0033_oidc_identities
Revises: 0028_operations
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0033_oidc_identities"
down_revision = "0028_operations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "external_identity",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("issuer", sa.String(255), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("app_user.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("issuer", "subject", name=op.f("uq_external_identity_issuer")),
    )
    op.create_index("ix_external_identity_user_id", "external_identity", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_external_identity_user_id", table_name="external_identity")
    op.drop_table("external_identity")
