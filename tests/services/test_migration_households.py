"""Migration 0019 on a database with real cases: upgrade links them to households, downgrade removes the
households and leaves the cases as they were, upgrade again links them again; the cases keep working."""

from __future__ import annotations

import uuid

from sqlalchemy import inspect, select, text

from engine.forms import with_check_digit
from tests.conftest import DB_URL, IS_POSTGRES, ROOT

REVISION = "0019_households_and_people"
BEFORE = "0018_step_records"
APPLICANT = with_check_digit("99999919850607021")


def _fresh_database(tmp_path):
    if IS_POSTGRES:
        import psycopg

        base, _, _name = DB_URL.rpartition("/")
        name = f"assistflow_migr_{uuid.uuid4().hex[:8]}"
        admin = base.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"{base}/{name}", admin, name
    return f"sqlite:///{tmp_path}/households.db", None, None


def _drop(admin, name) -> None:
    if admin:
        import psycopg

        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _links(session) -> dict[int, tuple[int, int | None]]:
    rows = session.execute(text("SELECT instance_id, household_id, applicant_person_id FROM case_household"))
    return {i: (h, p) for i, h, p in rows}


def _later_tables(db) -> None:
    """The tables of later migrations that today's engine reads when it starts and steps a case (policy
    parameters, the scheduler's heartbeat, decision tables, service organisations and the task's organisation),
    made beside the old schema with the demo procedure's parameter set; migration 0019 touches none of them. (The attachment table, which refers to households,
    is made once the households are back: see the test.)"""
    import datetime as dt

    from engine.decisions.models import DecisionDefinition
    from engine.policy.models import PolicyParameterSet
    from engine.serviceorgs.models import ServiceOrganisation, ServiceOrganisationMember
    from engine.system.models import SchedulerHeartbeat

    later = (
        PolicyParameterSet,
        SchedulerHeartbeat,
        DecisionDefinition,
        ServiceOrganisation,
        ServiceOrganisationMember,
    )
    db.metadata.create_all(db.engine, tables=[m.__table__ for m in later])
    with db.engine.begin() as conn:  # migration 0029: a task may belong to one service organisation
        conn.execute(text("ALTER TABLE human_task ADD COLUMN service_org_id INTEGER"))
    db.session.add(
        PolicyParameterSet(
            process_key="demo_assistance",
            version=1,
            effective_from=dt.date(2021, 1, 1),
            values={"district_review_threshold": 5000},
            labels={},
            note="",
            created_at=dt.datetime.now(dt.UTC),
        )
    )
    db.session.commit()
    db.session.remove()


def test_upgrade_downgrade_upgrade_with_real_cases(tmp_path):
    from flask_migrate import downgrade, upgrade

    from api import create_app
    from api.extensions import db
    from engine.definitions import service as definitions
    from engine.households import service as households
    from engine.instances import service as instances
    from engine.orgs import service as orgs
    from engine.tasks import service as tasks
    from engine.users import service as users

    url, admin, name = _fresh_database(tmp_path)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    try:
        with app.app_context():
            upgrade(revision=BEFORE)
            _later_tables(db)  # what today's code reads when it starts and steps a case
            session = db.session()
            orgs.load_reference(session)
            definitions.sync_dir(session, ROOT / "processes")
            advisor = users.create_user(
                session, "mig_advisor", "pw-123456789", grants=[("advisor", "310107014")]
            )
            officer = users.create_user(
                session, "mig_officer", "pw-123456789", grants=[("street_officer", "310107014")]
            )
            # cases from before households: the applicant named only by an ID number in the case data
            # (start data now goes through the first form, so the number is put there as the old
            # application step did)
            first = instances.start(session, advisor, "demo_assistance", "310107014")
            second = instances.start(session, advisor, "demo_assistance", "310107014")
            for case in (first, second):
                case.data = {**case.data, "applicant_id_number": APPLICANT}
            bare = instances.start(session, advisor, "demo_assistance", "310107014")
            ids = (first.id, second.id, bare.id)
            session.commit()
            db.session.remove()

            upgrade(revision=REVISION)
            session = db.session()
            links = _links(session)
            assert set(links) == {ids[0], ids[1]}  # the case without an applicant has none
            assert links[ids[0]] == links[ids[1]]  # one household for one number across cases
            officer = users.by_username(session, "mig_officer")
            person = households.find_by_id_number(session, officer, APPLICANT, channel="test")
            assert person.name == "待补登" and person.birth_date is not None
            assert links[ids[0]] == (person.household_id, person.id)
            stored = session.execute(text("SELECT id_number FROM person")).scalar_one()
            assert APPLICANT not in stored  # encrypted like every other number
            # the case still works: its data is untouched and its first step completes
            case = instances.get_visible(session, officer, ids[0])
            assert case.data["applicant_id_number"] == APPLICANT
            session.rollback()
            db.session.remove()

            downgrade(revision=BEFORE)
            names = set(inspect(db.engine).get_table_names())
            assert not {"household", "person", "case_household"} & names
            session = db.session()
            assert session.execute(text("SELECT count(*) FROM process_instance")).scalar_one() == 3
            db.session.remove()

            upgrade(revision=REVISION)
            session = db.session()
            assert set(_links(session)) == {ids[0], ids[1]}
            advisor = users.by_username(session, "mig_advisor")
            from engine.attachments.models import Attachment

            Attachment.__table__.create(db.engine)  # a completion checks the step's materials
            row = tasks.open_tasks_of(session, ids[0])[0]
            from tests import factories

            tasks.complete(session, advisor, row.id, factories.application_data())
            session.commit()
            assert session.scalar(select(text("count(*)")).select_from(text("person"))) == 1
            db.session.remove()
            db.engine.dispose()
    finally:
        _drop(admin, name)
