"""Monthly fund reports per street (timer-started) and the foundation's 2.5 % management-fee check."""

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


def test_monthly_report_per_street_sums_last_months_payments(client, login):
    with time_machine.travel(dt.datetime(2026, 11, 20, 10, 0, tzinfo=SH), tick=False):
        case = Case(client, lambda username: fresh_token(client, username))
        to_review(case)
        case.do("democratic_review", "pt_panel", review())
        case.do("street_approval", "pt_head", approve("3000.00"))
        case.do("disbursement", "pt_finance", pay("2999.50"))
    with time_machine.travel(dt.datetime(2026, 12, 1, 9, 1, tzinfo=SH), tick=False):
        deadlines.run_due(sessionmaker(bind=db.engine, expire_on_commit=False))
        session = db.session()
        made = reports(session)
        assert len(made) == 46 + 17, "one report per street and town, and one per district"
        mine, other = made["310107014"], made["310115004"]
        assert mine.data["report_period"] == "2026-11"
        assert (mine.data["disbursement_count"], mine.data["disbursed_total"]) == (1, "2999.50")
        assert (other.data["disbursement_count"], other.data["disbursed_total"]) == (0, "0")
        finance = fresh_token(client, "pt_finance")
        task = client.get(f"/api/v1/process-instances/{mine.id}", headers=finance).json["open_tasks"][0]
        assert task["bpmn_id"] == "review_report"
        url = f"/api/v1/tasks/{task['id']}/complete"
        tampered = client.post(
            url, headers=finance, json={"data": {"confirmed": True, "disbursed_total": "1"}}
        )
        assert "disbursed_total" in assert_error(tampered, 422)["fields"]
        assert client.post(url, headers=finance, json={"data": {"confirmed": True}}).status_code == 200


def test_management_fee_at_most_two_and_a_half_percent(client, login):
    with time_machine.travel(dt.datetime(2027, 1, 4, 9, 1, tzinfo=SH), tick=False):
        deadlines.run_due(sessionmaker(bind=db.engine, expire_on_commit=False))
        headers = fresh_token(client, "foundation")
        tasks = client.get("/api/v1/tasks?process_key=foundation_fee_check", headers=headers).json["items"]
        assert [t["bpmn_id"] for t in tasks] == ["fee_check"]
        url = f"/api/v1/tasks/{tasks[0]['id']}/complete"
        data = {"year": 2026, "lottery_project_spending": "1000000.00", "management_fee": "25000.01"}
        body = assert_error(client.post(url, headers=headers, json={"data": data}), 422)
        assert "2.5%" in body["fields"]["management_fee"][0]
        data["management_fee"] = "25000.00"
        assert client.post(url, headers=headers, json={"data": data}).status_code == 200
