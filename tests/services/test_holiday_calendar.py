"""The holiday calendar kept in the database: the table first, the library as fallback, Monday–Friday for
a year neither covers; the warning from 1 December; re-computing open deadlines (dry run, then audited).

The 2027 days entered below are test data, not the State Council's schedule (unknown to us)."""

from __future__ import annotations

import datetime as dt
import time

import chinese_calendar
import pytest
import time_machine
from sqlalchemy import select, update

from engine.audit.models import AuditEvent
from engine.deadlines import calendar as cal
from engine.deadlines import holidays
from engine.deadlines.holiday_models import HolidayCalendarVersion, HolidayDay, HolidayYear
from engine.errors import Forbidden, Invalid
from tests.conftest import get_user
from tests.factories import open_task, start_demo

SH = cal.SHANGHAI


def _year_of_library(year: int) -> list[dict]:
    from chinese_calendar import constants

    days = [{"date": d, "kind": "holiday", "name": "库"} for d in constants.holidays if d.year == year]
    return days + [{"date": d, "kind": "workday", "name": "库"} for d in constants.workdays if d.year == year]


def test_the_migration_seeds_the_library_years(session):
    assert cal.entered(2004) and cal.entered(2026) and not cal.entered(2027)
    spring = session.get(HolidayDay, dt.date(2026, 2, 17))
    assert (spring.kind, spring.name) == ("holiday", "春节")
    assert session.get(HolidayDay, dt.date(2026, 1, 4)).kind == "workday"  # a Sunday worked (调休)
    assert cal.is_workday(dt.date(2026, 11, 5))  # an ordinary Thursday (put back after a test changed it)


def test_the_table_overrides_the_library(session):
    admin = get_user(session, "admin")
    thursday = dt.date(2026, 11, 5)
    assert chinese_calendar.is_workday(thursday) and cal.is_workday(thursday)
    days = _year_of_library(2026) + [{"date": thursday, "kind": "holiday", "name": "测试日"}]
    view = holidays.put_year(session, admin, 2026, days)
    session.commit()
    assert view.source == "admin"
    assert not cal.is_workday(thursday)  # the table decides, though the library says otherwise
    assert cal.add_working_days(dt.date(2026, 11, 4), 1) == dt.date(2026, 11, 6)
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "calendar.year_saved")).one()
    assert event.actor_id == admin.id and event.details["year"] == 2026


def test_uncovered_year_falls_back_to_monday_to_friday(session):
    assert not cal.covered(dt.date(2030, 1, 1)) and not cal.library_covers(2030)
    assert cal.is_workday(dt.date(2030, 1, 1))  # a Tuesday: no holiday known
    assert not cal.is_workday(dt.date(2030, 1, 5))  # a Saturday
    assert cal.add_working_days(dt.date(2030, 1, 4), 1) == dt.date(2030, 1, 7)
    later = dt.datetime(2029, 12, 1, 0, 30, tzinfo=SH)
    assert holidays.missing_years(session, later) == [2029, 2030]


def test_warning_from_the_first_of_december(session):
    before = dt.datetime(2026, 11, 30, 23, 59, tzinfo=SH)
    first = dt.datetime(2026, 12, 1, 0, 0, tzinfo=SH)
    assert holidays.missing_years(session, before) == []
    assert holidays.missing_years(session, first) == [2027]
    holidays.put_year(session, get_user(session, "admin"), 2027, [])  # entered: no holiday at all
    session.commit()
    assert holidays.missing_years(session, first) == []
    assert holidays.missing_years(session, dt.datetime(2027, 12, 1, 9, tzinfo=SH)) == [2028]


def test_entered_2027_holiday_moves_new_deadlines_and_recompute_moves_open_ones(session):
    admin = get_user(session, "admin")
    with time_machine.travel(dt.datetime(2026, 12, 31, 10, 0, tzinfo=SH), tick=False):
        instance = start_demo(session)
        session.commit()
    row = open_task(session, instance.id, "application")
    # 3 working days from Thursday 31 Dec with 2027 unknown: Fri 1 Jan, Mon 4, Tue 5
    assert row.due_at == dt.datetime(2027, 1, 6, 0, 0, tzinfo=SH)

    holidays.put_year(
        session, admin, 2027, [{"date": dt.date(2027, 1, 1), "kind": "holiday", "name": "元旦"}]
    )
    session.commit()
    session.refresh(row)
    assert row.due_at == dt.datetime(2027, 1, 6, 0, 0, tzinfo=SH)  # not moved silently
    with time_machine.travel(dt.datetime(2026, 12, 31, 10, 0, tzinfo=SH), tick=False):
        fresh = start_demo(session)
        session.commit()
    assert open_task(session, fresh.id, "application").due_at == dt.datetime(2027, 1, 7, 0, 0, tzinfo=SH)

    with pytest.raises(Forbidden):
        holidays.recompute(session, get_user(session, "pt_officer"), dry_run=True)
    planned = holidays.recompute(session, admin, dry_run=True)
    assert [c.task_id for c in planned] == [row.id]
    assert planned[0].after == dt.datetime(2027, 1, 7, 0, 0, tzinfo=SH)
    session.refresh(row)
    assert row.due_at == dt.datetime(2027, 1, 6, 0, 0, tzinfo=SH)  # a dry run moves nothing
    with pytest.raises(Invalid) as refused:
        holidays.recompute(session, admin, dry_run=False, reason=" ")
    assert "reason" in refused.value.fields

    done = holidays.recompute(session, admin, dry_run=False, reason="2027年节假日已录入")
    session.commit()
    assert [c.task_id for c in done] == [row.id]
    session.refresh(row)
    assert row.due_at == dt.datetime(2027, 1, 7, 0, 0, tzinfo=SH)
    assert row.warn_at == dt.datetime(2027, 1, 6, 0, 0, tzinfo=SH)
    event = session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "task.deadline_recomputed", AuditEvent.task_id == row.id
        )
    ).one()
    assert event.actor_id == admin.id and event.details["reason"] == "2027年节假日已录入"
    summary = session.scalars(select(AuditEvent).where(AuditEvent.action == "calendar.recomputed")).one()
    assert summary.details["tasks"] == [row.id]
    assert holidays.recompute(session, admin, dry_run=True) == []  # nothing left to move


