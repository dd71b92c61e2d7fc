"""Case page indexes (issue 15): a case's finished tasks and its step records in the order the case page
pages them, so a page of a household with hundreds of visits is read from the index, newest or oldest
first, without sorting every row of the case.

Revision ID: 0035_case_page_indexes
Revises: 0030_message_subscriptions
Create Date: 2026-12-03
"""

from alembic import op

revision = "0035_case_page_indexes"
down_revision = "0030_message_subscriptions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_human_task_instance_completed", "human_task", ["instance_id", "completed_at", "id"])
    op.create_index("ix_step_record_instance_completed", "step_record", ["instance_id", "completed_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_step_record_instance_completed", table_name="step_record")
    op.drop_index("ix_human_task_instance_completed", table_name="human_task")
