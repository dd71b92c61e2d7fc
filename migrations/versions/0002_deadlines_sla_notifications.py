"""Deadlines and three-colour SLA on human tasks, scheduler wake-ups on instances, notifications.

Revision ID: 0002_deadlines_sla_notifications
Revises: 0001_initial_schema
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_deadlines_sla_notifications"
down_revision = "0001_initial_schema"
branch_labels = None
depends_on = None

OPEN = sa.text("state IN ('ready', 'claimed')")


def upgrade():
    with op.batch_alter_table("process_instance") as batch:
        batch.add_column(sa.Column("next_wakeup_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_process_instance_next_wakeup_at", ["next_wakeup_at"], unique=False)
    with op.batch_alter_table("human_task") as batch:
        batch.add_column(sa.Column("deadline", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("warn_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("escalate_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("sla_level", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("escalated_role", sa.String(length=32), nullable=True))
    op.create_index("ix_human_task_open_due", "human_task", ["due_at"], postgresql_where=OPEN, sqlite_where=OPEN)
    op.create_index("ix_human_task_open_warn", "human_task", ["warn_at"], postgresql_where=OPEN, sqlite_where=OPEN)
    op.create_index(
        "ix_human_task_open_escalated_due",
        "human_task",
        ["escalated_role", "due_at"],
        postgresql_where=OPEN,
        sqlite_where=OPEN,
    )
    with op.batch_alter_table("app_user") as batch:
        batch.add_column(sa.Column("email", sa.String(length=254), nullable=True))
    op.create_table(
        "notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("reminder", "overdue", "escalation", "deadline_changed", name="notification_kind",
                    native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("instance_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "email_status",
            sa.Enum("none", "pending", "sent", "failed", name="email_status", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("email_attempts", sa.Integer(), nullable=False),
        sa.Column("next_email_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instance.id"],
                                name=op.f("fk_notification_instance_id_process_instance"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["task_id"], ["human_task.id"], name=op.f("fk_notification_task_id_human_task"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], name=op.f("fk_notification_user_id_app_user"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification")),
    )
    op.create_index("ix_notification_user_read", "notification", ["user_id", "read_at", "id"])
    op.create_index("ix_notification_email_status", "notification", ["email_status", "next_email_at"])


def downgrade():
    op.drop_index("ix_notification_email_status", table_name="notification")
    op.drop_index("ix_notification_user_read", table_name="notification")
    op.drop_table("notification")
    with op.batch_alter_table("app_user") as batch:
        batch.drop_column("email")
    op.drop_index("ix_human_task_open_escalated_due", table_name="human_task")
    op.drop_index("ix_human_task_open_warn", table_name="human_task")
    op.drop_index("ix_human_task_open_due", table_name="human_task")
    with op.batch_alter_table("human_task") as batch:
        batch.drop_column("escalated_role")
        batch.drop_column("sla_level")
        batch.drop_column("escalate_at")
        batch.drop_column("warn_at")
        batch.drop_column("deadline")
    with op.batch_alter_table("process_instance") as batch:
        batch.drop_index("ix_process_instance_next_wakeup_at")
        batch.drop_column("next_wakeup_at")
