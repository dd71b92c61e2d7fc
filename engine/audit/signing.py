"""Audit events signed at write time with a key the database does not hold.

The hash chain (:mod:`engine.audit.chain`) shows that stored events were not changed *after* they were
chained; it cannot tell an event the application wrote from one inserted by anyone else with INSERT on
the table (the application's own database role, the table owner, a superuser): the sealer chains
whatever is there. So each event carries an HMAC-SHA256 made by the application before the row reaches
the database, with a key from ``ASSISTFLOW_AUDIT_KEYS`` (comma-separated url-safe base64 keys of at
least 32 bytes; the first signs, every key verifies, so a key is rotated by putting a new one first and
keeping the old ones after it for as long as their events must verify). The database never sees a key.

What is signed (:func:`payload`): sorted-key compact JSON of the event's time, action, actor, instance,
task, definition, its ``details`` *as the application wrote them* (personal values in clear: the stored
form is encrypted with random IVs at flush time, after signing, so :func:`engine.audit.chain.verify`
decrypts them with the data keys before checking), the key id and a random nonce. The nonce keeps two
otherwise identical events apart, so a copied row (a replay) shows up as a repeated signature.

Each event stores ``sig_key_id`` (16 hex: a hash of the key, so keys need no names), ``sig_nonce`` and
``sig``. Events written before migration 0017 have none: they are *legacy*, counted and bounded by the
``audit_signing`` row that migration wrote (see :class:`engine.audit.models.AuditSigning`).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from engine import errors

AUDIT_KEYS_ENV = "ASSISTFLOW_AUDIT_KEYS"
_EVENT_DOMAIN = b"assistflow-audit-event-v1\n"
_CHECKPOINT_DOMAIN = b"assistflow-audit-checkpoint-v1\n"


@errors.family(errors.Unavailable)
class AuditKeysNotConfigured(RuntimeError):
    """The audit signing key is missing or malformed: a configuration error, refused at start."""


def key_id(raw: bytes) -> str:
    return hashlib.sha256(b"assistflow-audit-key-id\n" + raw).hexdigest()[:16]


class AuditKeys:
    def __init__(self, keys: Iterable[str]) -> None:
        raws = []
        for value in (k.strip() for k in keys):
            if not value:
                continue
            try:
                raw = base64.urlsafe_b64decode(value.encode())
            except (ValueError, TypeError):
                raw = b""
            if len(raw) < 32:
                raise AuditKeysNotConfigured(
                    f"{AUDIT_KEYS_ENV}: each key must be at least 32 url-safe base64 bytes "
                    "(assistflow keys generate)"
                )
            raws.append(raw)
        if not raws:
            raise AuditKeysNotConfigured(
                f"{AUDIT_KEYS_ENV} is empty: give at least one key (assistflow keys generate)"
            )
        self.by_id = {key_id(raw): raw for raw in raws}
        self.current_id = key_id(raws[0])

    def mac(self, kid: str, domain: bytes, message: bytes) -> str | None:
        """The HMAC of ``message`` under key ``kid``; None when no configured key has that id."""
        raw = self.by_id.get(kid)
        if raw is None:
            return None
        return hmac.new(raw, domain + message, hashlib.sha256).hexdigest()


_keys: AuditKeys | None = None


def configure(value: str | None) -> AuditKeys:
    """Install the audit keys (comma-separated); refuses missing or malformed ones."""
    global _keys
    if not value:
        raise AuditKeysNotConfigured(
            f"audit signing key not configured: set {AUDIT_KEYS_ENV} (assistflow keys generate)"
        )
    _keys = AuditKeys(value.split(","))
    return _keys


def keys() -> AuditKeys:
    """The configured keys; from the environment when nothing configured them explicitly."""
    if _keys is None:
        return configure(os.environ.get(AUDIT_KEYS_ENV))
    return _keys


def generate() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def _at(value: dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds")


def payload(row: Mapping[Any, Any], kid: str, nonce: str) -> bytes:
    """The bytes signed for one event (``details`` in clear, as the application wrote them)."""
    content = {
        "at": _at(row["at"]),
        "action": row["action"],
        "actor_id": row["actor_id"],
        "instance_id": row["instance_id"],
        "task_id": row["task_id"],
        "definition_id": row["definition_id"],
        "details": row["details"],
        "key_id": kid,
        "nonce": nonce,
    }
    return json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sign(row: dict[str, Any]) -> dict[str, Any]:
    """The event's columns with its signature columns added (``at`` must be set)."""
    ring = keys()
    nonce = secrets.token_hex(8)
    mac = ring.mac(ring.current_id, _EVENT_DOMAIN, payload(row, ring.current_id, nonce))
    return {**row, "sig_key_id": ring.current_id, "sig_nonce": nonce, "sig": mac}


def check(row: Mapping[Any, Any]) -> str | None:
    """Why the event's signature does not hold (None when it does). ``details`` must be in clear."""
    kid, nonce, sig = row["sig_key_id"], row["sig_nonce"], row["sig"]
    if not (kid and nonce and sig):
        return "event has no signature (written around the application)"
    expected = keys().mac(kid, _EVENT_DOMAIN, payload(row, kid, nonce))
    if expected is None:
        return f"event signed with key {kid}, which is not in {AUDIT_KEYS_ENV}"
    if not hmac.compare_digest(expected, sig):
        return "signature does not match the event's content (forged or changed)"
    return None


def checkpoint_mac(message: bytes, kid: str | None = None) -> tuple[str, str | None]:
    """(key id, HMAC) of a checkpoint's bytes; the current key unless ``kid`` names another."""
    ring = keys()
    kid = kid or ring.current_id
    return kid, ring.mac(kid, _CHECKPOINT_DOMAIN, message)
