"""Streaming authenticated encryption of stored files, one random key per file.

Format: ``AFE1`` + a 7-byte random nonce prefix, then records of at most ``CHUNK`` plaintext bytes, each
AES-256-GCM with the nonce ``prefix ‖ record number (4 bytes) ‖ last flag (1 byte)`` and the header as
associated data. The last record carries the flag, so a truncated, reordered or spliced file is refused
(the STREAM construction). Memory is one record whatever the file's size.

The file key is wrapped by the personal-data keys (``engine.crypto``: ``enc1:`` Fernet token under
``ASSISTFLOW_DATA_KEYS``), so ``assistflow keys rotate`` re-wraps it like any other encrypted column.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable, Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from engine import crypto, errors

MAGIC = b"AFE1"
CHUNK = 256 * 1024
TAG = 16
HEADER = len(MAGIC) + 7
MAX_RECORDS = 2**32 - 1


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


def encrypt(key: bytes, chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The encrypted stream of ``chunks`` (any sizes), record by record.

    Chunks of exactly one record's size (what the upload decoder hands over) are encrypted as they are,
    one record held back until the next shows it is not the last; other sizes go through a buffer."""
    aead = AESGCM(key)
    prefix = os.urandom(7)
    header = MAGIC + prefix
    yield header
    buffer = bytearray()
    held: bytes | None = None  # a whole record not yet known not to be the last
    number = 0
    for chunk in chunks:
        if not buffer and len(chunk) == CHUNK:
            if held is not None:
                yield aead.encrypt(_nonce(prefix, number, False), held, header)
                number += 1
            held = chunk
            continue
        if held is not None:
            buffer += held
            held = None
        buffer += chunk
        start = 0
        view = memoryview(buffer)
        while len(buffer) - start > CHUNK:  # keep at least one byte back: the last record is flagged
            yield aead.encrypt(_nonce(prefix, number, False), view[start : start + CHUNK], header)
            start += CHUNK
            number += 1
        view.release()
        del buffer[:start]
    yield aead.encrypt(_nonce(prefix, number, True), held if held is not None else bytes(buffer), header)


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
