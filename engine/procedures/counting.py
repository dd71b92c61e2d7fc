"""Counting a step in the cross-project ledger (engine.ledger) from a rule of the step, written with the
step (issue 18 item 10).

A rule runs before its step is worked out (the scripts, conditions and next deadlines after it). On
SQLite, while the completion's case lock is deferred (engine.instances.optimistic), an INSERT now would
take the database's write lock before all of that is evaluated. So, while ``optimistic.deferring``, the
rule only reads — an item already counted is refused at once, as before — and the row is written with
the step, after the step was worked out (``optimistic.later``). Under the write lock, before anything is
written, the item is checked again: counted meanwhile by another transaction, the completion runs again
from a fresh read (``StaleStep``, nothing written) and is then refused with the usual 422 on the field.
Nothing reads the row's id before it is written (the rules return nothing of it). On PostgreSQL and in
a transaction that has written already, the row is written at once, as before.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy.orm import Session

from engine.instances import optimistic
from engine.ledger import service as ledger
from engine.ledger.models import ServiceRecord

_UNCOUNTED = "SELECT NOT EXISTS (SELECT 1 FROM service_record WHERE item_ref = ?)"


def _kept(session: Session, row: ServiceRecord) -> ServiceRecord:
    if not optimistic.deferring(session):
        return ledger.add(session, row)
    if row.item_ref:  # still not counted when the write lock is taken, else the step runs again
        optimistic.check(session, _UNCOUNTED, (row.item_ref,))
    optimistic.later(session, functools.partial(ledger.add, session, row))
    return row  # (its id is not known until it is written)


def record(session: Session, **what: Any) -> ServiceRecord:
    """:func:`engine.ledger.service.record`, written with the step while the case lock is deferred."""
    return _kept(session, ledger.new_record(session, **what))


def count_for_case(session: Session, instance: Any, row: Any, *, kind: str, id_field: str) -> ServiceRecord:
    """Count a completed step of a case that is its own project (:func:`engine.ledger.service.case_record`),
    written with the step while the lock is deferred."""
    return _kept(session, ledger.case_record(session, instance, row, kind=kind, id_field=id_field))
