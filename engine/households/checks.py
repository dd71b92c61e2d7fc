"""Checking what a household's registration is given: resident ID numbers (shape, check digit, birth
date), mobile numbers and bank account numbers, each refused per field with why (422)."""

from __future__ import annotations

import datetime as dt
import re

from engine.errors import Invalid
from engine.forms.idnumber import with_check_digit

_ID_SHAPE = re.compile(r"\d{17}[\dX]")
_MOBILE = re.compile(r"1[3-9]\d{9}")


def check_id_number(value: str, field: str = "id_number") -> str:
    """A mainland 18-digit resident ID, normalized (upper-case X); 422 per field with why."""
    number = value.strip().upper()
    if not _ID_SHAPE.fullmatch(number) or number[0] == "0":
        raise Invalid.on(field, "应为 18 位身份证号码 / must be an 18-digit resident ID number")
    if with_check_digit(number[:17]) != number:
        raise Invalid.on(field, "校验位错误 / wrong check digit")
    if birth_date_of(number) is None:
        raise Invalid.on(field, "出生日期无效 / the birth date in the number is not a real past date")
    return number


def birth_date_of(number: str) -> dt.date | None:
    """The birth date a resident ID carries (digits 7–14), or None when it is not a real past date."""
    try:
        born = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return None
    return born if dt.date(1900, 1, 1) <= born <= dt.date.today() else None


def check_phone(value: str, field: str = "phone") -> str:
    number = re.sub(r"[\s-]", "", value)
    if not _MOBILE.fullmatch(number):
        raise Invalid.on(field, "应为 11 位手机号 / must be an 11-digit mobile number")
    return number


def check_bank_account(value: str) -> str:
    number = re.sub(r"\s", "", value)
    if not re.fullmatch(r"\d{12,30}", number):
        raise Invalid.on("bank_account", "应为 12–30 位数字 / must be 12 to 30 digits")
    return number


def mask_account(value: str | None) -> str | None:
    """``6222020200112233445`` → ``**** **** 3445`` (the last four kept)."""
    return None if not value else "**** **** " + value[-4:]
