"""Households and people, and case search, on the service layer (both databases)."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from sqlalchemy import select, text

from engine.audit.models import AuditEvent
from engine.cases import service as cases
from engine.errors import Conflict, Invalid, NotFound
from engine.forms import with_check_digit
from engine.households import service as households
from engine.households.models import CaseHousehold, Person
from engine.instances.models import InstanceStatus
from engine.tasks import service as tasks
from tests import factories
from tests.conftest import get_user

HEAD_ID = with_check_digit("99999919800101021")
CHILD_ID = with_check_digit("99999920100505032")
OTHER_ID = with_check_digit("99999919700303043")
NOW = dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.UTC)


@pytest.fixture()
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def _household(
    session,
    username="pt_advisor",
    street=factories.STREET,
    head_id=HEAD_ID,
    name="测试居民甲",
    child=True,
    phone="13900001111",
):
    return households.create_household(
        session,
        get_user(session, username),
        {
            "residence_street": street,
            "residence_address": "示例路 1 弄 1 号 101 室",
            "registered_street": factories.OTHER_STREET,
            "registered_address": "示例路 2 弄 2 号",
            "hardship_category": "dibao_edge",
            "bank_name": "示例银行",
            "bank_account_holder": name,
            "bank_account": "6222020200112233445",
        },
        [
            {"name": name, "relation": "head", "id_number": head_id, "phone": phone},
            *([{"name": "测试居民乙", "relation": "child", "id_number": CHILD_ID}] if child else []),
        ],
    )


def test_register_household_encrypts_numbers_and_derives_birth_date(session, frozen):
    household = _household(session)
    session.flush()
    view = households.household_view(
        session, households.get(session, get_user(session, "pt_officer"), household.id)
    )
    head = view["members"][0]
    assert head["id_number"] == HEAD_ID[:6] + "********" + HEAD_ID[-4:]
    assert head["phone"] == "139****1111"
    assert head["birth_date"] == dt.date(1980, 1, 1)
    assert view["members"][1]["birth_date"] == dt.date(2010, 5, 5)
    assert view["bank_account"] == "**** **** 3445"
    assert view["separated"] is True  # 人户分离: registered in another street
    assert view["hardship_label"] == "低保边缘"
    raw = session.execute(text("SELECT id_number, phone, id_index FROM person ORDER BY id")).all()
    assert all(HEAD_ID not in str(r) and CHILD_ID not in str(r) and "13900001111" not in str(r) for r in raw)
    stored = session.execute(text("SELECT bank_account FROM household")).scalar_one()
    assert "6222020200112233445" not in stored
    actions = session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("household.%"))).all()
    assert actions.count("household.created") == 1 and actions.count("household.person_added") == 2


@pytest.mark.parametrize(
    ("number", "message"),
    [
        (HEAD_ID[:17] + ("1" if HEAD_ID[17] != "1" else "2"), "校验位错误"),
        ("12345", "应为 18 位身份证号码"),
    ],
)
def test_invalid_id_number_is_refused_per_field(session, number, message):
    with pytest.raises(Invalid) as err:
        households.create_household(
            session,
            get_user(session, "pt_advisor"),
            {"residence_street": factories.STREET},
            [{"name": "测试居民丙", "relation": "head", "id_number": number}],
        )
    assert message in err.value.fields["id_number"][0]
    assert session.scalar(select(Person.id)) is None


def test_bad_phone_is_refused(session):
    with pytest.raises(Invalid) as err:
        households.create_household(
            session,
            get_user(session, "pt_advisor"),
            {"residence_street": factories.STREET},
            [{"name": "测试居民丙", "relation": "head", "phone": "12345"}],
        )
    assert "应为 11 位手机号" in err.value.fields["phone"][0]


def test_duplicate_id_number_names_the_household_only_in_scope(session):
    household = _household(session)
    with pytest.raises(Conflict) as err:
        households.add_person(
            session,
            get_user(session, "pt_officer"),
            household.id,
            {"name": "测试居民丁", "relation": "spouse", "id_number": HEAD_ID},
        )
    assert str(household.id) in err.value.message
    with pytest.raises(Conflict) as hidden:
        households.create_household(
            session,
            get_user(session, "pt_other_advisor"),
            {"residence_street": factories.OTHER_STREET},
            [{"name": "测试居民丁", "relation": "head", "id_number": HEAD_ID}],
        )
    assert str(household.id) not in hidden.value.message


def test_unknown_and_out_of_scope_households_are_not_found(session):
    household = _household(session)
    with pytest.raises(NotFound):
        households.get(session, get_user(session, "pt_advisor"), household.id + 1000)
    with pytest.raises(NotFound):
        households.get(session, get_user(session, "pt_other_street_officer"), household.id)
    with pytest.raises(NotFound):
        households.get(session, get_user(session, "pd_district"), household.id)
    assert households.get(session, get_user(session, "pt_district"), household.id).id == household.id


def test_find_by_id_number_is_an_audited_read(session):
    household = _household(session)
    person = households.find_by_id_number(session, get_user(session, "pt_officer"), HEAD_ID, channel="test")
    assert person.household_id == household.id
    session.flush()
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "personal_data.read")).one()
    assert event.details["id_number"] == HEAD_ID
    with pytest.raises(NotFound):
        households.find_by_id_number(
            session, get_user(session, "pt_other_street_officer"), HEAD_ID, channel="t"
        )


def test_update_person_changes_index_and_refuses_taken_numbers(session):
    household = _household(session)
    officer = get_user(session, "pt_officer")
    head = session.scalars(
        select(Person).where(Person.household_id == household.id, Person.relation == "head")
    ).one()
    households.update_person(session, officer, head.id, {"id_number": OTHER_ID})
    assert households.find_by_id_number(session, officer, OTHER_ID, channel="t").id == head.id
    with pytest.raises(NotFound):
        households.find_by_id_number(session, officer, HEAD_ID, channel="t")
    child = session.scalars(select(Person).where(Person.relation == "child")).one()
    with pytest.raises(Conflict):
        households.update_person(session, officer, child.id, {"id_number": OTHER_ID})


def _start_for(session, household, username="pt_advisor", key="demo_assistance", business_key=None):
    head = session.scalars(
        select(Person).where(Person.household_id == household.id, Person.relation == "head")
    ).one()
    return cases.start_case(
        session,
        get_user(session, username),
        key,
        factories.STREET,
        household_id=household.id,
        applicant_person_id=head.id,
        business_key=business_key,
    )


def test_start_case_links_household_and_applicant(session):
    household = _household(session)
    case = _start_for(session, household, business_key="CA-2026-310107-0001")
    link = session.get(CaseHousehold, case.id)
    head = session.scalars(
        select(Person).where(Person.household_id == household.id, Person.relation == "head")
    ).one()
    assert (link.household_id, link.applicant_person_id) == (household.id, head.id)
    assert households.applicant_names(session, [case.id]) == {case.id: "测试居民甲"}
    second = _start_for(session, household, key="demo_assistance")
    listed = households.cases_of(session, get_user(session, "pt_officer"), household.id)
    assert {c.id for c in listed} == {case.id, second.id}
    assert households.cases_of(session, get_user(session, "pt_other_street_officer"), household.id) == []


def test_start_case_refuses_a_stranger_as_applicant_and_stores_nothing(session):
    household = _household(session)
    stranger = households.create_household(
        session,
        get_user(session, "pt_advisor"),
        {"residence_street": factories.STREET},
        [{"name": "测试居民戊", "relation": "head", "id_number": OTHER_ID}],
    )
    stranger_head = session.scalars(select(Person).where(Person.household_id == stranger.id)).one()
    before = session.scalar(text("SELECT count(*) FROM process_instance"))
    with pytest.raises(Invalid):
        cases.start_case(
            session,
            get_user(session, "pt_advisor"),
            "demo_assistance",
            factories.STREET,
            household_id=household.id,
            applicant_person_id=stranger_head.id,
        )
    with pytest.raises(NotFound):
        cases.start_case(
            session, get_user(session, "pt_advisor"), "demo_assistance", factories.STREET, household_id=10**8
        )
    assert session.scalar(text("SELECT count(*) FROM process_instance")) == before


def test_search_by_id_number_name_tail_phone_and_case_number(session):
    household = _household(session)
    case = _start_for(session, household, business_key="CA-2026-310107-0042")
    _start_for(
        session,
        _household(session, head_id=OTHER_ID, name="示例户主", child=False, phone="13900002222"),
        business_key="CA-2026-310107-0043",
    )
    officer = get_user(session, "pt_officer")

    def found(**terms):
        rows, _more = cases.search(session, officer, cases.Query(**terms))
        return [r.id for r in rows]

    assert found(id_number=HEAD_ID) == [case.id]
    assert found(id_number=CHILD_ID) == [case.id]  # any member of the household
    assert found(name="测试居民") == [case.id]
    assert found(name="测试居民甲", id_tail=HEAD_ID[-6:]) == [case.id]
    assert found(name="测试居民甲", id_tail=HEAD_ID[-4:]) == [case.id]
    assert found(name="测试居民甲", id_tail=OTHER_ID[-5:]) == []
    assert found(phone="13900001111") == [case.id]
    assert found(case_number="CA-2026-310107-0042") == [case.id]
    assert len(found(case_number="CA-2026")) == 2
    session.flush()
    searched = session.scalars(select(AuditEvent).where(AuditEvent.action == "case.searched")).all()
    assert len(searched) == 5  # two by ID number, three by the last digits; none by name, phone, number
    assert {e.details["by"] for e in searched} == {"id_number", "id_tail"}


def test_search_is_scoped_like_cases(session):
    household = _household(session)
    case = _start_for(session, household)
    for username, expected in (
        ("pt_officer", [case.id]),
        ("pt_district", [case.id]),
        ("pt_other_street_officer", []),
        ("pd_district", []),
        ("city", [case.id]),
    ):
        rows, _ = cases.search(session, get_user(session, username), cases.Query(name="测试居民甲"))
        assert [r.id for r in rows] == expected, username


@pytest.mark.parametrize(
    ("terms", "field"),
    [
        ({"name": "测"}, "name"),
        ({"case_number": "CA"}, "case_number"),
        ({"id_tail": "12"}, "id_tail"),
        ({"id_tail": "1234"}, "name"),
        ({"id_number": "123"}, "id_number"),
        ({"phone": "139"}, "phone"),
        ({"started_from": dt.date(1, 1, 1)}, "started_from"),
        ({"started_to": dt.date(9999, 12, 31)}, "started_to"),
    ],
)
def test_search_terms_too_short_are_refused(session, terms, field):
    with pytest.raises(Invalid) as err:
        cases.search(session, get_user(session, "pt_officer"), cases.Query(**terms))
    assert field in err.value.fields


def test_mine_status_step_and_date_filters(session, frozen):
    advisor, officer = get_user(session, "pt_advisor"), get_user(session, "pt_officer")
    household = _household(session)
    mine = _start_for(session, household, business_key="CA-MINE-1")
    theirs = _start_for(session, household, username="pt_advisor2", business_key="CA-THEIRS-1")

    def ids(user, **terms):
        rows, _ = cases.search(session, user, cases.Query(**terms))
        return {r.id for r in rows}

    assert ids(advisor, mine=True) == {mine.id}
    assert ids(advisor) >= {mine.id, theirs.id}
    row = tasks.open_tasks_of(session, theirs.id)[0]
    assert ids(advisor, step=row.bpmn_id) >= {mine.id, theirs.id}
    assert ids(advisor, step="no_such_step") == set()
    today = NOW.date()
    assert ids(advisor, started_from=today, started_to=today) == {mine.id, theirs.id}
    assert ids(advisor, started_to=today - dt.timedelta(days=1)) == set()
    assert ids(officer, status="active") == {mine.id, theirs.id}
    theirs.status = InstanceStatus.TERMINATED
    mine.status, mine.data = InstanceStatus.COMPLETED, {**mine.data, "outcome": "rejected"}
    session.flush()
    assert ids(officer, status="terminated") == {theirs.id}
    assert ids(officer, status="refused") == {mine.id}
    assert ids(officer, status="closed") == set()
    assert ids(officer, status="active") == set()


def test_an_application_naming_a_registered_id_number_joins_that_household(session):
    from api import demo_materials
    from engine.instances import service as instances
    from tests.procedures.helpers import application

    household = _household(session)
    advisor = get_user(session, "pt_advisor")
    known = instances.start(session, advisor, "comprehensive_assistance", factories.STREET)
    demo_materials.supply(session, advisor, tasks.open_tasks_of(session, known.id)[0])
    tasks.complete(
        session,
        advisor,
        tasks.open_tasks_of(session, known.id)[0].id,
        application(applicant_id_number=HEAD_ID),
    )
    head = session.scalars(
        select(Person).where(Person.household_id == household.id, Person.relation == "head")
    ).one()
    assert (
        session.get(CaseHousehold, known.id).household_id,
        session.get(CaseHousehold, known.id).applicant_person_id,
    ) == (
        household.id,
        head.id,
    )
    new = instances.start(session, advisor, "comprehensive_assistance", factories.STREET)
    demo_materials.supply(session, advisor, tasks.open_tasks_of(session, new.id)[0])
    tasks.complete(
        session,
        advisor,
        tasks.open_tasks_of(session, new.id)[0].id,
        application(applicant_id_number=OTHER_ID),
    )
    link = session.get(CaseHousehold, new.id)
    person = session.get(Person, link.applicant_person_id)
    assert link.household_id != household.id and person.name == "待补登" and person.id_last4 == OTHER_ID[-4:]
    assert (
        households.find_by_id_number(session, get_user(session, "pt_officer"), OTHER_ID, channel="t").id
        == person.id
    )
