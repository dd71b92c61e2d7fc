"""Open-task indexes led by the scope column (district / street), then role, then due date; the
escalated-role index holds escalated tasks only.

Inbox and dashboard queries filter open tasks by the viewer's district or street first; with the
unit column leading, one index range serves "claimable", "overdue" and the SLA counts of a district.

Revision ID: 0007_open_task_scope_indexes
Revises: 0006_parent_and_service_ledger
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_open_task_scope_indexes"
down_revision = "0006_parent_and_service_ledger"
branch_labels = None
depends_on = None

OPEN = sa.text("state IN ('ready', 'claimed')")
OPEN_ESCALATED = sa.text("state IN ('ready', 'claimed') AND escalated_role IS NOT NULL")


def _create(name: str, columns: list[str], where: sa.TextClause = OPEN) -> None:
    op.create_index(name, "human_task", columns, unique=False, postgresql_where=where, sqlite_where=where)


def upgrade():
    op.drop_index("ix_human_task_open_role_district_due", table_name="human_task")
    op.drop_index("ix_human_task_open_role_street_due", table_name="human_task")
    _create("ix_human_task_open_district_role_due", ["district_id", "candidate_role", "due_at"])
    _create("ix_human_task_open_street_role_due", ["street_id", "candidate_role", "due_at"])
    # escalated tasks only: its statistics then show how few they are, so the planners use it
    op.drop_index("ix_human_task_open_escalated_due", table_name="human_task")
    _create("ix_human_task_open_escalated_due", ["escalated_role", "due_at"], OPEN_ESCALATED)


def downgrade():
    op.drop_index("ix_human_task_open_escalated_due", table_name="human_task")
    _create("ix_human_task_open_escalated_due", ["escalated_role", "due_at"])
    op.drop_index("ix_human_task_open_street_role_due", table_name="human_task")
    op.drop_index("ix_human_task_open_district_role_due", table_name="human_task")
    _create("ix_human_task_open_role_street_due", ["candidate_role", "street_id", "due_at"])
    _create("ix_human_task_open_role_district_due", ["candidate_role", "district_id", "due_at"])
