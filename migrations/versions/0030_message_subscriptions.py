"""Messages and signals between cases (issue 19): ``message_subscription`` (what each case waits for,
with its correlation key) and ``message_buffer`` (messages that arrived before their receiver waited).

Revision ID: 0030_message_subscriptions
Revises: 0032_document_templates
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0030_message_subscriptions"
down_revision = "0032_document_templates"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "message_subscription",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "instance_id",
            sa.Integer(),
            sa.ForeignKey(
                "process_instance.id",
                ondelete="CASCADE",
                name="fk_message_subscription_instance_id_process_instance",
            ),
            nullable=False,
        ),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("correlation_key", sa.String(200), nullable=True),
        sa.Column("bpmn_id", sa.String(200), nullable=False),
        sa.Column("label", sa.String(200), nullable=True),
        sa.Column("waiting", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_message_subscription_lookup",
        "message_subscription",
        ["kind", "name", "correlation_key", "waiting"],
    )
    op.create_index("ix_message_subscription_instance_id", "message_subscription", ["instance_id"])
    op.create_table(
        "message_buffer",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("correlation_key", sa.String(200), nullable=True),
        sa.Column("payload", sa.JSON(none_as_null=True), nullable=True),
        sa.Column(
            "sender_instance_id",
            sa.Integer(),
            sa.ForeignKey(
                "process_instance.id",
                ondelete="SET NULL",
                name="fk_message_buffer_sender_instance_id_process_instance",
            ),
            nullable=True,
        ),
        sa.Column(
            "sent_by_id",
            sa.Integer(),
            sa.ForeignKey("app_user.id", name="fk_message_buffer_sent_by_id_app_user"),
            nullable=True,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_message_buffer_lookup", "message_buffer", ["name", "correlation_key"])
    op.create_index("ix_message_buffer_expires_at", "message_buffer", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_message_buffer_expires_at", table_name="message_buffer")
    op.drop_index("ix_message_buffer_lookup", table_name="message_buffer")
    op.drop_table("message_buffer")
    op.drop_index("ix_message_subscription_instance_id", table_name="message_subscription")
    op.drop_index("ix_message_subscription_lookup", table_name="message_subscription")
    op.drop_table("message_subscription")
