"""Periodic re-review 动态复核 (notice 004, (一)(五)): a family still in need at the follow-up visit is
reviewed again, and only with a renewed credit commitment."""

from __future__ import annotations

import datetime as dt

import time_machine
from sqlalchemy.orm import sessionmaker

from api.extensions import db
from engine.deadlines import service as deadlines
from tests.helpers import assert_error
from tests.procedures.cases import fresh_token
from tests.procedures.helpers import Case, approve, assess, pay, review, to_review

INVESTIGATION = {"visit_date": "2026-12-22", "findings": "复审入户核实，仍有困难", "household_verified": True}
RENEWAL = {
    "renewal_applied": "apply",
    "credit_commitment_renewed": True,
    "household_size": 4,
    "circumstances_changed": "病情反复，医疗支出增加",
    "amount_requested": "6000.00",
}


def paid_and_followed_up(client, login, still_needs_help):
    case = Case(client, login)
    to_review(case)
    case.do("democratic_review", "pt_panel", review())
    case.do("street_approval", "pt_head", approve())
    case.do("disbursement", "pt_finance", pay())
    timers = client.get(f"/api/v1/process-instances/{case.id}/timers", headers=login("pt_head")).json
    due = dt.datetime.fromisoformat(timers[0]["due_at"])
    traveller = time_machine.travel(due + dt.timedelta(minutes=1), tick=False)
    traveller.start()
    deadlines.run_due(sessionmaker(bind=db.engine, expire_on_commit=False))
    relog = lambda username: fresh_token(client, username)  # noqa: E731
    case.login = relog
    case.do(
        "follow_up_visit",
        "pt_advisor",
        {"visit_date": "2026-12-21", "situation": "病情反复", "still_needs_help": still_needs_help},
    )
    return case, traveller


def test_renewal_needs_a_new_credit_commitment_and_runs_the_review_again(client, login):
    case, traveller = paid_and_followed_up(client, login, still_needs_help=True)
    try:
        assert case.open() == ["renewal_application"]
        unsigned = case.submit(
            "renewal_application", "pt_advisor", {**RENEWAL, "credit_commitment_renewed": False}
        )
        assert "诚信承诺" in assert_error(unsigned, 422)["fields"]["credit_commitment_renewed"][0]
        missing = case.submit("renewal_application", "pt_advisor", {"renewal_applied": "apply"})
        assert {"credit_commitment_renewed", "circumstances_changed", "amount_requested"} <= set(
            assert_error(missing, 422)["fields"]
        )
        case.do("renewal_application", "pt_advisor", RENEWAL)
        assert case.open() == ["home_investigation"], "the re-review verifies the household again"
        case.do("home_investigation", "pt_advisor", INVESTIGATION)
        over = case.submit("assessment", "pt_officer", assess("6000.01"))
        assert "proposed_amount" in assert_error(over, 422)["fields"], "capped by the renewal's request"
        case.do("assessment", "pt_officer", assess("5000.00"))
        case.do("democratic_review", "pt_panel", review())
        case.do("street_approval", "pt_head", approve("5000.00"))
        case.do("disbursement", "pt_finance", pay("5000.00"))
        data = case.detail()["data"]
        assert data["renewal_count"] == 1 and data["household_size"] == 4
    finally:
        traveller.stop()


def test_a_family_not_renewing_goes_to_feedback_and_closure(client, login):
    case, traveller = paid_and_followed_up(client, login, still_needs_help=True)
    try:
        case.do("renewal_application", "pt_advisor", {"renewal_applied": "decline"})
        assert case.open() == ["feedback"]
    finally:
        traveller.stop()


def test_no_renewal_when_the_family_no_longer_needs_help(client, login):
    case, traveller = paid_and_followed_up(client, login, still_needs_help=False)
    try:
        assert case.open() == ["feedback"]
    finally:
        traveller.stop()
