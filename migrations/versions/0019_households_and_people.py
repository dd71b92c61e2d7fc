"""Households and people: ``household``, ``person`` and each case's household and applicant
(``case_household``); existing cases are given the household their data names.

Revision ID: 0019_households_and_people
Revises: 0013_audit_seal_table
Create Date: 2026-12-02

Every case whose data names a person by a top-level resident ID number (``applicant_id_number``,
``head_id_number``, ``id_number``) gets a household placed in the case's org unit and that person as its
applicant; one household per number, so the cases of one family across procedures share one record.
The name is unknown in the old data: such people are registered as "待补登" (to be completed). The
case data itself is left as it is, so every procedure keeps reading its fields. Needs the personal
data keys (``ASSISTFLOW_DATA_KEYS``, ``ASSISTFLOW_INDEX_KEY``), as 0011 does.

The downgrade removes the three tables, and with them households registered since (the cases keep
their own data, as before the upgrade).
"""

import base64
import datetime as dt
import hashlib
import hmac
import os

import sqlalchemy as sa
from alembic import op
from cryptography.fernet import Fernet, MultiFernet

revision = "0019_households_and_people"
down_revision = "0018_step_records"
branch_labels = None
depends_on = None

ID_KEYS = ("applicant_id_number", "head_id_number", "id_number")
PHONE_KEYS = ("applicant_phone", "phone")
UNKNOWN_NAME = "待补登"

# --- frozen copies of what this revision needs from engine.crypto (as of 2026-12-02) ------------------
# A migration carries what it needs, so later changes to the engine cannot change what it writes.

PREFIX = "enc1:"


class _Keyring:
    """The data keys (Fernet, the first encrypts) and the blind-index key, as configured for the app."""

    def __init__(self, data_keys, index_key):
        keys = [k.strip() for k in (data_keys or "").split(",") if k.strip()]
        if not keys or not index_key:
            raise RuntimeError(
                "migration 0019 needs the personal data keys: set ASSISTFLOW_DATA_KEYS and "
                "ASSISTFLOW_INDEX_KEY (assistflow keys generate)"
            )
        self.multi = MultiFernet([Fernet(k.encode()) for k in keys])
        self.index_key = base64.urlsafe_b64decode(index_key.strip().encode())
        if len(self.index_key) < 32:
            raise RuntimeError("ASSISTFLOW_INDEX_KEY: give at least 32 url-safe base64 bytes")

    def encrypt(self, text):
        return PREFIX + self.multi.encrypt(text.encode("utf-8")).decode("ascii")

    def decrypt(self, stored):
        return self.multi.decrypt(stored[len(PREFIX) :].encode("ascii")).decode("utf-8")

    def blind_index(self, number):
        normalized = number.strip().upper()
        return hmac.new(self.index_key, normalized.encode("utf-8"), hashlib.sha256).hexdigest()


def _keyring():
    """The keys the app was configured with (``flask db upgrade`` runs in its context), else the environment."""
    try:
        from flask import current_app

        config = current_app.config
        data_keys, index_key = config.get("DATA_KEYS"), config.get("INDEX_KEY")
    except RuntimeError:  # no application context: plain alembic
        data_keys, index_key = None, None
    return _Keyring(
        data_keys or os.environ.get("ASSISTFLOW_DATA_KEYS"), index_key or os.environ.get("ASSISTFLOW_INDEX_KEY")
    )


def _is_personal_key(key):
    return "id_number" in key or key.endswith("_id_card") or "phone" in key


