"""Initial schema: org units, users and role grants, API tokens, versioned process definitions,
process instances, human tasks and the audit log.

Revision ID: 0001_initial_schema
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_initial_schema"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('app_user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=100), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('locale', sa.String(length=8), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_app_user')),
    sa.UniqueConstraint('username', name=op.f('uq_app_user_username'))
    )
    op.create_table('org_unit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('level', sa.Enum('city', 'district', 'street', 'committee', name='org_level', native_enum=False, length=16), nullable=False),
    sa.Column('name_zh', sa.String(length=100), nullable=False),
    sa.Column('name_en', sa.String(length=200), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('district_id', sa.Integer(), nullable=True),
    sa.Column('street_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['district_id'], ['org_unit.id'], name=op.f('fk_org_unit_district_id_org_unit')),
    sa.ForeignKeyConstraint(['parent_id'], ['org_unit.id'], name=op.f('fk_org_unit_parent_id_org_unit')),
    sa.ForeignKeyConstraint(['street_id'], ['org_unit.id'], name=op.f('fk_org_unit_street_id_org_unit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_org_unit')),
    sa.UniqueConstraint('code', name=op.f('uq_org_unit_code'))
    )
    op.create_index(op.f('ix_org_unit_parent_id'), 'org_unit', ['parent_id'], unique=False)
    op.create_table('api_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_api_token_user_id_app_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_token')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_token_token_hash'))
    )
    op.create_index(op.f('ix_api_token_user_id'), 'api_token', ['user_id'], unique=False)
    op.create_table('process_definition',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('bpmn_xml', sa.Text(), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('deployed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deployed_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['deployed_by_id'], ['app_user.id'], name=op.f('fk_process_definition_deployed_by_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_process_definition')),
    sa.UniqueConstraint('key', 'version', name='uq_process_definition_key_version')
    )
    op.create_index('ix_process_definition_key_sha256', 'process_definition', ['key', 'sha256'], unique=False)
    op.create_table('role_grant',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.Enum('advisor', 'street_officer', 'street_head', 'review_panel', 'finance', 'district_officer', 'district_head', 'foundation', 'city_officer', 'agency_worker', 'agency_lead', 'gansu_officer', 'aided_agency', 'supervisor_expert', 'admin', name='role', native_enum=False, length=32), nullable=False),
    sa.Column('org_unit_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['org_unit_id'], ['org_unit.id'], name=op.f('fk_role_grant_org_unit_id_org_unit')),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_role_grant_user_id_app_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_role_grant')),
    sa.UniqueConstraint('user_id', 'role', 'org_unit_id', name=op.f('uq_role_grant_user_id'))
    )
    op.create_index(op.f('ix_role_grant_user_id'), 'role_grant', ['user_id'], unique=False)
    op.create_table('process_instance',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('definition_id', sa.Integer(), nullable=False),
    sa.Column('process_key', sa.String(length=100), nullable=False),
    sa.Column('business_key', sa.String(length=100), nullable=True),
    sa.Column('org_unit_id', sa.Integer(), nullable=False),
    sa.Column('district_id', sa.Integer(), nullable=True),
    sa.Column('street_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.Enum('running', 'suspended', 'completed', 'terminated', name='instance_status', native_enum=False, length=16), nullable=False),
    sa.Column('started_by_id', sa.Integer(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('state', sa.Text(), nullable=False),
    sa.Column('data', sa.JSON(none_as_null=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['definition_id'], ['process_definition.id'], name=op.f('fk_process_instance_definition_id_process_definition')),
    sa.ForeignKeyConstraint(['district_id'], ['org_unit.id'], name=op.f('fk_process_instance_district_id_org_unit')),
    sa.ForeignKeyConstraint(['org_unit_id'], ['org_unit.id'], name=op.f('fk_process_instance_org_unit_id_org_unit')),
    sa.ForeignKeyConstraint(['started_by_id'], ['app_user.id'], name=op.f('fk_process_instance_started_by_id_app_user')),
    sa.ForeignKeyConstraint(['street_id'], ['org_unit.id'], name=op.f('fk_process_instance_street_id_org_unit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_process_instance'))
    )
    op.create_index(op.f('ix_process_instance_business_key'), 'process_instance', ['business_key'], unique=False)
    op.create_index(op.f('ix_process_instance_definition_id'), 'process_instance', ['definition_id'], unique=False)
    op.create_index('ix_process_instance_key_status', 'process_instance', ['process_key', 'status'], unique=False)
    op.create_index('ix_process_instance_org_started', 'process_instance', ['org_unit_id', 'started_at'], unique=False)
    op.create_table('human_task',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=False),
    sa.Column('process_key', sa.String(length=100), nullable=False),
    sa.Column('spiff_task_id', sa.String(length=36), nullable=False),
    sa.Column('bpmn_id', sa.String(length=100), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('lane', sa.String(length=200), nullable=True),
    sa.Column('candidate_role', sa.String(length=32), nullable=False),
    sa.Column('org_unit_id', sa.Integer(), nullable=False),
    sa.Column('district_id', sa.Integer(), nullable=True),
    sa.Column('street_id', sa.Integer(), nullable=True),
    sa.Column('assignee_id', sa.Integer(), nullable=True),
    sa.Column('state', sa.Enum('ready', 'claimed', 'completed', 'cancelled', name='task_status', native_enum=False, length=16), nullable=False),
    sa.Column('form_key', sa.String(length=100), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['assignee_id'], ['app_user.id'], name=op.f('fk_human_task_assignee_id_app_user')),
    sa.ForeignKeyConstraint(['completed_by_id'], ['app_user.id'], name=op.f('fk_human_task_completed_by_id_app_user')),
    sa.ForeignKeyConstraint(['district_id'], ['org_unit.id'], name=op.f('fk_human_task_district_id_org_unit')),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], name=op.f('fk_human_task_instance_id_process_instance'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['org_unit_id'], ['org_unit.id'], name=op.f('fk_human_task_org_unit_id_org_unit')),
    sa.ForeignKeyConstraint(['street_id'], ['org_unit.id'], name=op.f('fk_human_task_street_id_org_unit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_human_task')),
    sa.UniqueConstraint('spiff_task_id', name=op.f('uq_human_task_spiff_task_id'))
    )
    op.create_index('ix_human_task_assignee_state_due', 'human_task', ['assignee_id', 'state', 'due_at'], unique=False)
    op.create_index('ix_human_task_instance_state', 'human_task', ['instance_id', 'state'], unique=False)
    op.create_index('ix_human_task_open_role_district_due', 'human_task', ['candidate_role', 'district_id', 'due_at'], unique=False, postgresql_where=sa.text("state IN ('ready', 'claimed')"), sqlite_where=sa.text("state IN ('ready', 'claimed')"))
    op.create_index('ix_human_task_open_role_due', 'human_task', ['candidate_role', 'due_at'], unique=False, postgresql_where=sa.text("state IN ('ready', 'claimed')"), sqlite_where=sa.text("state IN ('ready', 'claimed')"))
    op.create_index('ix_human_task_open_role_street_due', 'human_task', ['candidate_role', 'street_id', 'due_at'], unique=False, postgresql_where=sa.text("state IN ('ready', 'claimed')"), sqlite_where=sa.text("state IN ('ready', 'claimed')"))
    op.create_table('audit_event',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('instance_id', sa.Integer(), nullable=True),
    sa.Column('task_id', sa.Integer(), nullable=True),
    sa.Column('definition_id', sa.Integer(), nullable=True),
    sa.Column('details', sa.JSON(none_as_null=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['app_user.id'], name=op.f('fk_audit_event_actor_id_app_user')),
    sa.ForeignKeyConstraint(['definition_id'], ['process_definition.id'], name=op.f('fk_audit_event_definition_id_process_definition')),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], name=op.f('fk_audit_event_instance_id_process_instance'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['task_id'], ['human_task.id'], name=op.f('fk_audit_event_task_id_human_task'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_event'))
    )
    op.create_index('ix_audit_event_instance_id_id', 'audit_event', ['instance_id', 'id'], unique=False)


def downgrade():
    op.drop_index('ix_audit_event_instance_id_id', table_name='audit_event')
    op.drop_table('audit_event')
    op.drop_index('ix_human_task_open_role_street_due', table_name='human_task', postgresql_where=sa.text("state IN ('ready', 'claimed')"), sqlite_where=sa.text("state IN ('ready', 'claimed')"))
    op.drop_index('ix_human_task_open_role_due', table_name='human_task', postgresql_where=sa.text("state IN ('ready', 'claimed')"), sqlite_where=sa.text("state IN ('ready', 'claimed')"))
    op.drop_index('ix_human_task_open_role_district_due', table_name='human_task', postgresql_where=sa.text("state IN ('ready', 'claimed')"), sqlite_where=sa.text("state IN ('ready', 'claimed')"))
    op.drop_index('ix_human_task_instance_state', table_name='human_task')
    op.drop_index('ix_human_task_assignee_state_due', table_name='human_task')
    op.drop_table('human_task')
    op.drop_index('ix_process_instance_org_started', table_name='process_instance')
    op.drop_index('ix_process_instance_key_status', table_name='process_instance')
    op.drop_index(op.f('ix_process_instance_definition_id'), table_name='process_instance')
    op.drop_index(op.f('ix_process_instance_business_key'), table_name='process_instance')
    op.drop_table('process_instance')
    op.drop_index(op.f('ix_role_grant_user_id'), table_name='role_grant')
    op.drop_table('role_grant')
    op.drop_index('ix_process_definition_key_sha256', table_name='process_definition')
    op.drop_table('process_definition')
    op.drop_index(op.f('ix_api_token_user_id'), table_name='api_token')
    op.drop_table('api_token')
    op.drop_index(op.f('ix_org_unit_parent_id'), table_name='org_unit')
    op.drop_table('org_unit')
    op.drop_table('app_user')

