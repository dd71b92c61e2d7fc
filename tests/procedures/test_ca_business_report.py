"""Monthly business and fund reports (notice 002, 四(二)): streets and districts, with the business
figures (received, approved, refused, households and people helped) next to the payments."""

from __future__ import annotations

import datetime as dt

import time_machine
from sqlalchemy.orm import sessionmaker

from api.extensions import db
from engine.deadlines import calendar as cal
from engine.deadlines import service as deadlines
from tests.helpers import assert_error
from tests.procedures.cases import fresh_token
from tests.procedures.helpers import Case, approve, pay, reports, review, to_review

SH = cal.SHANGHAI


def test_street_and_district_reports_carry_the_business_figures(client, login):
    with time_machine.travel(dt.datetime(2026, 11, 20, 10, 0, tzinfo=SH), tick=False):
        relog = lambda username: fresh_token(client, username)  # noqa: E731
        paid = Case(client, relog, household_size=4)
        to_review(paid)
        paid.do("democratic_review", "pt_panel", review())
        paid.do("street_approval", "pt_head", approve("3000.00"))
        paid.do("disbursement", "pt_finance", pay("3000.00"))
        refused = Case(client, relog)
        refused.do("acceptance", "pt_officer", {"accepted": False, "rejection_reason": "不属于本街镇"})
        Case(client, relog)  # received, still open
    with time_machine.travel(dt.datetime(2026, 12, 1, 9, 1, tzinfo=SH), tick=False):
        deadlines.run_due(sessionmaker(bind=db.engine, expire_on_commit=False))
        made = reports(db.session())
        street, district, other = made["310107014"], made["310107"], made["310115"]
        figures = ("cases_received", "cases_approved", "cases_refused", "households_helped", "people_helped")
        assert [street.data[k] for k in figures] == [3, 1, 1, 1, 4]
        assert [district.data[k] for k in figures] == [3, 1, 1, 1, 4], "the district adds up its streets"
        assert [other.data[k] for k in figures] == [0, 0, 0, 0, 0]
        assert (street.data["report_level"], district.data["report_level"]) == ("street", "district")
        assert district.data["disbursed_total"] == "3000.00"
        # the district's report is checked by the district's finance, not a street's
        headers = fresh_token(client, "pt_district_finance")
        task = client.get(f"/api/v1/process-instances/{district.id}", headers=headers).json["open_tasks"][0]
        url = f"/api/v1/tasks/{task['id']}/complete"
        street_finance = fresh_token(client, "pt_finance")
        assert client.post(url, headers=street_finance, json={"data": {"confirmed": True}}).status_code in (
            403,
            404,
        )
        tampered = client.post(url, headers=headers, json={"data": {"confirmed": True, "people_helped": 40}})
        assert "people_helped" in assert_error(tampered, 422)["fields"]
        assert client.post(url, headers=headers, json={"data": {"confirmed": True}}).status_code == 200
