"""Idempotency keys: the first successful answer to (user, key) is kept and replayed to retries.

A client that never saw the answer (a timeout, a dropped connection) sends the same request again
with the same ``Idempotency-Key``; it gets the stored answer and nothing happens twice. The same key
with a different request is refused (422), so a key cannot be reused by mistake. Keys are per user;
a unique constraint on (user, key) settles two first requests racing with one key. Failed requests
leave no key (their transaction is rolled back), so they may be retried as they are.

Keys are kept for ``KEY_TTL``; each new key removes its user's expired ones. A retry later than that
runs again — for a task completion that is a 409 (the task is done), never a second payment.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from engine.db import utcnow
from engine.errors import Invalid
from engine.forms import jsonable
from engine.idempotency.models import IdempotencyKey

HEADER = "Idempotency-Key"
KEY_TTL = dt.timedelta(days=7)
MAX_KEY = 128
_KEY = re.compile(rf"^[\x21-\x7e]{{1,{MAX_KEY}}}$")  # visible ASCII, no spaces


def check_key(key: str) -> str:
    if not _KEY.fullmatch(key):
        message = f"幂等键须为 1–{MAX_KEY} 个可见 ASCII 字符 / {HEADER} must be 1–{MAX_KEY} visible ASCII characters"
        raise Invalid.on(HEADER, message)
    return key


def fingerprint(payload: Any) -> str:
    """SHA-256 of the request in canonical JSON (key order and spacing do not matter)."""
    text = json.dumps(jsonable(payload), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def replay(session: Session, user_id: int, key: str, target: str, request_hash: str) -> IdempotencyKey | None:
    """The stored answer for this key, or None if the key is new; 422 if it was used for another request."""
    row = session.scalar(
        select(IdempotencyKey).where(
            IdempotencyKey.user_id == user_id,
            IdempotencyKey.key == key,
            IdempotencyKey.created_at > utcnow() - KEY_TTL,
        )
    )
    if row is None:
        return None
    if row.target != target or row.request_hash != request_hash:
        message = "该幂等键已用于另一个请求 / this Idempotency-Key was already used for a different request"
        raise Invalid.on(HEADER, message)
    return row


def remember(
    session: Session, user_id: int, key: str, target: str, request_hash: str, status: int, response: Any
) -> IdempotencyKey:
    session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.user_id == user_id, IdempotencyKey.created_at <= utcnow() - KEY_TTL
        )
    )
    row = IdempotencyKey(
        user_id=user_id,
        key=key,
        target=target,
        request_hash=request_hash,
        status=status,
        response=jsonable(response),
    )
    session.add(row)
    session.flush()
    return row
