"""Reading a generated PDF back as text with Debian's pdftotext (poppler-utils, the Makefile's
``documents`` target installs it): the tests skip with a message where it is missing."""

from __future__ import annotations

import shutil
import subprocess

import pytest


def pdf_text(pdf: bytes, page: int | None = None) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext not installed (make documents installs poppler-utils)")
    pages = ["-f", str(page), "-l", str(page)] if page else []
    done = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", *pages, "-", "-"], input=pdf, capture_output=True, check=True
    )
    return done.stdout.decode("utf-8")


def page_count(pdf: bytes) -> int:
    if shutil.which("pdfinfo") is None:
        pytest.skip("pdfinfo not installed (make documents installs poppler-utils)")
    done = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True)
    line = next(x for x in done.stdout.decode().splitlines() if x.startswith("Pages:"))
    return int(line.split()[1])
