"""Policy parameter sets: versions by effective date, a case keeps the set it started with, a new
year's set applies to new cases only; every change audited; bad input refused with nothing written."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from engine.audit.models import AuditAction, AuditEvent
from engine.definitions import service as definitions
from engine.errors import Invalid
from engine.instances import service as instances
from engine.instances.models import ProcessInstance
from engine.orgs import service as orgs
from engine.policy import service as policy
from engine.policy.models import PolicyParameterSet
from engine.users import service as users
from tests.conftest import SHANGHAI_TZ
from tests.factories import application_data, complete, review_data, start_demo
from tests.helpers import STREET

KEY = "demo_assistance"


def test_the_shipped_numbers_are_seeded(session):
    assert (
        policy.in_force(session, "bridge_plan_project", dt.date(2026, 1, 1)).values["per_household_cap"]
        == 5000
    )
    assert policy.in_force(session, "comprehensive_assistance", dt.date(2026, 1, 1)).values == {
        "review_quorum": 5,
        "district_threshold": 20000,
        "emergency_cap": 5000,
        "follow_up_wait": "P30D",  # migration 0029
    }
    assert policy.in_force(session, "twinning", dt.date(2026, 1, 1)).values["annual_subsidy"] == 30000
    assert policy.in_force(session, KEY, dt.date(2020, 12, 31)) is None  # before the first set


def test_the_set_in_force_follows_effective_dates_and_versions(session):
    admin = users.by_username(session, "admin")
    before = policy.versions(session, KEY)[0]  # other tests may have committed later versions
    v2 = policy.save(
        session,
        KEY,
        effective_from=dt.date(2027, 1, 1),
        values={"district_review_threshold": "8000.50"},
        note="2027 年通知",
        actor_id=admin.id,
    )
    v3 = policy.save(
        session, KEY, effective_from=dt.date(2027, 1, 1), values={"district_review_threshold": 9000}
    )
    assert (v2.version, v3.version) == (before.version + 1, before.version + 2)
    assert policy.in_force(session, KEY, dt.date(2026, 12, 31)).version == 1
    assert policy.in_force(session, KEY, dt.date(2027, 1, 1)).version == v3.version  # the later one that day
    assert v2.values == {"district_review_threshold": "8000.50"}  # decimals kept exactly, as text
    assert v2.labels == policy.versions(session, KEY)[-1].labels  # labels carried over from v1
    events = session.scalars(
        select(AuditEvent).where(AuditEvent.action == AuditAction.POLICY_SET_SAVED.value)
    ).all()
    [event] = [e for e in events if e.details["process_key"] == KEY and e.details["version"] == v2.version]
    assert event.actor_id == admin.id and event.details["values"] == {"district_review_threshold": "8000.50"}
    assert event.details["previous"] == before.values


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({}, "values"),
        ({"Bad-Name": 1}, "values"),
        ({"cap": True}, "values.cap"),
        ({"cap": None}, "values.cap"),
        ({"cap": [1]}, "values.cap"),
        ({"cap": 10**13}, "values.cap"),
        ({"cap": "x" * 201}, "values.cap"),
        ({f"p{i}": i for i in range(51)}, "values"),
    ],
)
def test_bad_values_are_refused_and_nothing_is_written(session, values, field):
    before = session.scalar(select(func.count()).select_from(PolicyParameterSet))
    with pytest.raises(Invalid) as refused:
        policy.save(session, KEY, effective_from=dt.date(2027, 1, 1), values=values)
    assert field in refused.value.fields
    assert session.scalar(select(func.count()).select_from(PolicyParameterSet)) == before


def test_an_effective_date_out_of_range_is_refused(session):
    with pytest.raises(Invalid) as refused:
        policy.save(session, KEY, effective_from=dt.date(1999, 1, 1), values={"x": 1})
    assert "effective_from" in refused.value.fields


def _decided(session, instance):
    complete(session, "pt_advisor", instance.id, "application", application_data(amount_requested="6000.50"))
    complete(session, "pt_officer", instance.id, "review", review_data())
    session.flush()
    return session.get(ProcessInstance, instance.id).data


def test_an_old_case_keeps_its_set_and_a_new_case_takes_the_new_one(session, june):
    """June 2026: a case starts under the seeded threshold (5,000). A set effective 1 July raises it to
    8,000; the June case still needs the district's review for 6,000.50, a July case does not."""
    old = start_demo(session)
    session.flush()
    july = policy.save(
        session, KEY, effective_from=dt.date(2026, 7, 1), values={"district_review_threshold": 8000}
    )
    june.move_to(dt.datetime(2026, 7, 2, 9, 0, tzinfo=SHANGHAI_TZ))
    new = start_demo(session)
    session.flush()
    old_data, new_data = _decided(session, old), _decided(session, new)
    assert old_data["_params"]["version"] == 1 and old_data["needs_district_review"] is True
    assert new_data["_params"]["version"] == july.version and new_data["needs_district_review"] is False


def _create(session, data):
    """A case created by the engine with start data its procedure's start form would carry."""
    definition = definitions.latest(session, KEY)
    unit = orgs.by_code(session, STREET)
    advisor = users.by_username(session, "pt_advisor")
    return instances.create(session, definition, unit, actor_id=advisor.id, data=data)


def test_a_project_year_picks_that_years_set(session, june):
    policy.save(session, KEY, effective_from=dt.date(2027, 1, 1), values={"district_review_threshold": 100})
    planned = _create(session, {"project_year": 2027})
    current = start_demo(session)
    session.flush()
    assert _decided(session, planned)["_params"]["values"] == {"district_review_threshold": 100}
    assert _decided(session, current)["_params"]["values"] == {"district_review_threshold": 5000}


def test_a_starter_cannot_bring_their_own_parameters(session, june):
    with pytest.raises(Invalid):  # names starting with "_" are refused as start data
        _create(session, {"_params": {"values": {"district_review_threshold": 10**9}}})
    with pytest.raises(Invalid):  # and a form field cannot hold it either (not a field of the form)
        start_demo(session, data={"_params": {"values": {"district_review_threshold": 10**9}}})


def test_read_value():
    assert policy.read_value("0.025") == Decimal("0.025") and policy.read_value(5000) == 5000
    assert policy.read_value("text") == "text"
