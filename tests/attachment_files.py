"""Small real files for attachment tests: a JPEG with an EXIF GPS position, a PNG, a PDF, a docx, and
the bad ones (an executable, HTML, SVG, a zip bomb, a corrupt PDF and image)."""

from __future__ import annotations

import io
import zipfile

from PIL import Image

from api.demo_materials import pdf_of


def jpeg(*, gps: bool = False, size: tuple[int, int] = (640, 480)) -> bytes:
    image = Image.new("RGB", size, (200, 120, 40))
    out = io.BytesIO()
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    if gps:
        exif[0x8825] = {1: "N", 2: (31.0, 14.0, 0.0), 3: "E", 4: (121.0, 28.0, 0.0)}
    image.save(out, format="JPEG", exif=exif.tobytes(), quality=85)
    return out.getvalue()


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (50, 40), (10, 200, 10)).save(out, format="PNG")
    return out.getvalue()


def pdf(body: bytes = b"") -> bytes:
    """A minimal valid one-page PDF (cross-reference table and trailer)."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
    ]
    return pdf_of(objects, body)


def docx() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document/>")
    return out.getvalue()


def zip_bomb() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", b"\0" * (20 * 1024 * 1024))
    return out.getvalue()


def plain_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("notes.txt", "hello")
    return out.getvalue()


EXE = b"MZ\x90\x00" + b"\x00" * 200
HTML = b"<!DOCTYPE html><html><script>alert(1)</script></html>"
SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
CORRUPT_PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog" + b"x" * 300  # cut short: no xref, no %%EOF
CORRUPT_JPEG = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + b"\x13" * 400
