"""Two first applications of one person at the same moment (PostgreSQL, where they really overlap): one
registers the household, the other waits for it on the unique ID index and then links its case to the
same household — no 409 "reload and retry", no second household."""

from __future__ import annotations

import threading
import uuid

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from engine import crypto
from engine.audit.models import AuditAction, AuditEvent
from engine.households import links
from engine.households.models import CaseHousehold, Person
from engine.instances import service as instances
from engine.instances.models import ProcessInstance
from tests.conftest import IS_POSTGRES, get_user
from tests.factories import STREET
from tests.procedures.helpers import id_number

pytestmark = pytest.mark.skipif(not IS_POSTGRES, reason="two writers at once need PostgreSQL")


def _waiting_on_a_lock(engine) -> bool:
    with engine.connect() as c:
        return bool(
            c.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                )
            )
        )


def test_two_first_applications_of_one_person_at_once_share_one_household(engine, session):
    number = id_number("99999919800101" + str(uuid.uuid4().int)[:3])  # a valid birth date
    advisor = get_user(session, "pt_advisor")
    first, second = (
        instances.start(session, advisor, "comprehensive_assistance", STREET).id for _ in range(2)
    )
    session.commit()
    registered = threading.Event()
    errors: list[BaseException] = []

    def late() -> None:  # starts once the first has registered the person, not yet committed
        registered.wait(30)
        try:
            with Session(engine) as s:
                links.link_by_id_number(s, s.get(ProcessInstance, second), number, actor_id=None)
                s.commit()
        except BaseException as err:  # noqa: BLE001  (reported by the assertion below)
            errors.append(err)

    other = threading.Thread(target=late)
    other.start()
    with Session(engine) as s:
        links.link_by_id_number(s, s.get(ProcessInstance, first), number, actor_id=None)
        registered.set()
        for _ in range(3000):  # until the other transaction waits for this one's unique index entry
            if _waiting_on_a_lock(engine) or not other.is_alive():
                break
            threading.Event().wait(0.01)
        s.commit()
    other.join(60)
    assert not errors, errors
    session.expire_all()
    index = crypto.blind_index(number)
    assert session.scalar(select(func.count()).select_from(Person).where(Person.id_index == index)) == 1
    homes = {session.get(CaseHousehold, i).household_id for i in (first, second)}
    assert len(homes) == 1
    created = session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == AuditAction.HOUSEHOLD_CREATED, AuditEvent.instance_id.in_((first, second))
        )
    ).all()
    assert len(created) == 1
