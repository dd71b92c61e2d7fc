"""A multipart upload read as a stream: the file part's bytes are handed on chunk by chunk as they arrive,
never spooled to a temporary file or held whole (Werkzeug's sans-IO multipart decoder)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from engine.errors import Invalid
from engine.forms.model import msg

READ = 256 * 1024
MAX_FIELD = 4096


def _bad(zh: str, en: str) -> Invalid:
    return Invalid.on("file", msg(zh, en))


def parse(stream: IO[bytes], content_type: str | None) -> tuple[dict[str, str], str | None, Iterator[bytes]]:
    """The form fields before the file part, the file's name, and its bytes as they arrive."""
    mimetype, options = parse_options_header(content_type or "")
    if mimetype != "multipart/form-data" or not options.get("boundary"):
        raise _bad(
            "请以 multipart/form-data 上传文件（字段 file）", "Upload as multipart/form-data (part 'file')"
        )
    decoder = MultipartDecoder(options["boundary"].encode("latin-1"), max_form_memory_size=None)
    ended = False

    def events() -> Iterator[object]:
        nonlocal ended
        while True:
            try:
                event = decoder.next_event()
            except ValueError:
                raise _bad("上传数据格式有误", "Malformed multipart body") from None
            if isinstance(event, NeedData):
                if ended:
                    raise _bad("上传不完整", "The upload is incomplete")
                chunk = stream.read(READ)
                if not chunk:
                    ended = True
                    decoder.receive_data(None)
                else:
                    decoder.receive_data(chunk)
                continue
            yield event
            if isinstance(event, Epilogue):
                return

    flow = events()
    fields: dict[str, str] = {}
    current: str | None = None
    buffer = b""
    for event in flow:
        if isinstance(event, Field):
            current, buffer = event.name, b""
        elif isinstance(event, Data) and current is not None:
            buffer += event.data
            if len(buffer) > MAX_FIELD:
                raise _bad("表单字段过长", "A form part is too long")
            if not event.more_data:
                fields[current] = buffer.decode("utf-8", "replace")
                current = None
        elif isinstance(event, File):
            if event.name != "file":
                raise _bad("文件部分应命名为 file", "The file part must be named 'file'")

            def data() -> Iterator[bytes]:
                for item in flow:
                    if isinstance(item, Data):
                        if item.data:
                            yield item.data
                        if not item.more_data:
                            return
                raise _bad("上传不完整", "The upload is incomplete")

            return fields, event.filename, data()
    raise _bad("请求中没有文件（字段 file）", "No file in the request (part 'file')")
