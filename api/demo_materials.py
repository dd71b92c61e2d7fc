"""Sample materials for demo cases (and tests): a small PDF or photo uploaded for every material a step
requires, so the demo data's cases carry their documents like real ones (生成的示例文件, not real scans)."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image
from sqlalchemy.orm import Session

from engine.attachments import service as attachments
from engine.attachments.models import Attachment
from engine.tasks import service as tasks
from engine.users.models import User


def sample_pdf(title: str = "sample") -> bytes:
    """A minimal valid one-page PDF whose content stream names ``title`` (ASCII)."""
    text = "".join(c if 32 <= ord(c) < 127 and c not in "()\\" else "_" for c in title)
    stream = b"BT /F1 18 Tf 72 760 Td (" + text.encode("ascii") + b") Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    return pdf_of(objects)


def pdf_of(objects: list[bytes], body: bytes = b"") -> bytes:
    """A PDF file of ``objects`` (numbered from 1, the first the catalog) with its cross-reference table
    and trailer; ``body`` is written as is after the objects (tests use it for hostile content)."""
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + obj + b"\nendobj\n")
    out.write(body)
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def sample_photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (480, 360), (120, 160, 200)).save(out, format="JPEG", quality=80)
    return out.getvalue()


def supply(session: Session, user: User, row: Any) -> list[Attachment]:
    """Upload a sample file as ``user`` for each required (or conditionally required) material of the
    task that has none yet."""
    form = tasks.form_of(row)
    if form is None:
        return []
    have = {a.field for a in attachments.of_task(session, row.id)}
    done = []
    for number, f in enumerate(form.file_fields, start=1):
        if f.name in have or not (f.required or f.required_if):
            continue
        # a name of digits: no words of either language on the pages that list it
        stem = f"{row.id:05d}-{number:02d}"
        data, name = (
            (sample_pdf(f.name), f"{stem}.pdf") if "pdf" in f.kinds else (sample_photo(), f"{stem}.jpg")
        )
        done.append(attachments.upload(session, user, row.id, f.name, name, [data]))
    return done
