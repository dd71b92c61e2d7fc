"""Server-side web sessions, forced password change, login lockout per source address.

``web_session`` holds one row per logged-in browser (the cookie carries the raw id, the row its hash),
so logout, a password change and deactivation end sessions on the server and the lifetime is fixed at
login. ``app_user.must_change_password`` marks published (demo) passwords. ``login_failure`` gains an
index by source address for the address-wide limit.

Revision ID: 0014_sessions_and_login_guard
Revises: 0013_audit_seal_table
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_sessions_and_login_guard"
down_revision = "0013_audit_seal_table"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "web_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["app_user.id"], name=op.f("fk_web_session_user_id_app_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_web_session_token_hash")),
    )
    op.create_index(op.f("ix_web_session_user_id"), "web_session", ["user_id"], unique=False)
    # A plain ADD COLUMN (SQLite has it): a batch would rebuild app_user, which every case row refers to.
    op.add_column(
        "app_user", sa.Column("must_change_password", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.create_index("ix_login_failure_remote_addr_at", "login_failure", ["remote_addr", "at"], unique=False)


def downgrade():
    op.drop_index("ix_login_failure_remote_addr_at", table_name="login_failure")
    op.drop_column("app_user", "must_change_password")  # SQLite ≥ 3.35 drops a column in place
    op.drop_index(op.f("ix_web_session_user_id"), table_name="web_session")
    op.drop_table("web_session")
