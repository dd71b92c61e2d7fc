"""What comes in: the kind of a file by its content (magic bytes), never by its name or declared type.

Allowed: JPEG, PNG, HEIC/HEIF (phones), PDF, Office documents (OOXML ``.docx/.xlsx/.pptx``; legacy
``.doc/.xls`` compound files). Refused, each with its reason: executables and scripts, HTML and SVG,
archives (and Office files that are zip bombs or carry macros), PDFs with JavaScript or launch actions,
anything unrecognised, empty files. :class:`Inspector` watches the stream as it passes (head, tail, size,
SHA-256, PDF actions) so a 100 MB upload is checked without holding it, nor reading it twice.
"""

from __future__ import annotations

import hashlib
import re
import struct
import unicodedata
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from engine.errors import Invalid, TooLarge
from engine.forms.model import msg

HEAD = 4096
TAIL = 256 * 1024  # an Office file's central directory must lie within it
MAX_ZIP_ENTRIES = 5000
MAX_ZIP_UNCOMPRESSED = 300 * 1024 * 1024
MAX_ZIP_RATIO = 200
# uncompressed action names (what sits inside compressed object streams is not seen: best effort)
_PDF_ACTIONS = re.compile(rb"/(JavaScript|Launch|EmbeddedFile)")
_OVERLAP = len(b"/EmbeddedFile")


@dataclass(frozen=True)
class Kind:
    name: str  # jpeg, png, heic, pdf, docx, xlsx, pptx, doc
    group: str  # image, pdf, office
    media_type: str
    extension: str
    label: str


KINDS = {
    k.name: k
    for k in (
        Kind("jpeg", "image", "image/jpeg", ".jpg", "JPEG 图片"),
        Kind("png", "image", "image/png", ".png", "PNG 图片"),
        Kind("heic", "image", "image/heic", ".heic", "HEIC 图片"),
        Kind("pdf", "pdf", "application/pdf", ".pdf", "PDF"),
        Kind(
            "docx",
            "office",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            ".docx",
            "Word",
        ),
        Kind(
            "xlsx",
            "office",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ".xlsx",
            "Excel",
        ),
        Kind(
            "pptx",
            "office",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            ".pptx",
            "PowerPoint",
        ),
        Kind("doc", "office", "application/msword", ".doc", "Office 97-2003"),
    )
}
GROUP_LABELS = {
    "image": msg("图片", "images"),
    "pdf": "PDF",
    "office": msg("Office 文档", "Office documents"),
}

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif"}
_REFUSED_PREFIXES = (
    (b"MZ", msg("可执行文件", "an executable")),
    (b"\x7fELF", msg("可执行文件", "an executable")),
    (b"\xfe\xed\xfa", msg("可执行文件", "an executable")),
    (b"\xcf\xfa\xed\xfe", msg("可执行文件", "an executable")),
    (b"\xca\xfe\xba\xbe", msg("可执行文件", "an executable")),
    (b"#!", msg("脚本", "a script")),
    (b"\x1f\x8b", msg("压缩包", "an archive")),
    (b"7z\xbc\xaf", msg("压缩包", "an archive")),
    (b"Rar!", msg("压缩包", "an archive")),
    (b"BZh", msg("压缩包", "an archive")),
    (b"\xfd7zXZ", msg("压缩包", "an archive")),
)
_MARKUP = re.compile(rb"^\s*(<\?xml|<!doctype|<html|<svg|<script|<head|<body|<iframe)", re.IGNORECASE)


def refuse(message_zh: str, message_en: str, field: str = "file") -> Invalid:
    return Invalid.on(field, msg(message_zh, message_en))


