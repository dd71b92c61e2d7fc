"""Streaming authenticated encryption of stored files, one random key per file.

Format: ``AFE1`` + a 7-byte random nonce prefix, then records of at most ``CHUNK`` plaintext bytes, each
AES-256-GCM with the nonce ``prefix ‖ record number (4 bytes) ‖ last flag (1 byte)`` and the header as
associated data. The last record carries the flag, so a truncated, reordered or spliced file is refused
(the STREAM construction). Memory is one record whatever the file's size.

While encrypting, :func:`encrypt` can hash the plaintext (``digest``, a hashlib object) in a worker
thread, record by record, alongside the encryption of the same record: hashlib releases the GIL on large
buffers, so with a free core the SHA-256 of an upload costs no extra time (AES-GCM itself is cheap: the
hash and the content checks are what an upload spends its CPU on).

The file key is wrapped by the personal-data keys (``engine.crypto``: ``enc1:`` Fernet token under
``ASSISTFLOW_DATA_KEYS``), so ``assistflow keys rotate`` re-wraps it like any other encrypted column.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from engine import crypto, errors

MAGIC = b"AFE1"
CHUNK = 256 * 1024
TAG = 16
HEADER = len(MAGIC) + 7
MAX_RECORDS = 2**32 - 1
_HASH_IN_THREAD = 64 * 1024  # smaller records are hashed inline (a thread hop costs more than it saves)


class Hasher(Protocol):
    def update(self, data: Any, /) -> None: ...


@errors.family(errors.Unavailable)
@errors.family(errors.Unavailable)  # as crypto.DecryptionError: the server's fault, never the user's
class CorruptFile(RuntimeError):
    """A stored file that does not decrypt: altered, truncated, or under a key no longer configured."""


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def wrap(key: bytes) -> str:
    return crypto.encrypt(base64.b64encode(key).decode("ascii"))


def unwrap(wrapped: str) -> bytes:
    return base64.b64decode(crypto.decrypt(wrapped))


def _nonce(prefix: bytes, number: int, last: bool) -> bytes:
    if number > MAX_RECORDS:
        raise CorruptFile("文件过大 / file too large for one key")
    return prefix + number.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


class _Sealer:
    """Encrypts one record, hashing its plaintext meanwhile in a worker thread when it is large."""

    def __init__(self, key: bytes, header: bytes, prefix: bytes, digest: Hasher | None) -> None:
        self.aead = AESGCM(key)
        self.header = header
        self.prefix = prefix
        self.digest = digest
        self.number = 0
        self.pool: ThreadPoolExecutor | None = None

    def seal(self, plain: memoryview, last: bool) -> bytes:
        nonce = _nonce(self.prefix, self.number, last)
        self.number += 1
        if self.digest is None:
            return self.aead.encrypt(nonce, plain, self.header)
        if len(plain) < _HASH_IN_THREAD:
            self.digest.update(plain)
            return self.aead.encrypt(nonce, plain, self.header)
        if self.pool is None:
            self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="attachment-sha")
        hashing: Future[None] = self.pool.submit(self.digest.update, plain)
        try:
            return self.aead.encrypt(nonce, plain, self.header)
        finally:
            hashing.result()  # the plaintext buffer is changed only once its hash is done

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)


def encrypt(key: bytes, chunks: Iterable[bytes], digest: Hasher | None = None) -> Iterator[bytes]:
    """The encrypted stream of ``chunks`` (any sizes), record by record; ``digest`` (a hashlib object),
    when given, is fed the plaintext in order and is complete when the stream is."""
    prefix = os.urandom(7)
    header = MAGIC + prefix
    sealer = _Sealer(key, header, prefix, digest)
    try:
        yield header
        buffer = bytearray()
        for chunk in chunks:
            buffer += chunk
            start = 0
            with memoryview(buffer) as view:
                while len(buffer) - start > CHUNK:  # keep at least one byte back: the last record is flagged
                    with view[start : start + CHUNK] as plain:
                        sealed = sealer.seal(plain, False)
                    yield sealed
                    start += CHUNK
            del buffer[:start]
        with memoryview(buffer) as view:
            sealed = sealer.seal(view, True)
        yield sealed
    finally:
        sealer.close()


def decrypt(key: bytes, chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The plaintext of an encrypted stream; :class:`CorruptFile` on any alteration or truncation."""
    aead = AESGCM(key)
    buffer = bytearray()
    header: bytes | None = None
    number = 0
    record = CHUNK + TAG

    def open_record(data: bytes | memoryview, last: bool) -> bytes:
        assert header is not None
        try:
            return aead.decrypt(_nonce(header[len(MAGIC) :], number, last), data, header)
        except InvalidTag:
            raise CorruptFile("存储的文件已损坏或被改动 / the stored file was altered or truncated") from None

    for chunk in chunks:
        buffer += chunk
        if header is None:
            if len(buffer) < HEADER:
                continue
            header = bytes(buffer[:HEADER])
            if not header.startswith(MAGIC):
                raise CorruptFile("不是加密存储的文件 / not an encrypted stored file")
            del buffer[:HEADER]
        start = 0
        view = memoryview(buffer)
        while len(buffer) - start > record:
            yield open_record(view[start : start + record], False)
            start += record
            number += 1
        view.release()
        del buffer[:start]
    if header is None:
        raise CorruptFile("存储的文件不完整 / the stored file is truncated")
    yield open_record(bytes(buffer), True)
