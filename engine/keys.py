"""Key rotation: re-encrypt every rewritable stored personal value under the current data key.

After putting a new key first in ``ASSISTFLOW_DATA_KEYS`` (old keys after it), ``assistflow keys rotate``
calls :func:`rotate`. Each row is rewritten only if it still holds what was read (compare-and-set), so a
case saved meanwhile — already under the new key — is left alone. Audit events are append-only and keep
the key they were written with: a retired key stays in the list (after the current one) for as long as
the audit log must be readable.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Table, Text, select, type_coerce, update
from sqlalchemy.orm import Session

from engine import crypto
from engine.attachments.models import Attachment
from engine.idempotency.models import IdempotencyKey
from engine.instances.models import ProcessInstance
from engine.ledger.models import ServiceRecord
from engine.recusal.models import NearRelativeFiling

_TEXT_COLUMNS = [
    (ProcessInstance.__table__, "state"),
    (ServiceRecord.__table__, "household_id_number"),
    (NearRelativeFiling.__table__, "relative_id_number"),
    (Attachment.__table__, "wrapped_key"),  # each file's key, wrapped by the data keys
]
_JSON_COLUMNS = [(ProcessInstance.__table__, "data"), (IdempotencyKey.__table__, "response")]


def rotate(session: Session, *, batch: int = 500) -> dict[str, int]:
    """Re-encrypt under the current key; returns rows rewritten per ``table.column``."""
    ring = crypto.keyring()
    counts: dict[str, int] = {}
    for table, name, kind in [(t, c, Text()) for t, c in _TEXT_COLUMNS] + [
        (t, c, JSON(none_as_null=True)) for t, c in _JSON_COLUMNS
    ]:
        assert isinstance(table, Table)
        raw = type_coerce(table.c[name], kind)
        done, last_id = 0, 0
        while True:
            rows = session.execute(
                select(table.c.id, raw.label("v"))
                .where(table.c.id > last_id)
                .order_by(table.c.id)
                .limit(batch)
            ).all()
            if not rows:
                break
            for row_id, value in rows:
                last_id = row_id
                if value is None:
                    continue
                new: Any = ring.rotate(value) if isinstance(kind, Text) else crypto.reseal(value, ring)
                condition = raw == value if isinstance(kind, Text) else table.c.id == row_id
                result = session.execute(
                    update(table)
                    .where(table.c.id == row_id, condition)
                    .values({name: type_coerce(new, kind)})
                )
                done += result.rowcount  # type: ignore[attr-defined]
        counts[f"{table.name}.{name}"] = done
    session.flush()
    return counts
