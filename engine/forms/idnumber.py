"""Mainland resident ID numbers (18 digits, ISO 7064 MOD 11-2 check digit)."""

from __future__ import annotations

import datetime as dt
import re

_ID_NUMBER = re.compile(r"\d{17}[\dX]")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def with_check_digit(first17: str) -> str:
    """Complete 17 digits into an 18-digit resident ID with its ISO 7064 MOD 11-2 check digit."""
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return first17 + _ID_CHECK[total % 11]


def valid_id_number(value: str) -> bool:
    """Mainland 18-digit resident ID: format, ISO 7064 MOD 11-2 check digit, a real past birth date."""
    value = value.upper()
    if not _ID_NUMBER.fullmatch(value) or value[0] == "0":
        return False
    total = sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS, strict=True))
    if _ID_CHECK[total % 11] != value[17]:
        return False
    try:
        born = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    return dt.date(1900, 1, 1) <= born <= dt.date.today()
