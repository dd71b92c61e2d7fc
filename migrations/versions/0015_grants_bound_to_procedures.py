"""Role grants bound to their procedures and, for agencies, to the projects or pairings they serve.

``role_grant.procedures`` lists the process keys (or families: a key prefix ending in ``*``) a grant
covers; NULL keeps the default, so existing grants keep working: admins and the supervising roles
(street head, district officer and head, city officer) cover every procedure inside their unit, every
other role covers the procedures whose BPMN gives one of its steps (lane, candidate group or escalation)
to that role. ``role_grant.bound_to`` lists the business keys of the Bridge Plan projects or Twinning
pairings an agency is contracted for (the cases with that business key and their sub-cases); NULL means
not bound. See engine/scope.py.

Revision ID: 0015_grants_bound_to_procedures
Revises: 0013_audit_seal_table
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_grants_bound_to_procedures"
down_revision = "0014_sessions_and_login_guard"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("role_grant") as batch:
        batch.add_column(sa.Column("procedures", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("bound_to", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("role_grant") as batch:
        batch.drop_column("bound_to")
        batch.drop_column("procedures")
