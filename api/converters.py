"""URL converters: ``<int:…>`` path ids are bounded to what the database can hold.

An id outside 1 … 2**31-1 (PostgreSQL ``integer``) matches no route — a 404 — instead of reaching
the database and failing there (an overflow on SQLite, "integer out of range" on PostgreSQL). The
bounds appear in the OpenAPI document.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.routing import IntegerConverter

MAX_ID = 2**31 - 1


class IdConverter(IntegerConverter):
    def __init__(
        self,
        map: Any,
        fixed_digits: int = 0,
        min: int | None = 1,
        max: int | None = MAX_ID,
        signed: bool = False,
    ):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def install(app: Flask) -> None:
    """Call before any route is registered."""
    app.url_map.converters["int"] = IdConverter
