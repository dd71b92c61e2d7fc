"""Document templates (issue 16): ``document_template_version``, the versions admins save of a document
kind's template, and ``attachment.template_version``, the version a generated document was filled from
(NULL: the template file shipped with the code, or not a document).

Revision ID: 0032_document_templates
Revises: 0029_service_organisations
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0032_document_templates"
down_revision = "0029_service_organisations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "document_template_version",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created_by_id", sa.Integer(), sa.ForeignKey("app_user.id"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("kind", "version", name="uq_document_template_version_kind_version"),
    )
    with op.batch_alter_table("attachment") as batch:
        batch.add_column(sa.Column("template_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("attachment") as batch:
        batch.drop_column("template_version")
    op.drop_table("document_template_version")
