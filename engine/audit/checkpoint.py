"""Signed checkpoints of the audit chain head, kept outside the database.

Whoever can rewrite ``audit_event``, ``audit_seal`` and ``audit_chain_head`` together (the table owner,
a superuser) can forge a chain that verifies on its own. A checkpoint anchors the head somewhere they
cannot reach: a small JSON file — the chain's ``seq`` and ``hash`` at that moment, the legacy bound of
migration 0017 (``legacy_max_id``, ``legacy_count``), the time — with an HMAC under the audit key
(``ASSISTFLOW_AUDIT_KEYS``, which the database never holds), written into a directory
(``ASSISTFLOW_AUDIT_CHECKPOINT_DIR``, default ``instance/audit-checkpoints``; put it on storage the
database's administrators cannot write: another host's share, an object-storage mount with retention).

:func:`write` — run by the scheduler's ``audit_checkpoint`` job (every ``ASSISTFLOW_AUDIT_CHECKPOINT_MINUTES``,
default 10) and by ``assistflow audit checkpoint`` — seals what is pending, verifies the chain from the
latest checkpoint to the head (signatures included) and only then writes ``audit-checkpoint-<seq>.json``
(atomically: a temporary file renamed into place). Nothing is written while the head has not moved.

:func:`verify` checks the whole chain against every checkpoint in the directory: a link at a
checkpointed position with another hash (a rewritten chain), a chain that ends below a checkpoint (a
truncated one), a changed legacy bound, or a checkpoint file whose HMAC does not hold all fail.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import errors
from engine.audit import chain, signing
from engine.audit.models import AuditSigning

CHECKPOINT_DIR_ENV = "ASSISTFLOW_AUDIT_CHECKPOINT_DIR"
_PREFIX = "audit-checkpoint-"
_directory: Path | None = None


def configure(directory: str | Path) -> Path:
    global _directory
    _directory = Path(directory)
    return _directory


def directory() -> Path:
    if _directory is not None:
        return _directory
    value = os.environ.get(CHECKPOINT_DIR_ENV)
    if not value:
        raise RuntimeError(f"audit checkpoint directory not configured: set {CHECKPOINT_DIR_ENV}")
    return Path(value)


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    legacy_max_id: int
    legacy_count: int
    at: str
    key_id: str
    mac: str

    def message(self) -> bytes:
        fields = {
            "seq": self.seq,
            "hash": self.hash,
            "legacy_max_id": self.legacy_max_id,
            "legacy_count": self.legacy_count,
            "at": self.at,
        }
        return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode("utf-8")

    def to_json(self) -> str:
        return json.dumps(
            {**json.loads(self.message()), "key_id": self.key_id, "mac": self.mac}, indent=1, sort_keys=True
        )


@errors.family(errors.Unavailable)
class CheckpointError(RuntimeError):
    """A checkpoint file that is unreadable or whose HMAC does not hold."""


def legacy_bound(session: Session) -> tuple[int, int]:
    """(legacy_max_id, legacy_count) as migration 0017 recorded them; (0, 0) on a database made since."""
    row = session.execute(
        select(AuditSigning.legacy_max_id, AuditSigning.legacy_count).where(AuditSigning.id == 1)
    ).one_or_none()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def load(folder: Path | None = None) -> list[Checkpoint]:
    """Every checkpoint in the directory, lowest ``seq`` first; raises on a damaged or forged file."""
    folder = folder or directory()
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob(f"{_PREFIX}*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            cp = Checkpoint(
                seq=int(data["seq"]),
                hash=str(data["hash"]),
                legacy_max_id=int(data["legacy_max_id"]),
                legacy_count=int(data["legacy_count"]),
                at=str(data["at"]),
                key_id=str(data["key_id"]),
                mac=str(data["mac"]),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"checkpoint {path.name} is unreadable: {exc}") from None
        _, expected = signing.checkpoint_mac(cp.message(), cp.key_id)
        if expected is None:
            raise CheckpointError(f"checkpoint {path.name} is signed with key {cp.key_id}, not configured")
        if not hmac.compare_digest(expected, cp.mac):
            raise CheckpointError(f"checkpoint {path.name}: HMAC does not match (forged or changed)")
        found.append(cp)
    return sorted(found, key=lambda cp: cp.seq)


def verify(session: Session, *, folder: Path | None = None, seal_first: bool = True) -> chain.Verdict:
    """The whole chain, checked against every checkpoint (see the module docstring)."""
    try:
        checkpoints = load(folder)
    except CheckpointError as exc:
        return chain.Verdict(False, 0, 0, chain.GENESIS, None, str(exc))
    bound = legacy_bound(session)
    for cp in checkpoints:
        if (cp.legacy_max_id, cp.legacy_count) != bound:
            return chain.Verdict(
                False, 0, 0, chain.GENESIS, None,
                f"legacy bound in the database {bound} differs from checkpoint seq {cp.seq} "
                f"({cp.legacy_max_id}, {cp.legacy_count})",
            )  # fmt: skip
    verdict = chain.verify(session, seal_first=seal_first, anchors={cp.seq: cp.hash for cp in checkpoints})
    verdict.checkpoint_seq = checkpoints[-1].seq if checkpoints else None
    return verdict


def write(
    session: Session, *, folder: Path | None = None, now: dt.datetime | None = None
) -> tuple[Checkpoint | None, chain.Verdict]:
    """Seal, verify from the latest checkpoint to the head, then write a checkpoint of the head (in the
    caller's transaction, which the caller commits). Returns (None, verdict) when the chain is broken,
    (latest, verdict) when the head has not moved since it."""
    folder = folder or directory()
    checkpoints = load(folder)
    latest = checkpoints[-1] if checkpoints else None
    bound = legacy_bound(session)
    while chain.seal(session) == chain.SEAL_BATCH:
        pass
    start = (latest.seq, latest.hash) if latest else None
    verdict = chain.verify(session, seal_first=False, start=start)
    if latest and (latest.legacy_max_id, latest.legacy_count) != bound:
        verdict = chain.Verdict(False, 0, verdict.head_seq, verdict.head_hash, None, "legacy bound changed")
    if not verdict.ok:
        return None, verdict
    if latest is not None and latest.seq == verdict.head_seq:
        return latest, verdict
    at = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).isoformat(timespec="seconds")
    unsigned = Checkpoint(verdict.head_seq, verdict.head_hash, bound[0], bound[1], at, "", "")
    kid, mac = signing.checkpoint_mac(unsigned.message())
    assert mac is not None
    cp = Checkpoint(verdict.head_seq, verdict.head_hash, bound[0], bound[1], at, kid, mac)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{_PREFIX}{cp.seq:015d}.json"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(cp.to_json() + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return cp, verdict


def write_all(session_factory: object, *, folder: Path | None = None) -> Checkpoint | None:
    """The scheduler's job: one checkpoint in a transaction of its own. Raises when the chain is broken.
    Seals first in committed batches, so the verification does not hold the chain head's lock."""
    chain.seal_all(session_factory)
    with session_factory() as session:  # type: ignore[operator]
        cp, verdict = write(session, folder=folder)
        session.commit()
    if cp is None:
        raise CheckpointError(
            f"audit chain broken at event {verdict.broken_id}: {verdict.reason}; no checkpoint written"
        )
    return cp
