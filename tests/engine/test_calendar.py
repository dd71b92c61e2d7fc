"""Working days on the mainland-China calendar (holidays and adjusted working weekends) and deadlines."""

from __future__ import annotations

import datetime as dt

import chinese_calendar
import pytest

from engine.deadlines import calendar as cal

D = dt.date
SH = cal.SHANGHAI


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        (D(2026, 9, 30), 1, D(2026, 10, 8)),  # National Day: 1–7 October off
        (D(2026, 10, 9), 1, D(2026, 10, 10)),  # Saturday 10 October is an adjusted working day
        (D(2026, 10, 10), 1, D(2026, 10, 12)),  # Sunday 11 October is not
        (D(2026, 2, 13), 1, D(2026, 2, 14)),  # Saturday 14 February: adjusted working day
        (D(2026, 2, 14), 1, D(2026, 2, 24)),  # Spring Festival 15–23 February off
        (D(2026, 9, 24), 1, D(2026, 9, 28)),  # Mid-Autumn Friday 25 September off
        (D(2026, 11, 2), 3, D(2026, 11, 5)),  # an ordinary week
        (D(2026, 10, 8), -1, D(2026, 9, 30)),
    ],
)
def test_add_working_days(start, n, expected):
    assert cal.add_working_days(start, n) == expected


def test_working_days_between_skips_holidays_and_counts_adjusted_saturday():
    assert cal.working_days_between(D(2026, 9, 30), D(2026, 10, 12)) == 4  # 8, 9, 10 (Sat), 12


def test_ten_working_days_across_spring_festival():
    start = dt.datetime(2026, 2, 12, 10, 0, tzinfo=SH)
    due = cal.due_after(start, "10个工作日")
    # 13, 14 (Sat, adjusted), 24, 25, 26, 27, 28 (Sat, adjusted) Feb, 2, 3, 4 Mar → the end of 4 March
    assert due == dt.datetime(2026, 3, 5, 0, 0, tzinfo=SH)
    assert cal.is_workday(D(2026, 2, 28)) and not cal.is_workday(D(2026, 3, 1))


def test_working_days_deadline_across_national_day():
    start = dt.datetime(2026, 9, 29, 10, 0, tzinfo=SH)
    assert cal.due_after(start, "3 working days") == dt.datetime(2026, 10, 10, 0, 0, tzinfo=SH)


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("30 days", dt.timedelta(days=30)),
        ("30天", dt.timedelta(days=30)),
        ("PT48H", dt.timedelta(hours=48)),
        ("P5D", dt.timedelta(days=5)),
        ("P1W", dt.timedelta(weeks=1)),
        ("2 hours", dt.timedelta(hours=2)),
        ("PT2S", dt.timedelta(seconds=2)),
    ],
)
def test_calendar_durations(text, delta):
    start = dt.datetime(2026, 9, 30, 10, 0, tzinfo=dt.UTC)
    assert cal.due_after(start, text) == start + delta


@pytest.mark.parametrize("text", ["", "soon", "10 weekdays maybe", "P", "PT", "-3 days"])
def test_unreadable_deadlines(text):
    with pytest.raises(cal.DeadlineError):
        cal.due_after(dt.datetime(2026, 1, 5, tzinfo=dt.UTC), text)


def test_shift_working_days_keeps_time_of_day():
    moment = dt.datetime(2026, 10, 9, 16, 0, tzinfo=dt.UTC)  # 10 Oct 00:00 Shanghai
    assert cal.shift_working_days(moment, -1) == dt.datetime(2026, 10, 9, 0, 0, tzinfo=SH)
    assert cal.shift_working_days(moment, 1) == dt.datetime(2026, 10, 12, 0, 0, tzinfo=SH)


def test_years_without_holiday_data_fall_back_to_weekdays():
    # the first year the installed holiday data does not cover (it grows with each release)
    year = max(d.year for d in (*chinese_calendar.holidays, *chinese_calendar.workdays)) + 1
    january_4 = D(year, 1, 4)
    far = january_4 + dt.timedelta(days=(7 - january_4.weekday()) % 7)  # the first Monday from 4 January
    assert not cal.covered(far)
    assert cal.is_workday(far) and not cal.is_workday(far - dt.timedelta(days=1))  # Sunday
    assert cal.add_working_days(far - dt.timedelta(days=3), 1) == far  # Friday → Monday, weekend skipped
    assert cal.covered(D(year - 1, 10, 10)) and cal.covered(D(2026, 10, 10))


@pytest.mark.parametrize("text", ["P99999999D", "PT99999999999H", "P9999999999999999999W"])
def test_deadlines_beyond_a_century_are_refused_not_overflowed(text):
    """Issue 18 item 12: a deadline property like P99999999D was an OverflowError (500) at task creation."""
    with pytest.raises(cal.DeadlineError):
        cal.parse_duration(text)