def test_bad_days_are_refused_per_field(session):
    admin = get_user(session, "admin")
    days = [
        {"date": dt.date(2028, 1, 1), "kind": "holiday", "name": "元旦"},
        {"date": dt.date(2027, 5, 1), "kind": "holiday", "name": "劳动节"},
        {"date": dt.date(2028, 1, 1), "kind": "workday", "name": ""},
    ]
    with pytest.raises(Invalid) as refused:
        holidays.put_year(session, admin, 2028, days)
    assert set(refused.value.fields) == {"days.1.date", "days.2.date"}
    with pytest.raises(Forbidden):
        holidays.put_year(session, get_user(session, "city"), 2028, [])
    session.rollback()
    assert session.get(HolidayYear, 2028) is None


def test_other_processes_see_an_edit_within_the_ttl(session, monkeypatch):
    """Another process's edit (version bumped in the table, no invalidate here) is picked up once the
    TTL has passed, and not before: the hot path does not query the table on every look-up."""
    now = [1000.0]
    monkeypatch.setattr(cal._cache, "clock", lambda: now[0])
    cal.invalidate()
    day = dt.date(2027, 3, 3)
    assert cal.is_workday(day)
    session.add(HolidayYear(year=2027, source="admin"))
    session.flush()
    session.add(HolidayDay(day=day, year=2027, kind="holiday", name="他处录入"))
    session.execute(update(HolidayCalendarVersion).values(version=HolidayCalendarVersion.version + 1))
    session.commit()
    now[0] += cal.TTL / 2
    assert cal.is_workday(day)  # cached
    now[0] += cal.TTL
    assert not cal.is_workday(day)


def test_recompute_leaves_a_deadline_a_supervisor_changed(session):
    from engine.tasks import service as tasks

    admin = get_user(session, "admin")
    with time_machine.travel(dt.datetime(2026, 12, 31, 10, 0, tzinfo=SH), tick=False):
        kept, moved = start_demo(session), start_demo(session)
        session.commit()
        extended = tasks.change_deadline(
            session,
            get_user(session, "pt_head"),
            open_task(session, kept.id, "application").id,
            reason="材料待补",
            extend_by="2 working days",
        )
        session.commit()
    assert extended.due_at == dt.datetime(2027, 1, 8, 0, 0, tzinfo=SH)
    holidays.put_year(
        session, admin, 2027, [{"date": dt.date(2027, 1, 1), "kind": "holiday", "name": "元旦"}]
    )
    session.commit()
    planned = holidays.recompute(session, admin, dry_run=True)
    assert [c.task_id for c in planned] == [open_task(session, moved.id, "application").id]


def test_an_unreadable_table_falls_back_to_the_library_and_is_retried(app_ctx, caplog):
    class Broken(cal.Source):
        calls = 0

        def version(self) -> int:
            Broken.calls += 1
            raise RuntimeError("no table")

        def load(self) -> cal.Snapshot:
            Broken.calls += 1
            raise RuntimeError("no table")

    real = cal._cache.source
    now = [5000.0]
    cal.use_source(Broken())
    try:
        cal._cache.clock = lambda: now[0]
        assert not cal.is_workday(dt.date(2026, 2, 17))  # the library's Spring Festival
        assert cal.is_workday(dt.date(2027, 1, 1))  # nothing known of 2027: Monday–Friday
        assert Broken.calls == 1 and "holiday table unreadable" in caplog.text
        now[0] += cal.TTL + 1
        cal.is_workday(dt.date(2026, 2, 17))
        assert Broken.calls == 2  # tried again after the TTL
    finally:
        cal._cache.clock = time.monotonic
        cal.use_source(real)
    assert cal.entered(2026)
