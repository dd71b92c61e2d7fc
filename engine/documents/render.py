"""Rendering a document: a Jinja2 HTML template filled from plain values, laid out on A4 by WeasyPrint
with a CJK font (WenQuanYi Zen Hei, installed by the Makefile's ``documents`` target).

Every page carries the case number (top right), "第 n 页 共 m 页" (bottom centre) and a QR code
(bottom right) holding the document's hash. The hash is the SHA-256 of the filled template's HTML as
UTF-8 bytes, rendered *without* the page furniture (no QR code, no hash text): the content as worded.
It is printed under the code as well, so a reader can compare it with the case's audit event
``document.generated`` (which also records the SHA-256 of the PDF file itself, the attachment's hash).

Jinja2 is allowed in this module alone (the ``engine-pure`` import contract names the exception): it
fills templates here, it serves no web page.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import threading
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

TEMPLATES = Path(__file__).parent / "templates"
FONT_FAMILY = '"WenQuanYi Zen Hei", "Noto Sans CJK SC", sans-serif'


def money(value: Any) -> str:
    """``6000.5`` → ``6,000.50 元``; an empty value → ``—``."""
    if value is None or value == "":
        return "—"
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return "—"
    return f"{amount:,.2f} 元"


def cn_date(value: Any) -> str:
    """A date (or ISO text, or datetime) → ``2026年6月8日``; an empty value → ``—``."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value[:10])
        except ValueError:
            return "—"
    if isinstance(value, dt.datetime):
        value = value.date()
    if not isinstance(value, dt.date):
        return "—"
    return f"{value.year}年{value.month}月{value.day}日"


def text(value: Any) -> str:
    """Any value as a reader sees it: nothing raw (``None`` → ``—``, booleans → 是/否)."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list | tuple):
        return "、".join(text(v) for v in value) or "—"
    if isinstance(value, dict):
        return "—"
    return str(value)


def _undefined_fails() -> type[jinja2.StrictUndefined]:
    return jinja2.StrictUndefined  # a missing value is a template bug, never printed as empty


# sandboxed: admins edit templates in the browser (engine.documents.template_versions), and a template
# reaches only the values it is given, never Python's internals
_ENV = SandboxedEnvironment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES)),
    autoescape=True,
    undefined=_undefined_fails(),
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters.update(money=money, cn_date=cn_date, text=text)
_ENV.finalize = text  # every {{ value }} goes through text(): no None, no True, no raw dict


@dataclass(frozen=True)
class Rendered:
    pdf: bytes
    content_sha256: str  # of the filled HTML without the QR code (the module docstring)
    html: str


def fill(template: str, values: dict[str, Any], source: str | None = None) -> str:
    """The filled template's HTML (the document's content, hashed as it is): the file ``template``, or
    ``source`` (a saved version's text) when given."""
    compiled = _ENV.from_string(source) if source is not None else _ENV.get_template(template)
    return compiled.render(**values)


def file_source(template: str) -> str:
    """The text of the template file ``template`` (a kind's base version)."""
    path = (TEMPLATES / template).resolve()
    if path.parent != TEMPLATES.resolve() or not path.is_file():
        raise FileNotFoundError(template)
    return path.read_text("utf-8")


def problem(source: str, sample: dict[str, Any]) -> str | None:
    """Why ``source`` cannot serve as a template (syntax, a missing value, a refused operation), else None."""
    try:
        _ENV.from_string(source).render(**sample)
    except jinja2.TemplateSyntaxError as err:
        return f"模板语法错误（第 {err.lineno} 行）/ template syntax error (line {err.lineno}): {err.message}"
    except jinja2.UndefinedError as err:
        return f"模板使用了不存在的值 / the template uses a value that does not exist: {err.message}"
    except jinja2.TemplateError as err:  # the sandbox's SecurityError among them
        return f"模板无法填写 / the template cannot be filled: {err}"
    except (TypeError, ValueError, KeyError, AttributeError, ArithmeticError) as err:
        return f"模板无法填写 / the template cannot be filled: {err}"
    return None


def qr_png(payload: str) -> bytes:
    import qrcode

    image = qrcode.make(payload, box_size=4, border=1)
    out = io.BytesIO()
    image.save(out)
    return out.getvalue()


def _page_css(case_number: str, title: str) -> str:
    def quoted(s: str) -> str:
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return f"""
@page {{
  size: A4;
  margin: 22mm 20mm 30mm 20mm;
  @top-left {{ content: {quoted(title)}; font-family: {FONT_FAMILY}; font-size: 9pt; color: #555; }}
  @top-right {{ content: {quoted("案件编号：" + case_number)}; font-family: {FONT_FAMILY}; font-size: 9pt; }}
  @bottom-center {{ content: "第 " counter(page) " 页 共 " counter(pages) " 页";
                    font-family: {FONT_FAMILY}; font-size: 9pt; }}
}}
html {{ font-family: {FONT_FAMILY}; font-size: 11.5pt; line-height: 1.7; }}
#doc-seal {{ position: fixed; right: -8mm; bottom: -26mm; width: 24mm; text-align: center;
            font-size: 5pt; line-height: 1.2; color: #444; word-break: break-all; }}
#doc-seal img {{ width: 18mm; height: 18mm; }}
"""


def _fetcher() -> Any:
    """Only ``data:`` URLs (the QR code): a template, which admins may edit, never reads a local file or
    the network."""
    from weasyprint.urls import URLFetcher

    return URLFetcher(allowed_protocols=["data"], allow_redirects=False)


_FONTS: list[Any] = []
_LAYOUT = threading.Lock()


def _font_config() -> Any:
    """One WeasyPrint font configuration per process: fontconfig scans the fonts once, not per PDF."""
    with _LAYOUT:
        if _FONTS:
            return _FONTS[0]
        from weasyprint.text.fonts import FontConfiguration

        _FONTS.append(FontConfiguration())
        return _FONTS[0]


def render(
    template: str, values: dict[str, Any], *, case_number: str, title: str, source: str | None = None
) -> Rendered:
    """Fill ``template`` (or a saved version's ``source``) and lay it out as PDF, with the page
    furniture on every page."""
    from weasyprint import CSS, HTML

    fonts = _font_config()
    content = fill(template, values, source)
    digest = hashlib.sha256(content.encode("utf-8")).hexdigest()
    qr = base64.b64encode(qr_png(f"assistflow:doc:sha256:{digest}")).decode("ascii")
    seal = (
        f'<div id="doc-seal"><img alt="" src="data:image/png;base64,{qr}">'
        f"<div>SHA-256 {digest[:16]}</div></div>"
    )
    # the fixed block repeats on every page (WeasyPrint places position: fixed boxes on each page)
    html = content.replace("<body>", "<body>" + seal, 1) if "<body>" in content else seal + content
    with _LAYOUT:  # the shared font configuration is not known to be thread-safe: one layout at a time
        pdf = HTML(string=html, base_url=str(TEMPLATES), url_fetcher=_fetcher()).write_pdf(
            stylesheets=[CSS(string=_page_css(case_number, title), font_config=fonts)], font_config=fonts
        )
    assert pdf is not None
    return Rendered(pdf=pdf, content_sha256=digest, html=content)
