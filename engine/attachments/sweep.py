"""The orphan sweep: stored objects that no attachment row names, older than a grace period, are removed.

An upload writes its object before its row commits; a crash (or a lost commit) between the two leaves an
object nothing points to, and a removed attachment leaves its objects behind. The grace period keeps
uploads in flight safe. Run by the scheduler every hour (``engine.deadlines.scheduler``)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from engine.attachments import storage as storage_mod
from engine.attachments.models import Attachment
from engine.db import utcnow

log = logging.getLogger("assistflow.attachments")
GRACE = dt.timedelta(hours=6)
BATCH = 500


def _known(session: Session, keys: list[str]) -> set[str]:
    names = {k.removesuffix(".partial") for k in keys}
    rows = session.execute(
        select(Attachment.storage_key, Attachment.thumb_key).where(
            or_(Attachment.storage_key.in_(names), Attachment.thumb_key.in_(names))
        )
    ).all()
    return {k for row in rows for k in row if k}


def sweep(session: Session, *, grace: dt.timedelta = GRACE, now: dt.datetime | None = None) -> list[str]:
    """Delete orphan objects older than ``grace``; returns their keys."""
    store = storage_mod.current()
    cutoff = (now or utcnow()) - grace
    removed: list[str] = []
    batch: list[str] = []

    def flush_batch() -> None:
        known = _known(session, batch)
        for key in batch:
            if key.endswith(".partial") or key not in known:
                store.delete_any(key)
                removed.append(key)
        batch.clear()

    for key, modified in store.listing():
        if modified < cutoff:
            batch.append(key)
            if len(batch) >= BATCH:
                flush_batch()
    if batch:
        flush_batch()
    if removed:
        log.info("removed %d orphan object(s)", len(removed))
    return removed


def sweep_job(session_factory: Any) -> int:
    with session_factory() as session:
        return len(sweep(session))