def sniff(head: bytes) -> Kind | None:
    """The kind the first bytes say (``None``: a zip, decided from its central directory)."""
    if not head:
        raise refuse("文件为空（0 字节）", "The file is empty (0 bytes)")
    for prefix, what in _REFUSED_PREFIXES:
        if head.startswith(prefix):
            raise refuse(f"不接受此类文件：{what.split(' / ')[0]}", f"Not accepted: {what.split(' / ')[-1]}")
    if _MARKUP.match(head[:512].lstrip(b"\xef\xbb\xbf")):
        raise refuse("不接受网页或 SVG 文件", "HTML and SVG files are not accepted")
    if head.startswith(b"\xff\xd8\xff"):
        return KINDS["jpeg"]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return KINDS["png"]
    if len(head) >= 12 and head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return KINDS["heic"]
    if head.startswith(b"%PDF-"):
        return KINDS["pdf"]
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return KINDS["doc"]
    if head.startswith(b"PK\x03\x04"):
        return None
    raise refuse(
        "无法识别的文件类型：只接受 JPEG、PNG、HEIC 图片，PDF 和 Office 文档",
        "Unrecognised file type: only JPEG, PNG, HEIC images, PDF and Office documents are accepted",
    )


def office_kind(tail: bytes, total: int) -> Kind:
    """The Office kind of a zip from its central directory (in ``tail``, the file's last bytes):
    refuses archives that are not Office documents, zip bombs and macro-enabled documents."""
    end = tail.rfind(b"PK\x05\x06")
    if end < 0 or len(tail) - end < 22:
        raise refuse("压缩文件已损坏", "The zip structure is damaged")
    (_, _, _, count, cd_size, cd_offset, _) = struct.unpack("<4H2LH", tail[end + 4 : end + 22])
    if count == 0xFFFF or cd_offset == 0xFFFFFFFF:
        raise refuse("不接受 ZIP64 压缩文件", "ZIP64 archives are not accepted")
    if count > MAX_ZIP_ENTRIES:
        raise refuse("压缩文件内文件过多", "Too many entries in the archive")
    start = len(tail) - (total - cd_offset)
    if start < 0 or cd_offset + cd_size > total:
        raise refuse("压缩文件已损坏或目录过大", "The zip directory is damaged or too large")
    names: list[str] = []
    uncompressed = 0
    pos = start
    for _ in range(count):
        if tail[pos : pos + 4] != b"PK\x01\x02":
            raise refuse("压缩文件已损坏", "The zip structure is damaged")
        fields = struct.unpack("<4s6H3L5H2L", tail[pos : pos + 46])
        compressed, size = fields[8], fields[9]
        name_len, extra_len, comment_len = fields[10], fields[11], fields[12]
        name = tail[pos + 46 : pos + 46 + name_len].decode("utf-8", "replace")
        names.append(name)
        uncompressed += size
        if size > MAX_ZIP_UNCOMPRESSED or uncompressed > MAX_ZIP_UNCOMPRESSED:
            raise refuse("压缩内容过大（疑似压缩炸弹）", "Uncompressed content too large (zip bomb)")
        if size > 1024 * 1024 and size > MAX_ZIP_RATIO * max(compressed, 1):
            raise refuse("压缩比异常（疑似压缩炸弹）", "Abnormal compression ratio (zip bomb)")
        pos += 46 + name_len + extra_len + comment_len
    if "[Content_Types].xml" not in names:
        raise refuse(
            "不接受压缩包（只接受 Office 文档）", "Archives are not accepted (only Office documents)"
        )
    if any(n.lower().endswith("vbaproject.bin") for n in names):
        raise refuse("不接受含宏的 Office 文档", "Office documents with macros are not accepted")
    for prefix, kind in (("word/", "docx"), ("xl/", "xlsx"), ("ppt/", "pptx")):
        if any(n.startswith(prefix) for n in names):
            return KINDS[kind]
    raise refuse("不是可识别的 Office 文档", "Not a recognised Office document")


def check_pdf_tail(tail: bytes) -> None:
    if b"%%EOF" not in tail[-2048:] or b"startxref" not in tail:
        raise refuse("PDF 文件不完整或已损坏", "The PDF is incomplete or damaged")


