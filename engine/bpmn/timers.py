"""Bounds on timer texts (issue 18 item 12), checked at lint/deploy for constants and at run time for
texts computed from case data.

SpiffWorkflow turns a duration's years and months into days one month at a time (``P9999999Y`` loops
120 million times, then overflows ``datetime``), reads ``R0/…`` as "never", so the task after the timer
is silently skipped, and fires ``R/PT1S`` every second for ever. These checks read the ISO text with
their own pattern first, so nothing unbounded reaches the library.
"""

from __future__ import annotations

import datetime as dt
import re

MAX_TIMER_YEARS = 100
MIN_CYCLE_SECONDS = 3600  # the shortest period of a repeating timer; ASSISTFLOW_MIN_TIMER_CYCLE_SECONDS

_DURATION = re.compile(
    r"^P(?!$)(?:(\d{1,9})Y)?(?:(\d{1,9})M)?(?:(\d{1,9})W)?(?:(\d{1,9})D)?"
    r"(?:T(?=\d)(?:(\d{1,9})H)?(?:(\d{1,9})M)?(?:(\d{1,9}(?:\.\d+)?)S)?)?$"
)
_SECONDS = (365.25 * 86400, 31 * 86400, 7 * 86400, 86400, 3600, 60, 1)


def configure(min_cycle_seconds: int | None = None) -> None:
    global MIN_CYCLE_SECONDS
    if min_cycle_seconds is not None:
        MIN_CYCLE_SECONDS = int(min_cycle_seconds)


def duration_seconds(text: str) -> float | None:
    """Approximate length of an ISO 8601 duration in seconds; ``None`` if ``text`` is not one."""
    match = _DURATION.match(text.strip().upper())
    if match is None:
        return None
    return sum(float(part) * unit for part, unit in zip(match.groups(), _SECONDS, strict=True) if part)


def _duration_problem(text: str) -> str | None:
    seconds = duration_seconds(text)
    if seconds is None:
        return f"不是 ISO 8601 时长 / not an ISO 8601 duration: {text[:80]!r}"
    if seconds > MAX_TIMER_YEARS * 366 * 86400:
        return (
            f"时长超过 {MAX_TIMER_YEARS} 年 / duration {text[:80]!r} is longer than {MAX_TIMER_YEARS} years"
        )
    return None


def problem(kind: str, text: str) -> str | None:
    """Why a timer text of ``kind`` (timeDuration, timeCycle, timeDate) is refused, or ``None``.

    Dates are read as SpiffWorkflow reads them (``datetime.fromisoformat``).
    """
    text = text.strip()
    if kind == "timeDuration" and text.upper().startswith("P"):
        return _duration_problem(text)
    if kind in ("timeDuration", "timeDate"):  # a duration timer may also name its date
        try:
            dt.datetime.fromisoformat(text)
        except ValueError:
            return f"不是 ISO 8601 日期或时长 / not an ISO 8601 date or duration: {text[:80]!r}"
        return None
    parts = text.upper().replace("--", "/").split("/")
    head = parts[0]
    if not re.fullmatch(r"R\d{0,9}", head) or len(parts) < 2:
        return f"不是 ISO 8601 循环 / not an ISO 8601 cycle (R[n]/[start/]period): {text[:80]!r}"
    if head == "R0" or (head[1:] and int(head[1:]) == 0):
        return f"循环次数为 0，计时器永不触发 / cycle {text[:80]!r} repeats zero times: it would never fire"
    periods = [p for p in parts[1:] if p.startswith("P")]
    if len(periods) != 1:
        return f"循环缺少周期 / cycle {text[:80]!r} needs exactly one period (e.g. R/P1M)"
    found = _duration_problem(periods[0])
    if found:
        return found
    seconds = duration_seconds(periods[0]) or 0.0
    if seconds < MIN_CYCLE_SECONDS:
        return (
            f"循环周期短于 {MIN_CYCLE_SECONDS} 秒 / cycle {text[:80]!r} repeats more often than every "
            f"{MIN_CYCLE_SECONDS} s"
        )
    return None
