"""Grants bound to their procedures and contracts (issue 17 "Roles bound to their procedure"), and issue
18 items 5-9: city-level roles of other procedures do not read Shanghai's cases, the reveal needs an
identity role for the case's own unit, near-relative filings stay inside the filer's unit (and can be
withdrawn), start data goes through a form, exports escape formulas."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from tests.conftest import PASSWORD
from tests.helpers import make_extra_users
from tests.procedures.cases import supply_materials
from tests.procedures.helpers import APPLICANT, application
from tests.web.helpers import Web

API = "/api/v1"
STREET = "310107014"
# City-level roles of the Twinning programme and the foundation: none of them works on a comprehensive
# assistance case (issue 18 item 5).
OUTSIDERS = ["gansu", "aided", "expert", "foundation", "tw01_lead", "tw_agency_lead"]


@pytest.fixture()
def login(client):
    """login(username) -> headers with a fresh Bearer token (the extra users are made per test, so the
    session-wide token cache would hold dead tokens)."""
    from api.extensions import db
    from engine.users import service as users

    make_extra_users(db.session())
    made: dict[str, dict[str, str]] = {}

    def _login(username: str) -> dict[str, str]:
        if username not in made:
            session = db.session()
            raw, _token = users.issue_token(session, users.by_username(session, username))
            session.commit()
            made[username] = {"Authorization": f"Bearer {raw}"}
        return made[username]

    return _login


def _start(client, headers, key, org_unit, **extra):
    return client.post(
        f"{API}/process-instances", json={"process_key": key, "org_unit": org_unit, **extra}, headers=headers
    )


@pytest.fixture()
def ca_case(client, login):
    started = _start(
        client, login("pt_advisor"), "comprehensive_assistance", STREET, business_key="SCOPE-CA-1"
    )
    assert started.status_code == 201, started.json
    task = started.json["open_tasks"][0]["id"]
    supply_materials(client, login("pt_advisor"), task)
    done = client.post(
        f"{API}/tasks/{task}/complete", json={"data": application()}, headers=login("pt_advisor")
    )
    assert done.status_code == 200, done.json
    return started.json["id"]


@pytest.fixture()
def twinning_case(client, login):
    started = _start(client, login("city"), "twinning", "310000", business_key="TW01")
    assert started.status_code == 201, started.json
    return started.json["id"]


def _web(client, username):
    browser = Web(client)
    response = browser.post("/login", {"username": username, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return browser


@pytest.mark.parametrize("username", OUTSIDERS)
def test_city_level_roles_of_other_procedures_do_not_read_a_shanghai_case(client, login, ca_case, username):
    headers = login(username)
    response = client.get(f"{API}/process-instances/{ca_case}", headers=headers)
    assert response.status_code == 403
    for url in (
        f"{API}/process-instances",
        f"{API}/process-instances?process_key=comprehensive_assistance",
        f"{API}/process-instances?org_unit={STREET}",
        f"{API}/tasks?scope=all",
    ):
        listed = client.get(url, headers=headers)
        assert listed.status_code == 200, url
        text = listed.get_data(as_text=True)
        assert "SCOPE-CA-1" not in text and APPLICANT not in text, url
        assert ca_case not in [i.get("instance_id", i["id"]) for i in listed.json["items"]], url
    assert client.get(f"{API}/process-instances/{ca_case}/events", headers=headers).status_code == 403
    page = _web(client, username).get(f"/cases/{ca_case}")
    assert page.status_code == 403 and "SCOPE-CA-1" not in page.get_data(as_text=True)


def test_the_ca_case_is_read_by_its_own_roles(client, login, ca_case):
    """The test above would pass if nobody could read anything."""
    for username in ("pt_advisor", "pt_officer", "pt_head", "pt_panel", "pt_finance", "pt_district", "city"):
        assert client.get(f"{API}/process-instances/{ca_case}", headers=login(username)).status_code == 200


def test_twinning_roles_read_their_pairing_and_an_agency_only_its_own(client, login, twinning_case):
    for username in ("city", "gansu", "aided", "expert", "tw01_lead", "tw_agency_lead", "admin"):
        got = client.get(f"{API}/process-instances/{twinning_case}", headers=login(username))
        assert got.status_code == 200, username
    for username in ("tw02_lead", "pt_agency_lead", "pt_advisor", "pt_district", "foundation"):
        got = client.get(f"{API}/process-instances/{twinning_case}", headers=login(username))
        assert got.status_code == 403, username
        items = client.get(f"{API}/process-instances?process_key=twinning", headers=login(username)).json
        assert twinning_case not in [i["id"] for i in items["items"]], username


def test_an_agency_bound_to_another_pairing_neither_sees_nor_claims_its_tasks(client, login, twinning_case):
    from api.extensions import db
    from engine.errors import Forbidden
    from engine.tasks import service as tasks
    from tests.conftest import get_user

    city = login("city")
    needs = {"pairing_code": "TW01", "needs_summary": "儿童关爱与社工站建设", "confirmed_with_gansu": True}
    detail = client.get(f"{API}/process-instances/{twinning_case}", headers=city).json
    (task,) = [t["id"] for t in detail["open_tasks"] if t["bpmn_id"] == "needs_assessment"]
    assert client.post(f"{API}/tasks/{task}/complete", json={"data": needs}, headers=city).status_code == 200
    # walk on until a step of the dispatching agency (agency_lead) is open, as the Twinning test does
    from tests.procedures.helpers import Twinning

    case = Twinning.__new__(Twinning)
    case.client, case.login, case.viewer, case.id = client, login, "city", twinning_case
    case.select_and_sign()
    agency_tasks = [t for t in case.detail()["open_tasks"] if t["candidate_role"] == "agency_lead"]
    assert agency_tasks, case.open()
    task_id = agency_tasks[0]["id"]
    assert client.get(f"{API}/tasks/{task_id}", headers=login("tw01_lead")).status_code == 200
    assert client.get(f"{API}/tasks/{task_id}", headers=login("tw02_lead")).status_code == 403
    inbox = client.get(f"{API}/tasks?scope=claimable", headers=login("tw02_lead")).json["items"]
    assert task_id not in [i["id"] for i in inbox]
    inbox = client.get(f"{API}/tasks?scope=claimable", headers=login("tw01_lead")).json["items"]
    assert task_id in [i["id"] for i in inbox]
    session = db.session()
    with pytest.raises(Forbidden):
        tasks.claim(session, get_user(session, "tw02_lead"), task_id)
    session.rollback()
    assert client.post(f"{API}/tasks/{task_id}/claim", headers=login("tw02_lead")).status_code == 403
    # reminders and escalations go to the holders whose grant covers the task, not to every agency lead
    from engine.deadlines import service as deadlines

    holders = [
        u.username for u in deadlines.role_holders(session, "agency_lead", tasks.get(session, task_id))
    ]
    assert "tw01_lead" in holders and "tw02_lead" not in holders and "pt_agency_lead" not in holders


def test_a_grant_names_its_procedures(app_ctx):
    """Explicit lists and families (a key prefix with ``*``) cover exactly those procedures."""
    from api.extensions import db
    from engine import scope
    from engine.errors import Invalid
    from engine.instances.models import ProcessInstance
    from engine.users import service as users

    session = db.session()
    user = users.create_user(
        session,
        "scoped_city",
        PASSWORD,
        grants=[("city_officer", "310000", ["bridge_plan_*", "twinning"])],
    )
    (grant,) = user.grants
    assert scope.covers_procedure(session, grant, "bridge_plan_project")
    assert scope.covers_procedure(session, grant, "bridge_plan_household")
    assert scope.covers_procedure(session, grant, "twinning")
    assert not scope.covers_procedure(session, grant, "comprehensive_assistance")
    assert not scope.covers_procedure(session, grant, "bridge_planX")
    assert not scope.sees_everything(session, user, {"city_officer"})
    clause = scope.visible_clause(session, user, ProcessInstance)
    assert session.scalars(select(ProcessInstance.id).where(clause)).all() == []  # compiles and runs
    with pytest.raises(Invalid) as err:
        users.create_user(session, "bad_scope", PASSWORD, grants=[("advisor", STREET, "twinning")])
    assert "grants" in err.value.fields


def test_an_identity_role_elsewhere_does_not_reveal_this_case(client, login, ca_case):
    """Issue 18 item 6: a street officer of Pudong who is also an advisor of the case's street sees the
    case (as an advisor) but may not reveal its ID numbers: the identity role must be held for its unit."""
    headers = login("pt_advisor_pd_officer")
    assert client.get(f"{API}/process-instances/{ca_case}", headers=headers).status_code == 200
    revealed = client.get(f"{API}/process-instances/{ca_case}/personal-data", headers=headers)
    assert revealed.status_code == 403 and APPLICANT not in revealed.get_data(as_text=True)
    page = _web(client, "pt_advisor_pd_officer").get(f"/cases/{ca_case}").get_data(as_text=True)
    assert 'data-testid="reveal"' not in page
    own = client.get(f"{API}/process-instances/{ca_case}/personal-data", headers=login("pt_officer"))
    assert own.status_code == 200 and own.json["fields"]["applicant_id_number"] == APPLICANT


def test_near_relative_filings_stay_in_the_filers_unit_and_can_be_withdrawn(client, login):
    """Issue 18 item 7."""
    from api.extensions import db
    from engine.audit.models import AuditEvent
    from engine.recusal import service as recusal

    body = {"staff_username": "pt_officer", "relative_id_number": APPLICANT, "relation": "spouse"}
    refused = client.post(f"{API}/near-relatives", json=body, headers=login("pd_head"))
    assert refused.status_code == 403
    assert recusal.staff_related_to(db.session(), APPLICANT) == []
    filed = client.post(f"{API}/near-relatives", json=body, headers=login("pt_head"))
    assert filed.status_code == 201 and filed.json["active"] is True
    assert recusal.staff_related_to(db.session(), APPLICANT) == ["pt_officer"]
    url = f"{API}/near-relatives/{filed.json['id']}/withdraw"
    assert client.post(url, json={"reason": "登记错误"}, headers=login("pd_head")).status_code == 403
    assert client.post(url, json={"reason": "登记错误"}, headers=login("pt_officer")).status_code == 404
    assert client.post(url, json={}, headers=login("pt_head")).status_code == 422
    withdrawn = client.post(url, json={"reason": "登记错误"}, headers=login("pt_head"))
    assert withdrawn.status_code == 200 and withdrawn.json["active"] is False
    assert recusal.staff_related_to(db.session(), APPLICANT) == []
    again = client.post(url, json={"reason": "再次撤回"}, headers=login("pt_head"))
    assert again.status_code == 409
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "recusal.withdrawn")).one()
    assert event.details["reason"] == "登记错误" and event.details["staff"] == "pt_officer"
    # the district above the street, too, may file for its staff
    assert client.post(f"{API}/near-relatives", json=body, headers=login("pt_district")).status_code == 201


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"sfz": "999999198001010011"}, "data.sfz"),  # a key the form does not have
        ({"household_size": "three"}, "data.household_size"),  # the wrong type
        ({"reason": "联系电话 13912345678"}, "data.reason"),  # a phone number outside a phone field
        ({"reason": f"身份证 {APPLICANT}"}, "data.reason"),  # an ID number outside an ID field
    ],
)
def test_start_data_goes_through_the_first_steps_form(client, login, data, field):
    from api.extensions import db
    from engine.instances.models import ProcessInstance

    before = db.session.scalar(select(ProcessInstance.id).order_by(ProcessInstance.id.desc()).limit(1))
    response = _start(client, login("pt_advisor"), "demo_assistance", STREET, data=data)
    assert response.status_code == 422 and field in response.json["fields"], response.json
    after = db.session.scalar(select(ProcessInstance.id).order_by(ProcessInstance.id.desc()).limit(1))
    assert after == before


def test_valid_start_data_is_stored_as_the_form_reads_it(client, login):
    response = _start(client, login("pt_advisor"), "demo_assistance", STREET, data={"household_size": "3"})
    assert response.status_code == 201, response.json
    detail = client.get(f"{API}/process-instances/{response.json['id']}", headers=login("pt_advisor")).json
    assert detail["data"]["household_size"] == 3


def test_a_procedure_without_a_start_form_takes_no_start_data(client, login):
    response = _start(client, login("pt_officer"), "timer_boundary", STREET, data={"anything": 1})
    assert response.status_code == 422 and "data" in response.json["fields"]


@pytest.mark.parametrize(
    "business_key",
    ['=HYPERLINK("http://evil.example")', "a b", "x" * 65, APPLICANT, "P-13912345678", "-1"],
)
def test_the_business_key_is_checked(client, login, business_key):
    response = _start(client, login("pt_advisor"), "demo_assistance", STREET, business_key=business_key)
    assert response.status_code == 422 and "business_key" in response.json["fields"], response.json


def test_a_timer_started_procedure_is_started_by_an_admin_not_by_staff(client, login):
    assert _start(client, login("pt_finance"), "monthly_report", STREET).status_code == 403
    assert _start(client, login("admin"), "monthly_report", STREET).status_code == 201


def test_exports_escape_values_that_a_spreadsheet_would_run_as_formulas(client, login):
    """Issue 18 item 9: a procedure named ``=HYPERLINK(…)`` (an admin's upload) appears in the by-step
    table; in CSV and Excel it stays text."""
    from openpyxl import load_workbook

    from api.extensions import db
    from engine.definitions import service as definitions
    from tests.conftest import ROOT

    hostile = '=HYPERLINK("http://evil.example","x")'
    xml = (ROOT / "processes" / "demo_assistance.bpmn").read_text(encoding="utf-8")
    xml = xml.replace('name="帮扶演示流程"', f"name='{hostile}'")
    definitions.deploy(db.session(), xml)
    db.session.commit()
    assert _start(client, login("admin"), "demo_assistance", STREET).status_code == 201
    browser = _web(client, "admin")
    text = browser.get("/dashboard/by_step.csv").get_data(as_text=True).lstrip("\ufeff")
    cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    assert "'" + hostile in cells
    assert not any(cell.startswith(("=", "+", "@", "\t", "\r")) for cell in cells)
    book = load_workbook(io.BytesIO(browser.get("/dashboard/by_step.xlsx").data))
    values = [c for row in book.active.iter_rows() for c in row]
    assert any(c.value == "'" + hostile and c.data_type == "s" for c in values)
    assert not any(c.data_type == "f" for c in values)


def test_dashboards_count_only_the_procedures_a_grant_covers(client, login, ca_case):
    """The foundation's dashboard (a city-level grant) no longer counts comprehensive-assistance tasks;
    the city officer's (a supervising role: every procedure) does."""
    foundation = _web(client, "foundation").get("/dashboard/by_step.csv").get_data(as_text=True)
    city = _web(client, "city").get("/dashboard/by_step.csv").get_data(as_text=True)
    assert "市民综合帮扶" in city
    assert "市民综合帮扶" not in foundation


def test_a_grant_bound_to_a_project_covers_the_project_and_its_sub_cases_only(app_ctx):
    """``bound_to`` (a Bridge Plan project's business key): the project and the cases it opened, in SQL
    lists and in the per-case check alike; another case of the same procedure and unit is not covered."""
    from api.extensions import db
    from engine import scope
    from engine.definitions import service as definitions
    from engine.instances import service as instances
    from engine.instances.models import ProcessInstance
    from engine.orgs import service as orgs
    from engine.users import service as users

    session = db.session()
    definition, unit = definitions.get_version(session, "demo_assistance"), orgs.by_code(session, STREET)
    project = instances.create(session, definition, unit, actor_id=None, business_key="BP-TEST-1")
    child = instances.create(session, definition, unit, actor_id=None, parent_id=project.id)
    other = instances.create(session, definition, unit, actor_id=None, business_key="BP-TEST-2")
    user = users.create_user(
        session, "bound_worker", PASSWORD, grants=[("advisor", STREET, ["demo_assistance"], ["BP-TEST-1"])]
    )
    session.flush()
    listed = set(
        session.scalars(
            select(ProcessInstance.id).where(scope.visible_clause(session, user, ProcessInstance))
        )
    )
    assert listed == {project.id, child.id}
    assert users.in_scope(session, user, project) and users.in_scope(session, user, child)
    assert not users.in_scope(session, user, other)
    from engine.tasks.models import HumanTask

    seen = set(
        session.scalars(select(HumanTask.instance_id).where(scope.visible_clause(session, user, HumanTask)))
    )
    assert seen == {project.id, child.id}
    session.rollback()
