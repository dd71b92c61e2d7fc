"""Personal data encrypted at rest: blind-index columns, and every stored ID or phone number encrypted.

Revision ID: 0011_personal_data_encrypted
Revises: 0010_form_versions
Create Date: 2026-11-27

Needs the keys (``ASSISTFLOW_DATA_KEYS``, ``ASSISTFLOW_INDEX_KEY``; see ``engine.crypto``) in the
environment of ``assistflow db upgrade``: existing rows are encrypted with the current key — the
workflow state as a whole, the ID and phone values inside process data, idempotent responses and audit
details, the ledger's and the near-relative filings' numbers (which also get their blind index). The
downgrade decrypts everything back (same keys needed).

Audit events are append-only (0008's triggers): this revision lifts the triggers for the one rewrite
of ``details``, re-seals the whole hash chain over the stored (encrypted) form and restores the
triggers. The chain head hash therefore changes here: re-anchor the hash printed by
``assistflow audit verify`` after upgrading.
"""

import base64
import datetime as dt
import hashlib
import hmac
import importlib.util
import json
import os
import zlib
from pathlib import Path

import sqlalchemy as sa
from alembic import op
from cryptography.fernet import Fernet, MultiFernet

revision = "0011_personal_data_encrypted"
down_revision = "0010_form_versions"
branch_labels = None
depends_on = None


# --- frozen copies of what this revision needs from engine.crypto and engine.audit.chain -------------
# A migration carries what it needs: these are the engine's functions as they were at this revision
# (2026-11-27), so later changes to the engine cannot change what this migration writes or reads.

PREFIX = "enc1:"
ZPREFIX = "encz1:"  # written by the engine after this revision (compressed state); the downgrade reads it
GENESIS = "0" * 64


class _Keyring:
    """The data keys (Fernet, the first encrypts) and the blind-index key, as configured for the app."""

    def __init__(self, data_keys, index_key):
        keys = [k.strip() for k in (data_keys or "").split(",") if k.strip()]
        if not keys or not index_key:
            raise RuntimeError(
                "migration 0011 needs the personal data keys: set ASSISTFLOW_DATA_KEYS and "
                "ASSISTFLOW_INDEX_KEY (assistflow keys generate)"
            )
        self.multi = MultiFernet([Fernet(k.encode()) for k in keys])
        self.index_key = base64.urlsafe_b64decode(index_key.strip().encode())
        if len(self.index_key) < 32:
            raise RuntimeError("ASSISTFLOW_INDEX_KEY: give at least 32 url-safe base64 bytes")

    def encrypt(self, text):
        return PREFIX + self.multi.encrypt(text.encode("utf-8")).decode("ascii")

    def decrypt(self, stored):
        if stored.startswith(ZPREFIX):
            return zlib.decompress(self.multi.decrypt(stored[len(ZPREFIX) :].encode("ascii"))).decode("utf-8")
        if not stored.startswith(PREFIX):
            raise RuntimeError("value is not encrypted (expected enc1:…)")
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


