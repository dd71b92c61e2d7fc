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
  plaintext in memory; the audit hash chain hashes what is stored (the tokens). Each token carries the
  value's masked form after it, ``enc1:<token>~310107********1234`` (what every staff page shows anyway:
  an ID number's area code and last four, a phone's first three and last four), so a page that shows the
  values masked reads them inside :func:`masked_reads` without decrypting anything; the full value is in
  the token only, and is read through an audited reveal (engine.privacy). Values sealed before the masked
  form was kept (``enc1:<token>`` alone) are decrypted and masked on such a read.
"""

from __future__ import annotations

import base64
import contextvars
import functools
import hashlib
import hmac
import os
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import JSON, Text, TypeDecorator

from engine import errors

PREFIX = "enc1:"
ZPREFIX = "encz1:"  # compressed, then encrypted
MASK_SEPARATOR = "~"  # enc1:<token>~<masked form>; never in a Fernet token (url-safe base64)
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
            token = stored[len(PREFIX) :].split(MASK_SEPARATOR, 1)[0]
            return self.multi.decrypt(token.encode("ascii")).decode("utf-8")
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


def mask_id_number(value: str) -> str:
    """``310107198001011234`` → ``310107********1234`` (area code and last four kept)."""
    if len(value) <= 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_phone(value: str) -> str:
    """``13912345678`` → ``139****5678`` (first three and last four kept)."""
    if len(value) <= 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask(key: str, value: str) -> str:
    """A personal value as every default view shows it (ID and phone numbers masked)."""
    return mask_id_number(value) if is_id_key(key) else mask_phone(value)


def _sealed(key: str, value: str, ring: Keyring) -> str:
    return ring.encrypt(value) + MASK_SEPARATOR + mask(key, value)


def seal(data: Any, ring: Keyring | None = None) -> Any:
    """A copy with every personal string value (at any depth) encrypted, its masked form beside it."""
    ring = ring or keyring()
    if isinstance(data, dict):
        return {
            k: _sealed(str(k), v, ring) if isinstance(v, str) and is_personal_key(str(k)) else seal(v, ring)
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


class MaskedDict(dict[str, Any]):
    """Data whose personal values are masked already (read inside :func:`masked_reads`): masking it
    again for a viewer (engine.privacy) is a no-op."""


@functools.lru_cache(maxsize=4096)
def personal_kind(key: str) -> str | None:
    """``"id"``, ``"phone"`` or None for a key (the same key names recur in every row of a table)."""
    return "id" if is_id_key(key) else "phone" if is_phone_key(key) else None


def _mask_kind(kind: str, value: str) -> str:
    return mask_id_number(value) if kind == "id" else mask_phone(value)


@functools.lru_cache(maxsize=1024)
def _personal_of(keys: tuple[Any, ...]) -> tuple[tuple[str, str], ...]:
    """The personal keys among a dict's keys, with their kind (a table's rows share one key set)."""
    return tuple((k, kind) for k in keys if type(k) is str and (kind := personal_kind(k)) is not None)


def _masked_value(kind: str, v: str, ring: Keyring | None) -> str:
    if v.startswith(PREFIX):
        _, sep, masked_form = v.partition(MASK_SEPARATOR)
        return masked_form if sep else _mask_kind(kind, (ring or keyring()).decrypt(v))
    return _mask_kind(kind, v)


def unseal_masked(data: Any, ring: Keyring | None = None) -> Any:
    """A copy with every personal value in its masked form: the form stored beside the token, without
    decrypting; a value sealed before that form was kept is decrypted and masked."""
    if type(data) is dict or isinstance(data, dict):
        held = set(map(type, data.values()))
        if dict not in held and list not in held:
            # a flat dict (a table's row): copied at once, then its personal values masked
            flat = MaskedDict(data)
            for k, kind in _personal_of(tuple(data)):
                v = flat[k]
                if type(v) is str:
                    flat[k] = _masked_value(kind, v, ring)
            return flat
        out = MaskedDict()
        for k, v in data.items():
            if type(v) is str:
                found = personal_kind(k) if type(k) is str else None
                out[k] = _masked_value(found, v, ring) if found is not None else v
            elif type(v) is dict or type(v) is list:
                out[k] = unseal_masked(v, ring)
            else:
                out[k] = v
        return out
    if isinstance(data, list):
        return [unseal_masked(v, ring) if type(v) is dict or type(v) is list else v for v in data]
    return data


_masked_reads: contextvars.ContextVar[bool] = contextvars.ContextVar("masked_reads", default=False)


@contextmanager
def masked_reads() -> Iterator[None]:
    """Inside: every :class:`SealedJSON` value read from the database comes with its personal values
    masked, nothing decrypted (a page that shows them masked anyway). What is loaded inside is for
    showing only: writing a sealed JSON value inside refuses (a masked value is never stored over the
    real one); load in a session whose objects are not written back afterwards."""
    token = _masked_reads.set(True)
    try:
        yield
    finally:
        _masked_reads.reset(token)


def reading_masked() -> bool:
    return _masked_reads.get()


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
        if value is not None and _masked_reads.get():
            raise RuntimeError("personal data written while reading masked values (crypto.masked_reads)")
        return None if value is None else seal(value)

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        return unseal_masked(value) if _masked_reads.get() else unseal(value)
