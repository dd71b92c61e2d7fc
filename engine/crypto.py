"""Personal data encrypted at rest: resident ID numbers and phone numbers never reach the database in clear.

Keys come from configuration, never from the repository:

* ``ASSISTFLOW_DATA_KEYS`` — comma-separated Fernet keys (AES-128-CBC + HMAC-SHA256, authenticated).
  The first encrypts; every key decrypts, so a key is rotated by putting a new one first and running
  ``assistflow keys rotate`` (which re-encrypts what may be rewritten; audit events are append-only and
  keep the key they were written with, so a retired key stays in the list, after the current one).
* ``ASSISTFLOW_INDEX_KEY`` — a separate secret for the blind index: HMAC-SHA256 of a normalized number,
  so the ledger (double counting) and near-relative filings (recusal) are still found by equality
  without storing the number. It cannot be rotated without recomputing those columns.

``assistflow keys generate`` prints a fresh pair. What is encrypted where:

* :class:`EncryptedText` — a whole text column (the serialized workflow state, the ledger's and the
  filings' numbers): ``enc1:<fernet token>``. The workflow state is compressed (zlib) before it is
  encrypted, ``encz1:<fernet token>``: ciphertext does not compress, and the state's JSON shrinks to a
  quarter, which keeps the row out of TOAST. What compression can tell someone who reads the database
  is the state's compressed length; nobody outside the case's own staff can write into a case.
* :class:`SealedJSON` — a JSON column whose personal values (keys named like ``*id_number*``,
  ``*_id_card``, ``*phone*``; see :func:`is_personal_key`) are replaced by ``enc1:<token>`` strings at
  any depth, the rest staying queryable JSON (process data, audit details). Services and scripts see
  plaintext in memory; the audit hash chain hashes what is stored (the tokens).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import zlib
from collections.abc import Iterable
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import JSON, Text, TypeDecorator

from engine import errors

PREFIX = "enc1:"
ZPREFIX = "encz1:"  # compressed, then encrypted
DATA_KEYS_ENV = "ASSISTFLOW_DATA_KEYS"
INDEX_KEY_ENV = "ASSISTFLOW_INDEX_KEY"


@errors.family(errors.Unavailable)
class KeysNotConfigured(RuntimeError):
    """Keys missing or malformed: a configuration error, refused at start."""


@errors.family(errors.Unavailable)
class DecryptionError(RuntimeError):
    """A stored value no configured key opens (wrong key, retired key removed, or tampered data)."""


class Keyring:
    def __init__(self, data_keys: Iterable[str], index_key: str) -> None:
        keys = [k.strip() for k in data_keys if k.strip()]
        if not keys:
            raise KeysNotConfigured(
                f"{DATA_KEYS_ENV} is empty: give at least one key (assistflow keys generate)"
            )
        try:
            self.fernets = [Fernet(k.encode()) for k in keys]
        except (ValueError, TypeError) as exc:
            raise KeysNotConfigured(
                f"{DATA_KEYS_ENV}: not a Fernet key (32 url-safe base64 bytes): {exc}"
            ) from None
        self.multi = MultiFernet(self.fernets)
        raw = _decode_index_key(index_key)
        self.index_key = raw

    def encrypt(self, text: str, *, compress: bool = False) -> str:
        raw = text.encode("utf-8")
        if compress:
            return ZPREFIX + self.multi.encrypt(zlib.compress(raw, 1)).decode("ascii")
        return PREFIX + self.multi.encrypt(raw).decode("ascii")

    def decrypt(self, stored: str) -> str:
        compressed = stored.startswith(ZPREFIX)
        if not compressed and not stored.startswith(PREFIX):
            raise DecryptionError("value is not encrypted (expected enc1:…) — was migration 0011 run?")
        try:
            if compressed:
                return zlib.decompress(self.multi.decrypt(stored[len(ZPREFIX) :].encode("ascii"))).decode(
                    "utf-8"
                )
            return self.multi.decrypt(stored[len(PREFIX) :].encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError, ValueError, zlib.error):
            raise DecryptionError(
                f"数据无法解密 / cannot decrypt a stored value: none of the {len(self.fernets)} key(s) in "
                f"{DATA_KEYS_ENV} opens it (wrong key, a retired key removed, or the data was altered)"
            ) from None

    def rotate(self, stored: str) -> str:
        """The same value under the current (first) key (compressed as it was)."""
        return self.encrypt(self.decrypt(stored), compress=stored.startswith(ZPREFIX))

    def blind_index(self, number: str) -> str:
        normalized = number.strip().upper()
        return hmac.new(self.index_key, normalized.encode("utf-8"), hashlib.sha256).hexdigest()


def _decode_index_key(value: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(value.strip().encode())
    except (ValueError, TypeError):
        raw = b""
    if len(raw) < 32:
        raise KeysNotConfigured(
            f"{INDEX_KEY_ENV}: give at least 32 url-safe base64 bytes (assistflow keys generate)"
        )
    return raw


_keyring: Keyring | None = None


def configure(data_keys: str | None, index_key: str | None) -> Keyring:
    """Install the keys (comma-separated data keys, index key); refuses missing or malformed ones."""
    global _keyring
    if not data_keys or not index_key:
        missing = [n for n, v in ((DATA_KEYS_ENV, data_keys), (INDEX_KEY_ENV, index_key)) if not v]
        raise KeysNotConfigured(
            f"personal data keys not configured: set {' and '.join(missing)} (assistflow keys generate)"
        )
    _keyring = Keyring(data_keys.split(","), index_key)
    return _keyring


def keyring() -> Keyring:
    """The configured keys; from the environment when nothing configured them explicitly."""
    if _keyring is None:
        return configure(os.environ.get(DATA_KEYS_ENV), os.environ.get(INDEX_KEY_ENV))
    return _keyring


def generate() -> tuple[str, str]:
    """A new data key and a new index key."""
    return Fernet.generate_key().decode(), base64.urlsafe_b64encode(os.urandom(32)).decode()


def encrypt(text: str, *, compress: bool = False) -> str:
    return keyring().encrypt(text, compress=compress)


def decrypt(stored: str) -> str:
    return keyring().decrypt(stored)


def blind_index(number: str | None) -> str | None:
    return keyring().blind_index(number) if number else None


# --- personal values inside JSON ----------------------------------------------------------------------


def is_id_key(key: str) -> bool:
    return "id_number" in key or key.endswith("_id_card")


def is_phone_key(key: str) -> bool:
    return "phone" in key


def is_personal_key(key: str) -> bool:
    return is_id_key(key) or is_phone_key(key)


def seal(data: Any, ring: Keyring | None = None) -> Any:
    """A copy with every personal string value (at any depth) encrypted."""
    ring = ring or keyring()
    if isinstance(data, dict):
        return {
            k: ring.encrypt(v) if isinstance(v, str) and is_personal_key(str(k)) else seal(v, ring)
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [seal(v, ring) for v in data]
    return data


def unseal(data: Any, ring: Keyring | None = None) -> Any:
    """A copy with every personal value decrypted. Only values under personal keys are ever decrypted:
    a user who types ``enc1:…`` into a free-text field gets that text back, not a broken case."""
    if isinstance(data, dict):
        return {
            k: (
                (ring or keyring()).decrypt(v)
                if isinstance(v, str) and v.startswith(PREFIX) and is_personal_key(str(k))
                else unseal(v, ring)
            )
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [unseal(v, ring) for v in data]
    return data


def reseal(data: Any, ring: Keyring | None = None) -> Any:
    """Stored JSON re-encrypted under the current key."""
    ring = ring or keyring()
    return seal(unseal(data, ring), ring)


class EncryptedText(TypeDecorator[str]):
    """A text column stored as ``enc1:<fernet token>`` (``encz1:`` when ``compress``); plaintext in Python."""

    impl = Text
    cache_ok = True

    def __init__(self, compress: bool = False) -> None:
        super().__init__()
        self.compress = compress

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else encrypt(value, compress=self.compress)

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else decrypt(value)


class SealedJSON(TypeDecorator[Any]):
    """A JSON column whose personal values are stored encrypted (see :func:`seal`)."""

    impl = JSON(none_as_null=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        return None if value is None else seal(value)

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        return None if value is None else unseal(value)