def _seal(data, ring):
    if isinstance(data, dict):
        return {
            k: ring.encrypt(v) if isinstance(v, str) and _is_personal_key(str(k)) else _seal(v, ring)
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [_seal(v, ring) for v in data]
    return data


def _unseal(data, ring):
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


def _at(value):
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds")


def event_hash(row, seq, prev_hash):
    """SHA-256 of sorted-key compact JSON of every field of one event, its position and the prev hash."""
    payload = {
        "id": row["id"],
        "seq": seq,
        "at": _at(row["at"]),
        "action": row["action"],
        "actor_id": row["actor_id"],
        "instance_id": row["instance_id"],
        "task_id": row["task_id"],
        "definition_id": row["definition_id"],
        "details": row["details"],
        "prev_hash": prev_hash,
    }
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _m0008():
    path = Path(__file__).with_name("0008_audit_chain_and_lockout.py")
    spec = importlib.util.spec_from_file_location("_m0008", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _triggers(create: bool) -> None:
    bind = op.get_bind()
    m = _m0008()
    if bind.dialect.name == "postgresql":
        if create:
            op.execute(m.PG_FUNCTION)
            for statement in m.PG_TRIGGERS:
                op.execute(statement)
        else:
            op.execute("DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event")
            op.execute("DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_event")
            op.execute("DROP FUNCTION IF EXISTS audit_event_append_only()")
    elif create:
        for statement in m.SQLITE_TRIGGERS:
            op.execute(statement)
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_delete")
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_update")


def _convert(forward: bool) -> None:
    """Encrypt (forward) or decrypt every stored personal value, then re-seal the audit chain."""
    ring = _keyring()
    bind = op.get_bind()
    text = ring.encrypt if forward else ring.decrypt
    json_ = (lambda v: _seal(v, ring)) if forward else (lambda v: _unseal(v, ring))

    instances = sa.table(
        "process_instance", sa.column("id", sa.Integer()), sa.column("state", sa.Text()),
        sa.column("data", sa.JSON()),
    )  # fmt: skip
    for row in bind.execute(sa.select(instances)).mappings().all():
        bind.execute(
            instances.update()
            .where(instances.c.id == row["id"])
            .values(state=text(row["state"]), data=None if row["data"] is None else json_(row["data"]))
        )
    keys = sa.table("idempotency_key", sa.column("id", sa.Integer()), sa.column("response", sa.JSON()))
    for row in bind.execute(sa.select(keys)).mappings().all():
        if row["response"] is not None:
            bind.execute(keys.update().where(keys.c.id == row["id"]).values(response=json_(row["response"])))
    for table, column, index in (
        ("service_record", "household_id_number", "household_id_index"),
        ("near_relative_filing", "relative_id_number", "relative_id_index"),
    ):
        t = sa.table(table, sa.column("id", sa.Integer()), sa.column(column, sa.Text()), sa.column(index))
        for row in bind.execute(sa.select(t.c.id, t.c[column])).mappings().all():
            if row[column] is None:
                continue
            values = {column: text(row[column])}
            if forward:
                values[index] = ring.blind_index(row[column])
            bind.execute(t.update().where(t.c.id == row["id"]).values(**values))

    events = sa.table(
        "audit_event",
        *(sa.column(c, sa.Integer()) for c in ("id", "actor_id", "instance_id", "task_id", "definition_id")),
        sa.column("at", sa.DateTime(timezone=True)), sa.column("action", sa.String()),
        sa.column("details", sa.JSON()), sa.column("seq", sa.Integer()),
        sa.column("prev_hash", sa.String()), sa.column("hash", sa.String()),
    )  # fmt: skip
    _triggers(create=False)
    # Events not sealed yet (the scheduler seals them after commit) are converted in place and sealed
    # later, over their new stored form.
    unsealed = bind.execute(sa.select(events.c.id, events.c.details).where(events.c.seq.is_(None)))
    for row in unsealed.mappings().all():
        if row["details"] is not None:
            bind.execute(events.update().where(events.c.id == row["id"]).values(details=json_(row["details"])))
    seq, prev = 0, GENESIS
    rows = bind.execute(sa.select(events).where(events.c.seq.is_not(None)).order_by(events.c.seq))
    for row in rows.mappings().all():
        details = row["details"] if row["details"] is None else json_(row["details"])
        seq += 1
        digest = event_hash({**row, "details": details}, seq, prev)
        bind.execute(
            events.update()
            .where(events.c.id == row["id"])
            .values(details=details, seq=seq, prev_hash=prev, hash=digest)
        )
        prev = digest
    head = sa.table("audit_chain_head", sa.column("id"), sa.column("seq"), sa.column("hash"))
    bind.execute(head.update().where(head.c.id == 1).values(seq=seq, hash=prev))
    _triggers(create=True)


def upgrade():
    with op.batch_alter_table("service_record") as batch:
        batch.drop_index("ix_service_record_household")
        batch.alter_column("household_id_number", type_=sa.Text(), existing_type=sa.String(length=18))
        batch.add_column(sa.Column("household_id_index", sa.String(length=64), nullable=True))
    with op.batch_alter_table("near_relative_filing") as batch:
        batch.drop_index("ix_near_relative_filing_relative_id_number")
        batch.alter_column(
            "relative_id_number", type_=sa.Text(), existing_type=sa.String(length=18), existing_nullable=False
        )
        batch.add_column(sa.Column("relative_id_index", sa.String(length=64), nullable=True))
    _convert(forward=True)
    with op.batch_alter_table("near_relative_filing") as batch:
        batch.alter_column("relative_id_index", nullable=False, existing_type=sa.String(length=64))
        batch.create_index(
            "ix_near_relative_filing_relative_id_index", ["relative_id_index", "active"], unique=False
        )
    with op.batch_alter_table("service_record") as batch:
        batch.create_index("ix_service_record_household", ["household_id_index"], unique=False)


def downgrade():
    _convert(forward=False)
    with op.batch_alter_table("service_record") as batch:
        batch.drop_index("ix_service_record_household")
        batch.drop_column("household_id_index")
        batch.alter_column("household_id_number", type_=sa.String(length=18), existing_type=sa.Text())
        batch.create_index("ix_service_record_household", ["household_id_number"], unique=False)
    with op.batch_alter_table("near_relative_filing") as batch:
        batch.drop_index("ix_near_relative_filing_relative_id_index")
        batch.drop_column("relative_id_index")
        batch.alter_column(
            "relative_id_number", type_=sa.String(length=18), existing_type=sa.Text(), existing_nullable=False
        )
        batch.create_index(
            "ix_near_relative_filing_relative_id_number", ["relative_id_number", "active"], unique=False
        )
