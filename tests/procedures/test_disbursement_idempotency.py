"""A disbursement is recorded once per approval, however often the finance officer's request is retried.

Money stays Decimal from the JSON body through the form, the case data, the audit record and the
monthly fund report (strings in JSON, Decimal in Python, never float).
"""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import time_machine
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api.extensions import db
from engine.audit import chain
from engine.audit.models import AuditEvent
from engine.deadlines import calendar as cal
from engine.deadlines import service as deadlines
from engine.idempotency.models import IdempotencyKey
from engine.instances.models import ProcessInstance
from tests.helpers import assert_error
from tests.procedures.cases import fresh_token
from tests.procedures.helpers import Case, approve, pay, review, to_review

SH = cal.SHANGHAI


def _to_disbursement(client):
    case = Case(client, lambda username: fresh_token(client, username))
    to_review(case)
    case.do("democratic_review", "pt_panel", review())
    case.do("street_approval", "pt_head", approve("3000.00"))
    return case


def _paid_events(session, instance_id):
    return session.scalars(
        select(AuditEvent).where(
            AuditEvent.instance_id == instance_id,
            AuditEvent.action == "task.completed",
            AuditEvent.details["bpmn_id"].as_string() == "disbursement",
        )
    ).all()


def test_retry_after_a_lost_response_pays_once_and_the_report_sums_once(client):
    with time_machine.travel(dt.datetime(2026, 11, 20, 10, 0, tzinfo=SH), tick=False):
        case = _to_disbursement(client)
        finance = fresh_token(client, "pt_finance")
        url = f"/api/v1/tasks/{case.task('disbursement')['id']}/complete"
        headers = {**finance, "Idempotency-Key": "pay-case-1-attempt"}
        body = {"data": pay("2999.50")}
        first = client.post(url, headers=headers, json=body)
        assert first.status_code == 200, first.json
        # The response is lost on the way; the client retries the same request with the same key.
        retried = client.post(url, headers=headers, json=body)
        assert retried.status_code == 200 and retried.headers["Idempotent-Replayed"] == "true"
        assert retried.json == first.json
        again = client.post(url, headers=headers, json={"data": {**pay("2999.50")}})  # same body, rebuilt
        assert again.status_code == 200 and again.json == first.json
        without_key = client.post(url, headers=finance, json=body)
        assert_error(without_key, 409)  # no key: the stale task is refused as before
        other_body = client.post(url, headers=headers, json={"data": pay("2000.00")})
        assert "Idempotency-Key" in assert_error(other_body, 422)["fields"]
        assert_error(client.post(url, headers={**finance, "Idempotency-Key": "has space"}, json=body), 422)

        session = db.session()
        paid = _paid_events(session, case.id)
        assert len(paid) == 1, "one disbursement recorded"
        assert paid[0].details["data"]["amount_paid"] == "2999.50"  # stored as exact text
        assert isinstance(paid[0].details["data"]["amount_paid"], str)
        instance = session.get(ProcessInstance, case.id)
        assert instance.data["amount_paid"] == "2999.50"
        assert session.scalar(select(func.count()).select_from(IdempotencyKey)) == 1
        db.session.rollback()

    with time_machine.travel(dt.datetime(2026, 12, 1, 9, 1, tzinfo=SH), tick=False):
        deadlines.run_due(sessionmaker(bind=db.engine, expire_on_commit=False))
        session = db.session()
        report = session.scalars(
            select(ProcessInstance).where(
                ProcessInstance.process_key == "ca_monthly_fund_report",
                ProcessInstance.org_unit.has(code="310107014"),
            )
        ).one()
        assert (report.data["disbursement_count"], report.data["disbursed_total"]) == (1, "2999.50")
        assert Decimal(report.data["disbursed_total"]) == Decimal("2999.50")
        assert chain.verify(session).ok


def test_a_json_number_amount_is_read_exactly_not_as_binary_float(client):
    """0.1 + 0.2 style money: a JSON number is taken by its text (repr), never summed as float."""
    case = _to_disbursement(client)
    finance = fresh_token(client, "pt_finance")
    url = f"/api/v1/tasks/{case.task('disbursement')['id']}/complete"
    data = {"amount_paid": 2999.3, "paid_on": "2026-11-20", "payment_method": "bank_transfer"}
    assert (
        client.post(url, headers={**finance, "Idempotency-Key": "n1"}, json={"data": data}).status_code == 200
    )
    paid = _paid_events(db.session(), case.id)
    assert paid[0].details["data"]["amount_paid"] == "2999.3"
    assert Decimal(paid[0].details["data"]["amount_paid"]) + Decimal("0.7") == Decimal("3000.0")


def test_a_retry_racing_the_original_gets_the_same_answer(client, app):
    """Both requests carry the key and arrive together: one applies, the other replays its answer."""
    case = _to_disbursement(client)
    finance = fresh_token(client, "pt_finance")
    url = f"/api/v1/tasks/{case.task('disbursement')['id']}/complete"
    headers = {**finance, "Idempotency-Key": "race-key"}
    db.session.remove()
    barrier = threading.Barrier(2, timeout=30)
    results: list = [None, None]

    def post(i: int) -> None:
        with app.app_context():
            c = app.test_client()
            barrier.wait()
            r = c.post(url, headers=headers, json={"data": pay("3000.00")})
            results[i] = (r.status_code, r.json)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [r[0] for r in results] == [200, 200], results
    assert results[0][1] == results[1][1]
    with Session(db.engine) as s:
        assert len(_paid_events(s, case.id)) == 1


def test_keys_expire_after_a_week_and_a_late_retry_is_still_not_a_second_payment(client):
    start = dt.datetime.now(dt.UTC)
    with time_machine.travel(start, tick=False):
        case = _to_disbursement(client)
        finance = fresh_token(client, "pt_finance")
        url = f"/api/v1/tasks/{case.task('disbursement')['id']}/complete"
        headers = {**finance, "Idempotency-Key": "late"}
        assert client.post(url, headers=headers, json={"data": pay()}).status_code == 200
    with time_machine.travel(start + dt.timedelta(days=8), tick=False):
        headers = {**fresh_token(client, "pt_finance"), "Idempotency-Key": "late"}
        assert_error(client.post(url, headers=headers, json={"data": pay()}), 409)
        other = client.post(url, headers={**headers, "Idempotency-Key": "new-key"}, json={"data": pay()})
        assert_error(other, 409)
    assert len(_paid_events(db.session(), case.id)) == 1


def test_a_new_key_purges_its_users_expired_keys(session):
    from engine.idempotency import service as idempotency
    from tests.conftest import get_user

    user = get_user(session, "pt_finance")
    start = dt.datetime.now(dt.UTC)
    with time_machine.travel(start, tick=False):
        idempotency.remember(session, user.id, "old", "POST /x", "h", 200, {"ok": True})
    with time_machine.travel(start + dt.timedelta(days=6), tick=False):
        idempotency.remember(session, user.id, "recent", "POST /x", "h", 200, {"ok": True})
    with time_machine.travel(start + dt.timedelta(days=8), tick=False):
        assert idempotency.replay(session, user.id, "old", "POST /x", "h") is None, "expired"
        idempotency.remember(session, user.id, "new", "POST /x", "h", 200, {"ok": True})
        session.expire_all()
        assert sorted(k.key for k in session.scalars(select(IdempotencyKey))) == ["new", "recent"]
