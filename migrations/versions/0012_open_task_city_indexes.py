"""Open-task indexes for city-wide views: the role index gains the state, the due-date index the SLA
thresholds.

A city-level role's claimable list ("ready" tasks of that role) is one range of
``ix_human_task_open_role_state_due`` in due order, and its count reads that index alone; before, every
open task of the role was read from the table to test its state. ``ix_human_task_open_due_sla`` keeps
the due order the city-wide lists walk and adds warn_at, escalate_at and state, so the city's SLA colour
counts read only this index (PostgreSQL index-only scan; SQLite covering index, for which the state must
be a column, not only the partial-index condition). Both replace an index: no more index writes per task.

Revision ID: 0012_open_task_city_indexes
Revises: 0011_personal_data_encrypted
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_open_task_city_indexes"
down_revision = "0011_personal_data_encrypted"
branch_labels = None
depends_on = None

OPEN = sa.text("state IN ('ready', 'claimed')")


def _create(name: str, columns: list[str]) -> None:
    op.create_index(name, "human_task", columns, unique=False, postgresql_where=OPEN, sqlite_where=OPEN)


def upgrade():
    _create("ix_human_task_open_role_state_due", ["candidate_role", "state", "due_at"])
    op.drop_index("ix_human_task_open_role_due", table_name="human_task")
    _create("ix_human_task_open_due_sla", ["due_at", "warn_at", "escalate_at", "state"])
    op.drop_index("ix_human_task_open_due", table_name="human_task")


def downgrade():
    _create("ix_human_task_open_due", ["due_at"])
    op.drop_index("ix_human_task_open_due_sla", table_name="human_task")
    _create("ix_human_task_open_role_due", ["candidate_role", "due_at"])
    op.drop_index("ix_human_task_open_role_state_due", table_name="human_task")
