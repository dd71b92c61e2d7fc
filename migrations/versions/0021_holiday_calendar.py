"""The holiday calendar kept in the database: ``holiday_year`` (a year entered, complete),
``holiday_day`` (its holidays and adjusted working days, 调休) and a one-row version counter that the
processes read to drop their cached calendar after an edit.

Seeded from the ``chinesecalendar`` package for the years it covers (self-contained: the library, not
the application's code); later years are entered by admins when the State Council publishes them.

Revision ID: 0021_holiday_calendar
Revises: 0013_audit_seal_table
Create Date: 2026-12-02
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0021_holiday_calendar"
down_revision = "0019_households_and_people"
branch_labels = None
depends_on = None

# the library's English names, as staff read them
NAMES = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "中国人民抗日战争暨世界反法西斯战争胜利70周年纪念日",
}


def _library_days() -> list[dict]:
    from chinese_calendar import constants

    rows = []
    for kind, table in (("holiday", constants.holidays), ("workday", constants.workdays)):
        for day, name in table.items():
            rows.append({"day": day, "year": day.year, "kind": kind, "name": NAMES.get(str(name), str(name))})
    return rows


def upgrade() -> None:
    year = op.create_table(
        "holiday_year",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["updated_by_id"], ["app_user.id"], name=op.f("fk_holiday_year_updated_by_id_app_user")
        ),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_holiday_year")),
    )
    day = op.create_table(
        "holiday_day",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.CheckConstraint("kind IN ('holiday', 'workday')", name=op.f("ck_holiday_day_kind")),
        sa.ForeignKeyConstraint(
            ["year"],
            ["holiday_year.year"],
            name=op.f("fk_holiday_day_year_holiday_year"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_holiday_day")),
    )
    op.create_index("ix_holiday_day_year", "holiday_day", ["year"])
    version = op.create_table(
        "holiday_calendar_version",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_holiday_calendar_version")),
    )
    days = _library_days()
    now = dt.datetime.now(dt.UTC)
    if op.get_bind().dialect.name == "sqlite":
        now = now.replace(tzinfo=None)  # UTC columns are stored naive on SQLite
    years = sorted({d["year"] for d in days})
    op.bulk_insert(
        year, [{"year": y, "source": "library", "updated_at": now, "updated_by_id": None} for y in years]
    )
    op.bulk_insert(day, days)
    op.bulk_insert(version, [{"id": 1, "version": 1}])


def downgrade() -> None:
    op.drop_table("holiday_calendar_version")
    op.drop_index("ix_holiday_day_year", table_name="holiday_day")
    op.drop_table("holiday_day")
    op.drop_table("holiday_year")
