"""Service organisations and their member users (a 3A referral goes to the matched organisation's
members only: ``human_task.service_org_id``), and the policy numbers that were still in Python moved into
the policy parameter sets (issue 17):

* ``comprehensive_assistance``: ``follow_up_wait`` (P30D, the follow-up visit 30 days after payment);
* ``bridge_plan_project``: ``min_avg_visits`` (5) and ``min_group_activities`` (4), 二、（四）3; and a
  version in force from 2024-01-01 adding ``city_budget`` (1,800,000 CNY, 三、1: the notice gives 2024);
* ``bridge_plan_household``: ``min_visits`` (5);
* ``twinning``: ``plan_first_year`` / ``plan_last_year`` (2021–2025) and ``shortfall_check_date`` (11-30);
* ``foundation_fee_check``: ``max_fee_rate`` (0.025);
* ``special_care_visits``: ``min_weekly_visits`` (2, Putuo 004 (九)) and ``care_weeks`` (13, our period);
* ``street_response``: each level's responders and deadline (our defaults; Putuo 004 (十) names the
  mechanism only).

The new names are added to every existing version of a procedure (a case reading the set in force when
it started finds them); the downgrade takes them out again and removes the rows it added.

Revision ID: 0029_service_organisations
Revises: 0031_decision_tables
Create Date: 2026-12-03
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0029_service_organisations"
down_revision = "0031_decision_tables"
branch_labels = None
depends_on = None

SEED_FROM = dt.date(2021, 1, 1)
NOTE_2024 = "沪民救发〔2024〕9号 三、1 市级预算 / Bridge Plan notice 2024, city budget (0029)"
# names added to the existing sets of a procedure: process key -> {name: (value, label)}
ADDED = {
    "comprehensive_assistance": {
        "follow_up_wait": (
            "P30D",
            "发放后回访间隔（ISO 8601 期间）/ follow-up visit after payment (ISO 8601)",
        ),
    },
    "twinning": {
        "plan_first_year": (2021, "规划首年 / the plan's first year"),
        "plan_last_year": (2025, "规划末年 / the plan's last year"),
        "shortfall_check_date": ("11-30", "驻点天数不足提醒日（月-日）/ day of the working-days check (MM-DD)"),
    },
    "bridge_plan_project": {
        "min_avg_visits": (5, "户均个案走访最少次数 / minimum visits per household on average"),
        "min_group_activities": (4, "每个小组最少活动次数 / minimum activities per group"),
    },
}
CITY_BUDGET = ("city_budget", 1800000, "市级年度预算总额（元）/ the city's yearly budget (CNY)")
# new sets: (process key, values, labels, note)
NEW_SETS = [
    (
        "foundation_fee_check",
        {"max_fee_rate": "0.025"},
        {"max_fee_rate": "管理费占彩票公益金项目支出的最高比例 / the highest fee rate of the spending"},
        "基金会管理费核查 / the foundation's fee check",
    ),
    (
        "bridge_plan_household",
        {"min_visits": 5},
        {"min_visits": "结案前最少走访次数（少于须说明）/ visits before closure (fewer need a reason)"},
        "桥计划通知 二、（四）3 / Bridge Plan notice",
    ),
    (
        "special_care_visits",
        {"min_weekly_visits": 2, "care_weeks": 13},
        {
            "min_weekly_visits": "每周最少走访次数（按不同日期）/ minimum visits a week (distinct days)",
            "care_weeks": "一个关爱周期的周数 / weeks in one care period",
        },
        "2024年普陀区社会救助工作要点（九）/ Putuo work points 2024 (9)",
    ),
    (
        "street_response",
        {
            "level1_responders": "district_civil_affairs,street_office,police,medical",
            "level2_responders": "street_office,committee,police",
            "level3_responders": "street_office",
            "level1_deadline": "2 hours",
            "level2_deadline": "6 hours",
            "level3_deadline": "24 hours",
        },
        {
            "level1_responders": "一级响应必须到场的力量（逗号分隔）/ level 1 responders (comma-separated)",
            "level2_responders": "二级响应必须到场的力量（逗号分隔）/ level 2 responders (comma-separated)",
            "level3_responders": "三级响应必须到场的力量（逗号分隔）/ level 3 responders (comma-separated)",
            "level1_deadline": "一级响应时限 / level 1 deadline",
            "level2_deadline": "二级响应时限 / level 2 deadline",
            "level3_deadline": "三级响应时限 / level 3 deadline",
        },
        "2024年普陀区社会救助工作要点（十），默认值 / Putuo work points 2024 (10), our defaults",
    ),
]

_SETS = sa.table(
    "policy_parameter_set",
    sa.column("id", sa.Integer),
    sa.column("process_key", sa.String),
    sa.column("version", sa.Integer),
    sa.column("effective_from", sa.Date),
    sa.column("values", sa.JSON),
    sa.column("labels", sa.JSON),
    sa.column("note", sa.String),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("created_by_id", sa.Integer),
)


def _now() -> dt.datetime:
    now = dt.datetime.now(dt.UTC)
    return now.replace(tzinfo=None) if op.get_bind().dialect.name == "sqlite" else now


def _rows(key: str) -> list:
    return list(
        op.get_bind().execute(
            sa.select(_SETS.c.id, _SETS.c.version, _SETS.c["values"], _SETS.c.labels, _SETS.c.effective_from)
            .where(_SETS.c.process_key == key)
            .order_by(_SETS.c.version)
        )
    )


def _policy_upgrade() -> None:
    bind = op.get_bind()
    for key, names in ADDED.items():
        for row in _rows(key):
            values, labels = dict(row._mapping["values"]), dict(row.labels)
            for name, (value, label) in names.items():
                values.setdefault(name, value)
                labels.setdefault(name, label)
            bind.execute(sa.update(_SETS).where(_SETS.c.id == row.id).values(values=values, labels=labels))
    rows = _rows("bridge_plan_project")
    if rows:  # the 2024 figure: a version in force from 1 January 2024 (later versions keep theirs)
        base = max((r for r in rows if r.effective_from <= dt.date(2024, 1, 1)), key=lambda r: r.version)
        name, value, label = CITY_BUDGET
        bind.execute(
            sa.insert(_SETS).values(
                process_key="bridge_plan_project",
                version=rows[-1].version + 1,
                effective_from=dt.date(2024, 1, 1),
                values={**base._mapping["values"], name: value},
                labels={**base.labels, name: label},
                note=NOTE_2024,
                created_at=_now(),
                created_by_id=None,
            )
        )
    for key, values, labels, note in NEW_SETS:
        if _rows(key):
            continue
        bind.execute(
            sa.insert(_SETS).values(
                process_key=key,
                version=1,
                effective_from=SEED_FROM,
                values=values,
                labels=labels,
                note=note,
                created_at=_now(),
                created_by_id=None,
            )
        )


def _policy_downgrade() -> None:
    bind = op.get_bind()
    for key, _values, _labels, note in NEW_SETS:
        bind.execute(sa.delete(_SETS).where(_SETS.c.process_key == key, _SETS.c.note == note))
    bind.execute(
        sa.delete(_SETS).where(_SETS.c.process_key == "bridge_plan_project", _SETS.c.note == NOTE_2024)
    )
    for key, names in ADDED.items():
        for row in _rows(key):
            values = {k: v for k, v in row._mapping["values"].items() if k not in names}
            labels = {k: v for k, v in row.labels.items() if k not in names}
            bind.execute(sa.update(_SETS).where(_SETS.c.id == row.id).values(values=values, labels=labels))


def upgrade() -> None:
    op.create_table(
        "service_organisation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("district_id", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["app_user.id"], name=op.f("fk_service_organisation_created_by_id_app_user")
        ),
        sa.ForeignKeyConstraint(
            ["district_id"], ["org_unit.id"], name=op.f("fk_service_organisation_district_id_org_unit")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_organisation")),
        sa.UniqueConstraint("code", name=op.f("uq_service_organisation_code")),
    )
    op.create_table(
        "service_organisation_member",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("added_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["added_by_id"], ["app_user.id"], name=op.f("fk_service_organisation_member_added_by_id_app_user")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["service_organisation.id"],
            name="fk_service_org_member_organisation",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["app_user.id"],
            name=op.f("fk_service_organisation_member_user_id_app_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_organisation_member")),
        sa.UniqueConstraint("organisation_id", "user_id", name="uq_service_org_member"),
    )
    op.create_index(
        op.f("ix_service_organisation_member_organisation_id"),
        "service_organisation_member",
        ["organisation_id"],
    )
    op.create_index(
        op.f("ix_service_organisation_member_user_id"), "service_organisation_member", ["user_id"]
    )
    # A plain ADD COLUMN (no table rebuild: the partial indexes of human_task stay as they are)
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "ALTER TABLE human_task ADD COLUMN service_org_id INTEGER REFERENCES service_organisation (id)"
        )
    else:
        op.add_column("human_task", sa.Column("service_org_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            op.f("fk_human_task_service_org_id_service_organisation"),
            "human_task",
            "service_organisation",
            ["service_org_id"],
            ["id"],
        )
    _policy_upgrade()


def downgrade() -> None:
    _policy_downgrade()
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(
            op.f("fk_human_task_service_org_id_service_organisation"), "human_task", type_="foreignkey"
        )
    op.drop_column("human_task", "service_org_id")
    op.drop_index(op.f("ix_service_organisation_member_user_id"), table_name="service_organisation_member")
    op.drop_index(
        op.f("ix_service_organisation_member_organisation_id"), table_name="service_organisation_member"
    )
    op.drop_table("service_organisation_member")
    op.drop_table("service_organisation")
