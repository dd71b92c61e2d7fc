"""Where stored (encrypted) files live, behind one small interface.

* :class:`LocalStorage` — a directory (default ``instance/files``; ``make run`` and one web node).
* :class:`S3Storage` — S3-compatible object storage through boto3, for several web nodes:
  ``ASSISTFLOW_FILES_URL=s3://bucket/prefix``, ``ASSISTFLOW_FILES_S3_ENDPOINT`` for a server other than
  AWS (MinIO, Ceph, …); credentials as boto3 finds them (``AWS_ACCESS_KEY_ID`` …).

Objects are written whole or not at all: a local file appears by rename once complete, an S3 object by
completing its multipart upload; a failed write removes what it wrote. Keys are random, never derived
from a case or a file name. Storage holds ciphertext only (``engine.attachments.cipher``).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import threading
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from engine import errors

READ_CHUNK = 1024 * 1024
S3_PART = 8 * 1024 * 1024  # S3's smallest part is 5 MiB
_KEY = re.compile(r"[0-9a-f]{2}/[0-9a-f]{32}(\.thumb)?")


@errors.family(errors.Unavailable)
@errors.family(errors.Unavailable)  # as crypto.DecryptionError: the server's fault, never the user's
class StorageError(RuntimeError):
    """The file store cannot be written or read (configuration, permissions, the server)."""


class Storage(Protocol):
    def write(self, key: str, chunks: Iterable[bytes]) -> int: ...
    def read(self, key: str) -> Iterator[bytes]: ...
    def delete(self, key: str) -> None: ...
    def delete_any(self, key: str) -> None: ...
    def exists(self, key: str) -> bool: ...
    def listing(self) -> Iterator[tuple[str, dt.datetime]]: ...
    def describe(self) -> str: ...


def new_key() -> str:
    name = uuid.uuid4().hex
    return f"{name[:2]}/{name}"


def _checked(key: str) -> str:
    if not _KEY.fullmatch(key):
        raise StorageError(f"bad storage key {key!r}")
    return key


class _Flusher:
    """Puts a large file's pages on disk while it is still being written: after every ``EVERY`` bytes a
    helper thread calls ``fdatasync`` (it releases the GIL and mostly waits for the disk), so the final
    ``fsync`` waits for the last piece only instead of the whole file. Small files never start it."""

    EVERY = 8 * 1024 * 1024

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self._since = 0
        self._wake = threading.Event()
        self._done = False
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._done:
                return
            try:
                os.fdatasync(self.out.fileno())
            except OSError:  # the final fsync runs anyway and reports it
                return

    def wrote(self, n: int) -> None:
        self._since += n
        if self._since < self.EVERY:
            return
        self._since = 0
        self.out.flush()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="upload-flush", daemon=True)
            self._thread.start()
        self._wake.set()  # while a sync is under way, the next one starts when it ends

    def stop(self) -> None:
        if self._thread is not None:
            self._done = True
            self._wake.set()
            self._thread.join()
            self._thread = None


class LocalStorage:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def describe(self) -> str:
        return f"local directory {self.root}"

    def _path(self, key: str) -> Path:
        return self.root / _checked(key)

    def write(self, key: str, chunks: Iterable[bytes]) -> int:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        size = 0
        try:
            with open(partial, "wb") as out:
                flusher = _Flusher(out)
                try:
                    for chunk in chunks:
                        out.write(chunk)
                        size += len(chunk)
                        flusher.wrote(len(chunk))
                finally:
                    flusher.stop()
                out.flush()
                os.fsync(out.fileno())  # on disk before its row can commit
            os.replace(partial, path)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return size

    def read(self, key: str) -> Iterator[bytes]:
        path = self._path(key)
        try:
            handle = open(path, "rb")  # noqa: SIM115  (closed by the generator)
        except FileNotFoundError:
            raise StorageError(f"stored file {key} is missing") from None
        with handle:
            while chunk := handle.read(READ_CHUNK):
                yield chunk

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def listing(self) -> Iterator[tuple[str, dt.datetime]]:
        if not self.root.is_dir():
            return
        for path in self.root.glob("*/*"):
            if not path.is_file():
                continue
            name = path.name.removesuffix(".partial")
            modified = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
            key = f"{path.parent.name}/{name}"
            if _KEY.fullmatch(key):
                yield (key + ".partial" if path.name.endswith(".partial") else key), modified

    def delete_any(self, key: str) -> None:
        """Remove a key :meth:`listing` listed (a finished object or a crashed write's ``.partial``)."""
        name = key.removesuffix(".partial")
        path = self._path(name)
        (path.with_name(path.name + ".partial") if key.endswith(".partial") else path).unlink(missing_ok=True)


class S3Storage:
    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None, client: Any = None):
        if client is None:
            import boto3

            client = boto3.client("s3", endpoint_url=endpoint_url)
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def _name(self, key: str) -> str:
        return self.prefix + _checked(key)

    def write(self, key: str, chunks: Iterable[bytes]) -> int:
        name = self._name(key)
        buffer = bytearray()
        iterator = iter(chunks)
        size = 0
        for chunk in iterator:  # small objects: one PUT
            buffer += chunk
            size += len(chunk)
            if len(buffer) >= S3_PART:
                break
        else:
            self.client.put_object(Bucket=self.bucket, Key=name, Body=bytes(buffer))
            return size
        upload = self.client.create_multipart_upload(Bucket=self.bucket, Key=name)["UploadId"]
        parts: list[dict[str, Any]] = []
        try:
            for chunk in iterator:
                buffer += chunk
                size += len(chunk)
                while len(buffer) >= S3_PART:
                    self._part(name, upload, parts, bytes(buffer[:S3_PART]))
                    del buffer[:S3_PART]
            if buffer or not parts:
                self._part(name, upload, parts, bytes(buffer))
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=name, UploadId=upload, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload)
            raise
        return size

    def _part(self, name: str, upload: str, parts: list[dict[str, Any]], data: bytes) -> None:
        number = len(parts) + 1
        answer = self.client.upload_part(
            Bucket=self.bucket, Key=name, UploadId=upload, PartNumber=number, Body=data
        )
        parts.append({"PartNumber": number, "ETag": answer["ETag"]})

    def read(self, key: str) -> Iterator[bytes]:
        from botocore.exceptions import ClientError

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._name(key))["Body"]
        except ClientError as err:
            raise StorageError(f"stored file {key} cannot be read: {err}") from None
        try:
            yield from body.iter_chunks(READ_CHUNK)
        finally:
            body.close()

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._name(key))

    def delete_any(self, key: str) -> None:
        self.delete(key)

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._name(key))
        except ClientError:
            return False
        return True

    def listing(self) -> Iterator[tuple[str, dt.datetime]]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix)
        for page in pages:
            for item in page.get("Contents", []):
                key = item["Key"][len(self.prefix) :]
                if _KEY.fullmatch(key):
                    yield key, item["LastModified"]


def from_url(url: str | None, *, default_dir: str | Path, endpoint_url: str | None = None) -> Storage:
    """The store an ``ASSISTFLOW_FILES_URL`` names: ``s3://bucket/prefix``, ``file:///dir`` or a path;
    none: ``default_dir``."""
    if not url:
        return LocalStorage(default_dir)
    if url.startswith("s3://"):
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not bucket:
            raise StorageError(f"ASSISTFLOW_FILES_URL {url!r}: name a bucket (s3://bucket/prefix)")
        return S3Storage(bucket, prefix, endpoint_url=endpoint_url)
    if "://" in url and not url.startswith("file://"):
        raise StorageError(f"ASSISTFLOW_FILES_URL {url!r}: use s3://bucket/prefix or a directory")
    return LocalStorage(url.removeprefix("file://"))


_storage: Storage | None = None


def configure(store: Storage) -> Storage:
    global _storage
    _storage = store
    return store


def current() -> Storage:
    if _storage is None:
        raise StorageError("file storage not configured (ASSISTFLOW_FILES_URL)")
    return _storage
