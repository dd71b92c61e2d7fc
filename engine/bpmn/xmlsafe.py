"""Reading untrusted BPMN XML safely, and the problems lint reports about it.

The XML is parsed with entity expansion, DTDs and network access disabled and with a size limit;
:class:`Problem` is one finding (an ``error`` refuses the deploy, a ``warning`` does not) and
:class:`BpmnInvalid` carries all of them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from lxml import etree

from engine import errors

MAX_BPMN_BYTES = 2 * 1024 * 1024

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"

_DOCTYPE = re.compile(rb"<!\s*DOCTYPE|<!\s*ENTITY", re.IGNORECASE)


ERROR = "error"  # refuses the deploy
WARNING = "warning"  # deployable, but worth a look (lint shows it; deploy does not block on it)


_LANGUAGES = re.compile(r"\s*/\s+")  # "中文 / English" (the first slash followed by a space)


@dataclass(frozen=True)
class Problem:
    """One finding of lint, pointing at the element when known (its id, its name and its line): an
    ``error`` refuses the definition, a ``warning`` does not. ``message`` is "中文 / English"."""

    message: str
    element_id: str | None = None
    line: int | None = None
    severity: str = ERROR
    name: str | None = None  # the element's name attribute (what the modeller sees in the diagram)

    @property
    def message_zh(self) -> str:
        return _LANGUAGES.split(self.message, maxsplit=1)[0]

    @property
    def message_en(self) -> str:
        parts = _LANGUAGES.split(self.message, maxsplit=1)
        return parts[-1]

    def as_dict(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "message_zh": self.message_zh,
            "message_en": self.message_en,
            "element": self.element_id,
            "name": self.name,
            "line": self.line,
            "severity": self.severity,
        }

    def __str__(self) -> str:
        where = []
        if self.element_id:
            named = f" ({self.name})" if self.name and self.name != self.element_id else ""
            where.append(f"element '{self.element_id}'{named}")
        if self.line:
            where.append(f"line {self.line}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


@errors.family(errors.Invalid)
class BpmnInvalid(ValueError):
    """The BPMN cannot be deployed; ``problems`` says why, element by element."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


@errors.family(errors.TooLarge)
class BpmnTooLarge(BpmnInvalid):
    """The file is over :data:`MAX_BPMN_BYTES` (the API answers 413)."""


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parse_xml(data: bytes | str, *, any_root: bool = False) -> etree._ElementTree:
    """Parse untrusted XML safely: no DTD, no entities, no network, bounded size. The root must be
    BPMN ``definitions`` unless ``any_root`` (a DMN file: its reader checks the root)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > MAX_BPMN_BYTES:
        raise BpmnTooLarge([Problem(f"文件过大 / file larger than {MAX_BPMN_BYTES // 1024} KB")])
    if not raw.strip():
        raise BpmnInvalid([Problem("文件为空 / empty file")])
    if _DOCTYPE.search(raw):
        # Entities are where XXE and billion-laughs live; BPMN never needs a DTD.
        raise BpmnInvalid([Problem("不允许 DOCTYPE 声明 / DOCTYPE declarations are not allowed")])
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
    )
    try:
        tree = etree.ElementTree(etree.fromstring(raw, parser=parser))
    except etree.XMLSyntaxError as err:
        raise BpmnInvalid(
            [Problem(f"XML 格式错误 / not well-formed XML: {err.msg}", line=err.lineno)]
        ) from err
    except ValueError as err:  # e.g. encoding declarations on str input
        raise BpmnInvalid([Problem(f"XML 格式错误 / not well-formed XML: {err}")]) from err
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise BpmnInvalid([Problem("不允许 DOCTYPE 声明 / DOCTYPE declarations are not allowed")])
    root = tree.getroot()
    if any_root:
        return tree
    if root.tag != f"{{{BPMN_NS}}}definitions":
        raise BpmnInvalid(
            [
                Problem(
                    f"根元素必须是 bpmn:definitions / root element must be BPMN definitions, found {root.tag}"
                )
            ]
        )
    return tree


_DECLARED_ENCODING = re.compile(r"""^(\s*<\?xml[^>]*?\bencoding\s*=\s*["'])([^"']*)(["'])""")
_UTF8_NAMES = {"UTF-8", "UTF8", "US-ASCII", "ASCII"}


def to_utf8(data: bytes | str, *, any_root: bool = False) -> bytes:
    """The same BPMN as UTF-8 bytes (with its declaration saying so): how definitions are stored.

    A valid file in another encoding (ISO-8859-1, GBK, UTF-16 with its declaration or byte-order mark)
    is decoded by the encoding the XML parser detected; a file whose bytes do not match its declared
    encoding, or that names an encoding Python does not know, is refused as :class:`BpmnInvalid`.
    Line numbers stay as they were (only the declaration's encoding name changes).
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tree = parse_xml(
        raw, any_root=any_root
    )  # refuses what the parser cannot read (wrong bytes for the declaration)
    encoding = (tree.docinfo.encoding or "UTF-8").upper()
    if encoding in _UTF8_NAMES:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise BpmnInvalid(
                [Problem(f"文件编码不是 UTF-8 / the file is not valid UTF-8 (byte {err.start})")]
            ) from err
        return raw
    try:
        text = raw.decode(encoding)
    except (LookupError, UnicodeDecodeError) as err:
        raise BpmnInvalid(
            [Problem(f"无法按声明的编码读取文件 / cannot read the file as {encoding}: {type(err).__name__}")]
        ) from err
    text = _DECLARED_ENCODING.sub(r"\g<1>UTF-8\g<3>", text.lstrip("\ufeff"), count=1)
    return text.encode("utf-8")
