"""The audit log's hash chain: every event is linked to the one before it by hash.

Writing: :func:`engine.audit.service.record` inserts the event and nothing else; a database trigger
adds its id to ``audit_pending``. The writing transaction commits without touching the chain, so
writers never wait on one another here. Events are never rewritten: the chain lives beside them.

Sealing: :func:`seal` — run every second by the scheduler (``assistflow scheduler``, or the one inside
``assistflow serve``), by ``assistflow audit seal`` and at the start of :func:`verify` — takes the
single ``audit_chain_head`` row lock (``SELECT … FOR UPDATE`` on PostgreSQL; the write lock on
SQLite), and for every committed pending event, in id order, appends an ``audit_seal`` row: the next
position ``seq`` and ``hash`` = SHA-256 over :func:`canonical` (every field of the event, the position
and the previous link's hash); then it removes those events from ``audit_pending`` and moves the head.
Sealers serialize on the head row, so the chain never forks; a transaction that commits late is simply
chained later (``seq`` follows the order events were sealed, which is id order within one batch).
Sealing only inserts: no event row is updated, so the event table and its indexes are written once
(an update would copy each row and each of its index entries, and leave the old ones for VACUUM).

The database refuses any change to ``audit_event`` and ``audit_seal``: a trigger refuses UPDATE and
DELETE (and TRUNCATE on PostgreSQL) outright, and ``audit_seal.event_id`` is unique, so no event is
chained twice.

Checking: :func:`verify` seals what is pending, then walks the chain by ``seq`` and recomputes every
hash; a changed field, a removed or inserted event or link, a reordered chain, an event outside the
chain, or a head that does not point at the last link is reported with the first broken event's id.
The chain alone cannot tell an event the application wrote from one inserted around it, nor a chain
rewritten whole by the tables' owner: :func:`verify` also checks every event's signature
(:mod:`engine.audit.signing`; legacy events before migration 0017 excepted, counted and bounded), finds
replayed (copied) events by their repeated signature, and compares the chain with the signed
checkpoints kept outside the database (:mod:`engine.audit.checkpoint`) when given them as ``anchors``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import JSON, Table, delete, func, insert, select, type_coerce, update
from sqlalchemy.orm import Session

from engine import crypto
from engine.audit import signing
from engine.audit.models import AuditChainHead, AuditEvent, AuditPending, AuditSeal, AuditSigning

GENESIS = "0" * 64
HEAD_ID = 1
_EVENTS = cast(Table, AuditEvent.__table__)
_HEAD = cast(Table, AuditChainHead.__table__)
_SEALS = cast(Table, AuditSeal.__table__)
_PENDING = cast(Table, AuditPending.__table__)
_FIELDS = (
    _EVENTS.c.id,
    _EVENTS.c.at,
    _EVENTS.c.action,
    _EVENTS.c.actor_id,
    _EVENTS.c.instance_id,
    _EVENTS.c.task_id,
    _EVENTS.c.definition_id,
    # as stored: personal values inside are encrypted (engine.crypto.SealedJSON), and the chain hashes
    # the stored tokens (the signatures cover them in clear: verify decrypts them for that check)
    type_coerce(_EVENTS.c.details, JSON(none_as_null=True)).label("details"),
)
_SIGNATURE = (_EVENTS.c.sig_key_id, _EVENTS.c.sig_nonce, _EVENTS.c.sig)
_SIGNING = cast(Table, AuditSigning.__table__)


def _at(value: dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds")


def canonical(row: Mapping[Any, Any], seq: int, prev_hash: str) -> bytes:
    """The bytes hashed for one event: sorted-key compact JSON of every field, its position and prev hash."""
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
    return json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def event_hash(row: Mapping[Any, Any], seq: int, prev_hash: str) -> str:
    return hashlib.sha256(canonical(row, seq, prev_hash)).hexdigest()


SEAL_BATCH = 5000


def _lock_head(session: Session) -> tuple[int, str]:
    if session.get_bind().dialect.name == "sqlite":  # take the write lock first: no read-then-upgrade race
        session.execute(update(_HEAD).where(_HEAD.c.id == HEAD_ID).values(seq=_HEAD.c.seq))
    head = session.execute(
        select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == HEAD_ID).with_for_update()
    ).one_or_none()
    if head is None:  # a database made without the migrations (the migration inserts the row)
        session.execute(insert(_HEAD).values(id=HEAD_ID, seq=0, hash=GENESIS))
        return 0, GENESIS
    return int(head.seq), str(head.hash)


def pending(session: Session) -> int:
    """How many committed events wait to be sealed."""
    return int(session.scalar(select(func.count()).select_from(_PENDING)) or 0)


def seal(session: Session, *, limit: int = SEAL_BATCH) -> int:
    """Chain up to ``limit`` pending events onto the head, in id order; returns how many. Caller commits.

    Returns at once, without taking the head lock, when nothing is pending.
    """
    if session.scalar(select(_PENDING.c.event_id).limit(1)) is None:
        return 0
    seq, prev = _lock_head(session)
    rows = (
        session.execute(
            select(*_FIELDS)
            .join_from(_PENDING, _EVENTS, _EVENTS.c.id == _PENDING.c.event_id)
            .order_by(_PENDING.c.event_id)
            .limit(limit)
        )
        .mappings()
        .all()
    )
    if not rows:  # another sealer took them while we waited for the head
        return 0
    links = []
    for row in rows:
        seq += 1
        prev = event_hash(row, seq, prev)
        links.append({"seq": seq, "event_id": row["id"], "hash": prev})
    session.execute(insert(_SEALS), links)
    # by id, not by range: an event committed meanwhile with a lower id stays pending for the next round
    session.execute(delete(_PENDING).where(_PENDING.c.event_id.in_([link["event_id"] for link in links])))
    session.execute(update(_HEAD).where(_HEAD.c.id == HEAD_ID).values(seq=seq, hash=prev))
    return len(links)


def seal_all(session_factory: Any) -> int:
    """Seal everything pending, one committed batch at a time (the scheduler's job)."""
    total = 0
    while True:
        with session_factory() as session:
            done = seal(session)
            session.commit()
        total += done
        if done < SEAL_BATCH:
            return total


@dataclass
class Verdict:
    ok: bool
    checked: int
    head_seq: int
    head_hash: str
    broken_id: int | None = None
    reason: str = ""
    legacy: int = 0  # unsigned events from before migration 0017, within its recorded bound
    checkpoint_seq: int | None = None  # the latest checkpoint the chain was checked against


def _signature_problem(row: Mapping[Any, Any], legacy_max_id: int) -> tuple[bool, str | None]:
    """(is legacy, why the signature fails or None). The signature covers ``details`` in clear."""
    if row["id"] <= legacy_max_id and row["sig"] is None:
        return True, None
    try:
        clear = {**row, "details": crypto.unseal(row["details"])}
    except crypto.DecryptionError:
        return False, "the event's encrypted details do not open with the data keys (changed)"
    return False, signing.check(clear)


def verify(
    session: Session,
    *,
    batch: int = 1000,
    seal_first: bool = True,
    anchors: Mapping[int, str] | None = None,
    start: tuple[int, str] | None = None,
) -> Verdict:
    """Seal what is pending (in the caller's transaction), then walk the chain and check every event's
    signature; the first break found is reported (with its event id where there is one).

    ``anchors`` (seq → hash, from the checkpoints) must each match the link at that position, and the
    chain must reach the highest of them. With ``start`` (a trusted checkpoint's seq and hash) only the
    links after it are walked, and the whole-table checks (events outside the chain, replays, the legacy
    count) are left to a full verify.
    """
    while seal_first and seal(session) == SEAL_BATCH:
        pass
    head = session.execute(select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == HEAD_ID)).one_or_none()
    head_seq, head_hash = (int(head.seq), str(head.hash)) if head else (0, GENESIS)
    anchors = dict(anchors or {})
    marker = session.execute(
        select(_SIGNING.c.legacy_max_id, _SIGNING.c.legacy_count).where(_SIGNING.c.id == 1)
    ).one_or_none()
    legacy_max_id, legacy_count = (int(marker[0]), int(marker[1])) if marker else (0, 0)
    legacy = 0

    def broken(event_id: int | None, reason: str, checked: int) -> Verdict:
        return Verdict(False, checked, head_seq, head_hash, event_id, reason, legacy)

    unsealed = session.scalar(select(func.min(_PENDING.c.event_id)))
    if unsealed is not None:
        return broken(unsealed, "event not sealed into the chain yet", 0)
    if anchors.get(0, GENESIS) != GENESIS:
        return broken(None, "checkpoint at seq 0 is not the empty chain", 0)
    expected_seq, prev, checked, last_seq = 1, GENESIS, 0, 0
    if start is not None:
        expected_seq, prev, last_seq = start[0] + 1, start[1], start[0]
        if start[0] > 0:
            link = session.scalar(select(_SEALS.c.hash).where(_SEALS.c.seq == start[0]))
            if link != start[1]:
                return broken(None, f"the link at seq {start[0]} differs from the checkpoint", 0)
    cols = (_SEALS.c.seq, _SEALS.c.event_id, _SEALS.c.hash, *_FIELDS, *_SIGNATURE)
    while True:
        rows = (
            session.execute(
                select(*cols)
                .select_from(_SEALS.outerjoin(_EVENTS, _EVENTS.c.id == _SEALS.c.event_id))
                .where(_SEALS.c.seq >= expected_seq)
                .order_by(_SEALS.c.seq)
                .limit(batch)
            )
            .mappings()
            .all()
        )
        if not rows:
            break
        for row in rows:
            if row["seq"] != expected_seq:
                return broken(row["event_id"], f"seq {expected_seq} missing before seq {row['seq']}", checked)
            if row["id"] is None:
                return broken(row["event_id"], f"the event sealed at seq {row['seq']} is missing", checked)
            if event_hash(row, row["seq"], prev) != row["hash"]:
                return broken(
                    row["id"], "hash does not match the event's content or the previous link", checked
                )
            if row["seq"] in anchors and anchors[row["seq"]] != row["hash"]:
                return broken(
                    row["id"],
                    f"the link at seq {row['seq']} differs from the checkpoint (rewritten)",
                    checked,
                )
            is_legacy, problem = _signature_problem(row, legacy_max_id)
            if problem:
                return broken(row["id"], problem, checked)
            legacy += is_legacy
            prev, last_seq, checked = row["hash"], row["seq"], checked + 1
            expected_seq += 1
    highest = max(anchors, default=0)
    if highest > last_seq:
        return broken(
            None, f"the chain ends at seq {last_seq}, below the checkpoint at seq {highest}", checked
        )
    if head_seq != last_seq or head_hash != prev:
        return broken(None, f"chain head is at seq {head_seq} but the last event is seq {last_seq}", checked)
    if start is not None:
        return Verdict(True, checked, head_seq, head_hash, legacy=legacy)
    outside = session.scalar(
        select(func.min(_EVENTS.c.id)).where(
            ~select(_SEALS.c.seq).where(_SEALS.c.event_id == _EVENTS.c.id).exists()
        )
    )
    if outside is not None:
        return broken(outside, "event is neither in the chain nor waiting to be sealed", checked)
    below = session.scalar(select(func.count()).select_from(_EVENTS).where(_EVENTS.c.id <= legacy_max_id))
    if (below or 0) != legacy_count or legacy != legacy_count:
        return broken(
            None,
            f"{below} events at or below the legacy bound (id {legacy_max_id}), {legacy} of them unsigned; "
            f"migration 0017 recorded {legacy_count}",
            checked,
        )
    replayed = session.execute(
        select(func.min(_EVENTS.c.id), func.max(_EVENTS.c.id))
        .where(_EVENTS.c.sig.is_not(None))
        .group_by(_EVENTS.c.sig)
        .having(func.count() > 1)
        .limit(1)
    ).first()
    if replayed is not None:
        return broken(replayed[1], f"event repeats the signature of event {replayed[0]} (a copy)", checked)
    return Verdict(True, checked, head_seq, head_hash, legacy=legacy)