_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]+')


def sanitise_filename(name: str | None, kind: Kind) -> str:
    """A file name safe to show and to offer on download: the last path part, no control or reserved
    characters, at most 120 characters, ending in the extension of what the content is."""
    raw = unicodedata.normalize("NFC", (name or "").replace("\\", "/").rsplit("/", 1)[-1])
    stem = _UNSAFE.sub("_", raw).strip(" ._")
    if "." in stem:
        stem = stem.rsplit(".", 1)[0].strip(" ._")
    stem = stem[:100] or "file"
    return stem + kind.extension


class Inspector:
    """Watches a stream: size (refused past ``limit``), SHA-256, head, tail, PDF actions.

    The bytes are never copied: the tail keeps references to the last chunks (at most ``TAIL`` bytes and
    one chunk). Large chunks are hashed in a worker thread (hashlib releases the GIL on large buffers), in
    order, at most ``HASH_BEHIND`` chunks (1 MB) behind the stream, so the hash runs alongside the content checks,
    the encryption and the write of what follows. Call :meth:`close` in the end (``finally``)."""

    HASH_IN_THREAD = 64 * 1024  # from the first chunk this large on (a thread hop costs ~50 µs)
    HASH_BEHIND = 4

    def __init__(self, limit: int, limit_message: str, *, hashing: bool = True) -> None:
        self.limit = limit
        self.limit_message = limit_message
        self.size = 0
        self.hashing = hashing
        self.head = b""
        self.kind: Kind | None = None
        self._sha = hashlib.sha256()
        self._pool: ThreadPoolExecutor | None = None
        self._hashing: deque[Future[None]] = deque()
        self._recent: deque[bytes] = deque()
        self._recent_size = 0
        self._carry = b""
        self.pdf_action: bytes | None = None

    @property
    def tail(self) -> bytes:
        """The last ``TAIL`` bytes seen."""
        return b"".join(self._recent)[-TAIL:]

    def sha256(self) -> str:
        """The hex SHA-256 of everything fed."""
        self._drain()
        return self._sha.hexdigest()

    def close(self) -> None:
        try:
            self._drain()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None

    def _drain(self) -> None:
        while self._hashing:
            self._hashing.popleft().result()

    def _hash(self, chunk: bytes) -> None:
        if self._pool is None and len(chunk) < self.HASH_IN_THREAD:
            self._sha.update(chunk)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="upload-sha256")
        self._hashing.append(self._pool.submit(self._sha.update, chunk))  # one worker: in order
        while len(self._hashing) > self.HASH_BEHIND:
            self._hashing.popleft().result()

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        if not isinstance(chunk, bytes):  # a buffer its owner may reuse: keep a copy of it
            chunk = bytes(chunk)
        self.size += len(chunk)
        if self.size > self.limit:
            raise TooLarge(self.limit_message, {"file": [self.limit_message]})
        if self.hashing:
            self._hash(chunk)
        if len(self.head) < HEAD:
            self.head += chunk[: HEAD - len(self.head)]
        self._recent.append(chunk)
        self._recent_size += len(chunk)
        while self._recent_size - len(self._recent[0]) >= TAIL:
            self._recent_size -= len(self._recent.popleft())
        if self.kind is not None and self.kind.name == "pdf" and self.pdf_action is None:
            found = _PDF_ACTIONS.search(self._carry + chunk[:_OVERLAP]) or _PDF_ACTIONS.search(chunk)
            self.pdf_action = found.group(0) if found else None
            self._carry = chunk[-_OVERLAP:]

    def finish(self) -> Kind:
        tail = self.tail
        kind = self.kind or office_kind(tail, self.size)
        if kind.name == "pdf":
            check_pdf_tail(tail)
            if self.pdf_action is not None:
                raise refuse(
                    "不接受含脚本或自动操作的 PDF",
                    "PDFs with scripts, launch actions or embedded files are not accepted",
                )
        return kind
