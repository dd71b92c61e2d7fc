"""The admin calendar page and the dashboard's warning for a year not entered (frozen clock)."""

from __future__ import annotations

import datetime as dt

import time_machine
from sqlalchemy import func, select

from api.extensions import db
from engine.deadlines import calendar as cal
from engine.models import AuditEvent, HolidayDay, HolidayYear
from tests.factories import open_task, start_demo

SH = cal.SHANGHAI


def text(response) -> str:
    return response.get_data(as_text=True)


def test_only_admins_reach_the_calendar_page(web):
    browser = web("pt_district")
    assert browser.get("/admin/calendar").status_code == 403
    assert browser.post("/admin/calendar/2027", data={"holidays": "2027-01-01 元旦"}).status_code == 403
    assert db.session().get(HolidayYear, 2027) is None


def test_dashboard_warns_from_the_first_of_december(web):
    with time_machine.travel(dt.datetime(2026, 11, 30, 10, 0, tzinfo=SH), tick=True):
        page = text(web("pt_district").get("/dashboard"))
        assert "data-calendar-missing" not in page
    with time_machine.travel(dt.datetime(2026, 12, 1, 10, 0, tzinfo=SH), tick=True):
        page = text(web("pt_district").get("/dashboard"))
        assert 'data-calendar-missing="2027"' in page and "尚未录入 2027 年的节假日" in page
        assert "/admin/calendar" not in page  # the link is for admins


def test_admin_enters_a_year_on_the_page(web):
    with time_machine.travel(dt.datetime(2026, 12, 31, 10, 0, tzinfo=SH), tick=False):
        instance = start_demo(db.session())  # due end of 5 January while 2027 is unknown
        db.session().commit()
    with time_machine.travel(dt.datetime(2026, 12, 2, 10, 0, tzinfo=SH), tick=True):
        browser = web("admin")
        page = text(browser.get("/admin/calendar"))
        assert "节假日日历" in page and 'data-year="2027"' in page  # opens on the missing year
        assert 'data-calendar-missing="2027"' in page and "未录入，按周一至周五计算" in page
        refused = browser.post("/admin/calendar/2027", data={"holidays": "2027-01-01 元旦\n2027-13-01 元旦"})
        assert refused.status_code == 422 and "日期无效：2027-13-01" in text(refused)
        assert "2027-13-01 元旦" in text(refused)  # the admin's text is kept for correction
        outside = browser.post("/admin/calendar/2027", data={"holidays": "2026-10-01 国庆"})
        assert outside.status_code == 422 and "日期不在 2027 年内" in text(outside)
        assert db.session().get(HolidayYear, 2027) is None
        saved = browser.post(
            "/admin/calendar/2027",
            data={"holidays": "2027-01-01 元旦", "workdays": "2027-02-06 春节"},
            follow_redirects=True,
        )
        assert saved.status_code == 200
        page = text(saved)
        assert "已保存 2027 年的节假日安排" in page and 'data-date="2027-01-01"' in page
        assert "data-calendar-missing" not in page and "管理员录入" in page
        dry = browser.post(
            "/admin/calendar/recompute", data={"apply": "0", "year": "2027"}, follow_redirects=True
        )
        assert "按当前日历，1 个未办结任务的期限将改变" in text(dry)
        applied = browser.post(
            "/admin/calendar/recompute",
            data={"apply": "1", "year": "2027", "reason": "录入"},
            follow_redirects=True,
        )
        assert "已重新计算 1 个任务的期限" in text(applied)
    db.session().expire_all()
    assert db.session().get(HolidayDay, dt.date(2027, 2, 6)).kind == "workday"
    assert not cal.is_workday(dt.date(2027, 1, 1)) and cal.is_workday(
        dt.date(2027, 2, 6)
    )  # a Saturday worked
    assert open_task(db.session(), instance.id, "application").due_at == dt.datetime(2027, 1, 7, tzinfo=SH)
    for action, expected in (
        ("calendar.year_saved", 1),
        ("calendar.recomputed", 1),
        ("task.deadline_recomputed", 1),
    ):
        count = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
        assert db.session().scalar(count) == expected, action


def test_the_page_and_the_warning_in_english(web):
    with time_machine.travel(dt.datetime(2026, 12, 2, 10, 0, tzinfo=SH), tick=True):
        browser = web("admin")
        browser.get("/lang/en")
        page = text(browser.get("/admin/calendar?year=2027"))
        assert "Holiday calendar" in page and "Not entered; Monday to Friday apply" in page
        assert "The holidays and adjusted working days of 2027 are not entered" in page
        assert "节假日" not in page and "None" not in page
        seeded = text(browser.get("/admin/calendar?year=2026"))
        assert "Seeded (chinesecalendar)" in seeded and 'data-date="2026-02-17"' in seeded
        assert "Holiday" in seeded and "Adjusted working day" in seeded