def _unseal(data, ring):
    """A copy with every encrypted value under a personal key decrypted."""
    if isinstance(data, dict):
        return {
            k: (
                ring.decrypt(v)
                if isinstance(v, str) and v.startswith(PREFIX) and _is_personal_key(str(k))
                else _unseal(v, ring)
            )
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [_unseal(v, ring) for v in data]
    return data


def _create_tables() -> None:
    op.create_table(
        "household",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_unit_id", sa.Integer(), nullable=False),
        sa.Column("district_id", sa.Integer(), nullable=True),
        sa.Column("street_id", sa.Integer(), nullable=True),
        sa.Column("registered_address", sa.String(length=300), nullable=True),
        sa.Column("registered_street_id", sa.Integer(), nullable=True),
        sa.Column("residence_address", sa.String(length=300), nullable=True),
        sa.Column(
            "hardship_category",
            sa.Enum(
                "dibao",
                "dibao_edge",
                "low_income",
                "expenditure",
                "other",
                name="hardship_category",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),  # fmt: skip
        sa.Column("bank_name", sa.String(length=100), nullable=True),
        sa.Column("bank_account_holder", sa.String(length=50), nullable=True),
        sa.Column("bank_account", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_unit_id"], ["org_unit.id"], name=op.f("fk_household_org_unit_id_org_unit")
        ),
        sa.ForeignKeyConstraint(
            ["district_id"], ["org_unit.id"], name=op.f("fk_household_district_id_org_unit")
        ),
        sa.ForeignKeyConstraint(["street_id"], ["org_unit.id"], name=op.f("fk_household_street_id_org_unit")),
        sa.ForeignKeyConstraint(
            ["registered_street_id"], ["org_unit.id"], name=op.f("fk_household_registered_street_id_org_unit")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["app_user.id"], name=op.f("fk_household_created_by_id_app_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_household")),
    )
    op.create_index("ix_household_district_id", "household", ["district_id"], unique=False)
    op.create_index("ix_household_street_id", "household", ["street_id"], unique=False)
    op.create_table(
        "person",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column(
            "relation",
            sa.Enum(
                "head",
                "spouse",
                "child",
                "parent",
                "grandchild",
                "grandparent",
                "sibling",
                "other",
                name="person_relation",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),  # fmt: skip
        sa.Column("id_number", sa.Text(), nullable=True),
        sa.Column("id_index", sa.String(length=64), nullable=True),
        sa.Column("id_last4", sa.String(length=4), nullable=True),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("phone_index", sa.String(length=64), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["household_id"], ["household.id"], name=op.f("fk_person_household_id_household")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person")),
    )
    op.create_index("ix_person_household_id", "person", ["household_id"], unique=False)
    op.create_index("ix_person_name", "person", ["name"], unique=False)
    op.create_index("ix_person_id_index", "person", ["id_index"], unique=True)
    op.create_index("ix_person_phone_index", "person", ["phone_index"], unique=False)
    op.create_table(
        "case_household",
        sa.Column("instance_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("applicant_person_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["process_instance.id"],
            name=op.f("fk_case_household_instance_id_process_instance"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.ForeignKeyConstraint(
            ["household_id"], ["household.id"], name=op.f("fk_case_household_household_id_household")
        ),
        sa.ForeignKeyConstraint(
            ["applicant_person_id"], ["person.id"], name=op.f("fk_case_household_applicant_person_id_person")
        ),
        sa.PrimaryKeyConstraint("instance_id", name=op.f("pk_case_household")),
    )
    op.create_index(op.f("ix_case_household_household_id"), "case_household", ["household_id"], unique=False)
    op.create_index(
        op.f("ix_case_household_applicant_person_id"), "case_household", ["applicant_person_id"], unique=False
    )


def _birth_date(number: str):
    try:
        born = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return None
    return born if dt.date(1900, 1, 1) <= born <= dt.date.today() else None


def _first(data: dict, keys: tuple[str, ...]):
    for key in keys:
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip().upper()
    return None


def _link_existing_cases() -> None:
    """One household and applicant per distinct ID number found in the cases' data."""
    ring = _keyring()
    bind = op.get_bind()
    now = dt.datetime.now(dt.UTC)
    if bind.dialect.name == "sqlite":
        now = now.replace(tzinfo=None)
    instances = sa.table(
        "process_instance", sa.column("id", sa.Integer()), sa.column("org_unit_id", sa.Integer()),
        sa.column("district_id", sa.Integer()), sa.column("street_id", sa.Integer()),
        sa.column("started_by_id", sa.Integer()), sa.column("data", sa.JSON()),
    )  # fmt: skip
    households = sa.table(
        "household", sa.column("id", sa.Integer()), sa.column("org_unit_id", sa.Integer()),
        sa.column("district_id", sa.Integer()), sa.column("street_id", sa.Integer()),
        sa.column("hardship_category", sa.String()), sa.column("created_at", sa.DateTime()),
        sa.column("created_by_id", sa.Integer()), sa.column("updated_at", sa.DateTime()),
    )  # fmt: skip
    persons = sa.table(
        "person", sa.column("id", sa.Integer()), sa.column("household_id", sa.Integer()),
        sa.column("name", sa.String()), sa.column("relation", sa.String()), sa.column("id_number", sa.Text()),
        sa.column("id_index", sa.String()), sa.column("id_last4", sa.String()), sa.column("phone", sa.Text()),
        sa.column("phone_index", sa.String()), sa.column("birth_date", sa.Date()),
        sa.column("created_at", sa.DateTime()),
    )  # fmt: skip
    links = sa.table(
        "case_household", sa.column("instance_id", sa.Integer()), sa.column("household_id", sa.Integer()),
        sa.column("applicant_person_id", sa.Integer()),
    )  # fmt: skip
    known: dict[str, tuple[int, int]] = {}  # blind index -> (household id, person id)
    rows = bind.execute(sa.select(instances).order_by(instances.c.id)).mappings().all()
    for row in rows:
        data = _unseal(row["data"] or {}, ring) if isinstance(row["data"], dict) else {}
        number = _first(data, ID_KEYS)
        if number is None:
            continue
        index = ring.blind_index(number)
        if index not in known:
            household_id = bind.execute(
                households.insert()
                .values(
                    org_unit_id=row["org_unit_id"],
                    district_id=row["district_id"],
                    street_id=row["street_id"],
                    hardship_category="other",
                    created_at=now,
                    created_by_id=row["started_by_id"],
                    updated_at=now,
                )  # fmt: skip
                .returning(households.c.id)
            ).scalar_one()
            phone = _first(data, PHONE_KEYS)
            person_id = bind.execute(
                persons.insert()
                .values(
                    household_id=household_id,
                    name=UNKNOWN_NAME,
                    relation="head",
                    id_number=ring.encrypt(number),
                    id_index=index,
                    id_last4=number[-4:],
                    phone=ring.encrypt(phone) if phone else None,
                    phone_index=ring.blind_index(phone) if phone else None,
                    birth_date=_birth_date(number),
                    created_at=now,
                )  # fmt: skip
                .returning(persons.c.id)
            ).scalar_one()
            known[index] = (household_id, person_id)
        household_id, person_id = known[index]
        bind.execute(
            links.insert().values(
                instance_id=row["id"], household_id=household_id, applicant_person_id=person_id
            )
        )


def upgrade():
    _create_tables()
    _link_existing_cases()


def downgrade():
    op.drop_table("case_household")
    op.drop_index("ix_person_phone_index", table_name="person")
    op.drop_index("ix_person_id_index", table_name="person")
    op.drop_index("ix_person_name", table_name="person")
    op.drop_index("ix_person_household_id", table_name="person")
    op.drop_table("person")
    op.drop_index("ix_household_street_id", table_name="household")
    op.drop_index("ix_household_district_id", table_name="household")
    op.drop_table("household")
