"""Policy parameter sets: versioned, effective-dated numbers per procedure (caps, counts, thresholds),
seeded with the numbers the shipped procedures used to carry in their diagrams' settings scripts.

Revision ID: 0027_policy_parameters
Revises: 0026_attachments
Create Date: 2026-12-03
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0027_policy_parameters"
down_revision = "0026_attachments"
branch_labels = None
depends_on = None

SEED_FROM = dt.date(2021, 1, 1)
# (process key, values, labels "中文 / English", note): the notices' numbers as of this revision
SEED = [
    (
        "bridge_plan_project",
        {
            "per_household_cap": 5000,
            "min_households": 20,
            "min_qualified_staff": 3,
            "min_typical_cases": 5,
            "report_months": 7,
        },
        {
            "per_household_cap": "每户平均预算上限（元）/ budget cap per household (CNY)",
            "min_households": "最少服务户数 / minimum households",
            "min_qualified_staff": "最少持证工作人员 / minimum qualified staff",
            "min_typical_cases": "最少典型案例 / minimum typical cases",
            "report_months": "月报次数 / monthly reports",
        },
        "桥计划通知 / Bridge Plan notice",
    ),
    (
        "comprehensive_assistance",
        {"review_quorum": 5, "district_threshold": 20000, "emergency_cap": 5000},
        {
            "review_quorum": "民主评议最少人数 / democratic review quorum",
            "emergency_cap": "街镇先行救助上限（元）/ street cap on help-first payments (CNY)",
            "district_threshold": "区级审批金额起点（元）/ amount from which the district approves (CNY)",
        },
        "综合帮扶通知 / comprehensive assistance notice",
    ),
    (
        "twinning",
        {"annual_subsidy": 30000, "min_workers": 2, "min_service_years": 2, "min_working_days": 40},
        {
            "annual_subsidy": "每年补贴（元）/ yearly subsidy (CNY)",
            "min_workers": "最少派出社工 / minimum social workers",
            "min_service_years": "最少服务年限 / minimum years of service",
            "min_working_days": "每年最少驻点工作日 / minimum working days on site a year",
        },
        "沪甘结对通知 / Twinning notice",
    ),
    (
        "demo_assistance",
        {"district_review_threshold": 5000},
        {"district_review_threshold": "区级复核金额起点（元）/ amount from which the district reviews (CNY)"},
        "示例流程 / demo procedure",
    ),
]


def upgrade() -> None:
    table = op.create_table(
        "policy_parameter_set",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("process_key", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["app_user.id"], name=op.f("fk_policy_parameter_set_created_by_id_app_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_parameter_set")),
        sa.UniqueConstraint("process_key", "version", name="uq_policy_parameter_set_key_version"),
    )
    op.create_index(
        op.f("ix_policy_parameter_set_process_key"), "policy_parameter_set", ["process_key"], unique=False
    )
    now = dt.datetime.now(dt.UTC)
    if op.get_bind().dialect.name == "sqlite":
        now = now.replace(tzinfo=None)  # UTC columns are stored naive on SQLite
    op.bulk_insert(
        table,
        [
            {
                "process_key": key,
                "version": 1,
                "effective_from": SEED_FROM,
                "values": values,
                "labels": labels,
                "note": note,
                "created_at": now,
                "created_by_id": None,
            }
            for key, values, labels, note in SEED
        ],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_policy_parameter_set_process_key"), table_name="policy_parameter_set")
    op.drop_table("policy_parameter_set")
