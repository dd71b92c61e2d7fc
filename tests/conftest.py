"""Test fixtures shared by the three tiers.

The database is chosen by ``TEST_DATABASE_URL`` (PostgreSQL in CI's second run); by default a fresh
SQLite file. The schema is built by the Alembic migrations (downgrade to base, then upgrade), seeded
once with reference org units, users and the BPMN in ``processes/``; each test then removes whatever
rows it added, so tests are independent.
"""

from __future__ import annotations

import datetime as dt
import gc
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import time_machine
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from tests import clock_ahead, reliability
from tests.audit_bypass import audit_triggers_off
from tests.holiday_seed import restore_if_changed as restore_holidays

clock_ahead.start()  # `make test CLOCK_AHEAD_DAYS=N`: the whole session N days later (see tests/clock_ahead.py)

ROOT = Path(__file__).resolve().parent.parent
_TMP = tempfile.mkdtemp(prefix="assistflow-test-")
DB_URL = os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{_TMP}/test.db"
IS_POSTGRES = DB_URL.startswith("postgresql")
# PostgreSQL: ``TEST_DATABASE_APP_ROLE=NAME`` runs the app under test as that non-owner role (as in
# production, docs/DEPLOY.md): the schema is migrated and seeded as the owner of ``TEST_DATABASE_URL``,
# ``assistflow db grant-app-role NAME`` prepares the role (created when missing), and the app, its
# ``engine`` and ``session`` fixtures connect as the role; the per-test cleanup stays the owner's (it
# removes audit rows, which the role cannot). Meant for the API tier (tests/api; .ci/run).
APP_ROLE = os.environ.get("TEST_DATABASE_APP_ROLE") if IS_POSTGRES else None
APP_DB_URL = re.sub(r"//[^@/]*@", f"//{APP_ROLE}@", DB_URL, count=1) if APP_ROLE else DB_URL

# Personal data keys made for this test session (never in the repository); exported so the server and
# scheduler processes the tests start inherit them.
if not os.environ.get("ASSISTFLOW_DATA_KEYS"):
    from engine.crypto import generate

    _data_key, _index_key = generate()
    os.environ["ASSISTFLOW_DATA_KEYS"] = _data_key
    os.environ["ASSISTFLOW_INDEX_KEY"] = _index_key
if not os.environ.get("ASSISTFLOW_AUDIT_KEYS"):  # the audit signing key, likewise
    from engine.audit.signing import generate as _generate_audit_key

    os.environ["ASSISTFLOW_AUDIT_KEYS"] = _generate_audit_key()
# signed audit checkpoints of this session go to its temporary folder, not the repository's instance/
os.environ.setdefault("ASSISTFLOW_AUDIT_CHECKPOINT_DIR", f"{_TMP}/audit-checkpoints")
# uploaded files (attachments) of this session likewise
os.environ.setdefault("ASSISTFLOW_FILES_URL", f"{_TMP}/files")

# The session secret likewise (the app refuses to start without one outside the local demo).
if not os.environ.get("ASSISTFLOW_SECRET_KEY"):
    import secrets

    os.environ["ASSISTFLOW_SECRET_KEY"] = secrets.token_urlsafe(48)

PASSWORD = "test-password-1"
# username -> grants (role, org unit code[, procedures[, bound_to]])
USERS: dict[str, list[tuple[Any, ...]]] = {
    "admin": [("admin", "310000")],
    "city": [("city_officer", "310000")],
    "pt_advisor": [("advisor", "310107014")],
    "pt_advisor2": [("advisor", "310107014")],
    "pt_officer": [("street_officer", "310107014")],
    "pt_officer2": [("street_officer", "310107014")],
    "pt_head": [("street_head", "310107014")],
    "pt_panel": [("review_panel", "310107014")],
    "pt_agency_lead": [("agency_lead", "310107")],
    "foundation": [("foundation", "310000")],
    "pt_agency_worker": [("agency_worker", "310107")],
    "pt_finance": [("finance", "310107014")],
    "pt_district": [("district_officer", "310107"), ("district_head", "310107")],
    "pt_other_street_officer": [("street_officer", "310107015")],
    "pt_other_advisor": [("advisor", "310107015")],
    "pt_other_head": [("street_head", "310107015")],
    "pd_advisor": [("advisor", "310115004")],
    "pd_officer": [("street_officer", "310115004")],
    "pd_district": [("district_officer", "310115"), ("district_head", "310115")],
    "pt_district_finance": [("finance", "310107")],
    "pd_district_officer": [("district_officer", "310115")],
    "pd_agency_lead": [("agency_lead", "310115")],
    "pd_agency_worker": [("agency_worker", "310115")],
    "gansu": [("gansu_officer", "310000")],
    "aided": [("aided_agency", "310000")],
    "expert": [("supervisor_expert", "310000")],
    "tw_agency_lead": [("agency_lead", "310000")],
}


_REPORTED: list[str] = []
_FIGURES: list[tuple[str, Callable[[], str | None]]] = []
RELIABILITY_FILE = ROOT / "test-artifacts" / "reliability.txt"


def report(line: str) -> None:
    """A reliability figure (kills, requests, retries …): shown in the terminal summary whatever the
    capture mode, and appended to ``test-artifacts/reliability.txt``."""
    _REPORTED.append(line)
    RELIABILITY_FILE.parent.mkdir(parents=True, exist_ok=True)
    with RELIABILITY_FILE.open("a", encoding="utf-8") as out:
        out.write(f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} {line}\n")


# the wall clock the suite ran on (moved ahead by `make test CLOCK_AHEAD_DAYS=…`)
_STARTED = dt.datetime.now(dt.UTC)


def figure(label: str, describe: Callable[[], str | None]) -> None:
    """A figure gathered over a module's tests (inputs tried, statuses seen): ``describe()`` is called
    once at the end of the session and its line, if any, is reported as :func:`report` does."""
    _FIGURES.append((label, describe))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    for label, describe in _FIGURES:
        text = describe()
        if text:
            report(f"RELIABILITY {label}: {text}")
    if APP_ROLE:  # shown whatever the verbosity (.ci/run checks for it)
        terminalreporter.write_line(f"database: the app as role {APP_ROLE}")
    ahead = clock_ahead.days()
    terminalreporter.write_line(
        f"clock: {_STARTED:%Y-%m-%d %H:%M} UTC" + (f" ({ahead} days ahead)" if ahead else " (real)")
    )
    if _REPORTED:
        terminalreporter.section("reliability figures")
        for line in _REPORTED:
            terminalreporter.write_line(line)


@pytest.hookimpl(tryfirst=True)  # before -k / -m deselect: the figures count the whole suite
def pytest_collection_modifyitems(session, config, items):
    reliability.on_collected(items)  # the figures docs/RELIABILITY.md opens with


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_TMP, ignore_errors=True)


def pytest_report_header(config):
    role = f", the app as role {APP_ROLE}" if APP_ROLE else ""
    return f"database: {'postgresql' if IS_POSTGRES else 'sqlite'} ({DB_URL.split('@')[-1]}{role})"


@pytest.fixture(scope="session")
def app():
    from flask_migrate import downgrade, upgrade

    from api import create_app
    from api.extensions import db
    from engine.audit import chain
    from engine.definitions import service as definitions
    from engine.orgs import service as orgs
    from engine.twinning import service as twinning
    from engine.users import service as users

    app = create_app({"SQLALCHEMY_DATABASE_URI": DB_URL, "TESTING": True})
    with app.app_context():
        downgrade(revision="base")
        upgrade()
        session = db.session()
        orgs.load_reference(session)
        twinning.load_reference(session)
        for username, grants in USERS.items():
            users.create_user(session, username, PASSWORD, grants=grants)
        definitions.sync_dir(session, ROOT / "processes")
        definitions.sync_dir(session, ROOT / "tests" / "fixtures" / "deployable")
        session.commit()
        chain.seal(
            session
        )  # the seed's events, sealed as the scheduler would: each test starts from this head
        session.commit()
        app.config["SEED_MAX_IDS"] = _max_ids(session)
        db.session.remove()
        if APP_ROLE:
            from api.db_roles import grant

            with db.engine.begin() as conn:
                grant(conn, APP_ROLE)
    if APP_ROLE:  # the app under test connects as the non-owner role from here on
        owner, app = app, create_app({"SQLALCHEMY_DATABASE_URI": APP_DB_URL, "TESTING": True})
        app.config["SEED_MAX_IDS"] = owner.config["SEED_MAX_IDS"]
        app.config["OWNER_APP"] = owner
        with app.app_context():
            assert db.session().execute(select(func.current_user())).scalar_one() == APP_ROLE
            db.session.remove()
    yield app
    for one in (app, app.config.get("OWNER_APP")):
        if one is not None:
            with one.app_context():
                db.engine.dispose()


def _max_ids(session: Session) -> dict[str, int]:
    from engine.models import (
        AuditChainHead,
        AuditEvent,
        DecisionDefinition,
        ProcessDefinition,
        StartSchedule,
        User,
    )

    head = session.get(AuditChainHead, 1)
    return {
        "audit": session.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1)) or 0,
        "audit_head": (head.seq, head.hash),
        "definition": session.scalar(
            select(ProcessDefinition.id).order_by(ProcessDefinition.id.desc()).limit(1)
        )
        or 0,
        "user": session.scalar(select(User.id).order_by(User.id.desc()).limit(1)) or 0,
        "decision": session.scalar(select(func.max(DecisionDefinition.id))) or 0,
        "schedules": {
            r.id: (r.next_run_at, r.remaining, r.runs, r.active)
            for r in session.scalars(select(StartSchedule))
        },
    }


def _cleanup(session: Session, seed: dict[str, int]) -> None:
    from engine.models import (
        Attachment,
        AuditChainHead,
        AuditEvent,
        AuditPending,
        AuditSeal,
        BufferedMessage,
        CaseHousehold,
        DecisionDefinition,
        DocumentTemplateVersion,
        FormVersion,
        Household,
        HumanTask,
        IdempotencyKey,
        LoginFailure,
        MessageSubscription,
        NearRelativeFiling,
        Notification,
        Person,
        PolicyParameterSet,
        ProcessDefinition,
        ProcessInstance,
        RoleGrant,
        SchedulerHeartbeat,
        ServiceOrganisation,
        ServiceOrganisationMember,
        ServiceRecord,
        StartSchedule,
        StepRecord,
        User,
        WebSession,
    )

    restore_holidays(session)  # before the users: a year entered names its admin
    session.execute(delete(Notification))
    session.execute(delete(WebSession))
    session.execute(delete(ServiceRecord))
    session.execute(delete(NearRelativeFiling))
    session.execute(delete(StartSchedule).where(StartSchedule.id.not_in(list(seed["schedules"]) or [0])))
    for row in session.scalars(select(StartSchedule)):
        row.next_run_at, row.remaining, row.runs, row.active = seed["schedules"][row.id]
    session.execute(delete(IdempotencyKey))
    session.execute(delete(SchedulerHeartbeat))
    session.execute(delete(LoginFailure))
    with audit_triggers_off(session):  # the audit log is append-only; tests remove theirs privileged
        seq, head = seed["audit_head"]
        session.execute(delete(AuditSeal).where(AuditSeal.seq > seq))
        session.execute(delete(AuditPending))
        session.execute(delete(AuditEvent).where(AuditEvent.id > seed["audit"]))
        session.execute(update(AuditChainHead).values(seq=seq, hash=head))
    with audit_triggers_off(session, ("step_record",)):  # step records are append-only too
        session.execute(delete(StepRecord))
    session.execute(delete(Attachment))
    session.execute(delete(MessageSubscription))
    session.execute(delete(BufferedMessage))
    session.execute(delete(HumanTask))
    session.execute(delete(ServiceOrganisationMember))  # after the tasks that name an organisation
    session.execute(delete(ServiceOrganisation))
    session.execute(delete(PolicyParameterSet).where(PolicyParameterSet.created_by_id.is_not(None)))
    session.execute(delete(FormVersion))
    session.execute(delete(DocumentTemplateVersion))
    session.execute(delete(CaseHousehold))
    session.execute(delete(ProcessInstance))
    session.execute(delete(Person))
    session.execute(delete(Household))
    session.execute(delete(ProcessDefinition).where(ProcessDefinition.id > seed["definition"]))
    session.execute(delete(DecisionDefinition).where(DecisionDefinition.id > seed["decision"]))
    session.execute(delete(RoleGrant).where(RoleGrant.user_id > seed["user"]))
    session.execute(delete(User).where(User.id > seed["user"]))
    session.commit()


def clean_up(app: Any) -> None:
    """Remove the rows a test added (inside ``app``'s context); as the owner when the app runs as the
    app role (removing audit rows needs the owner's rights: tests/audit_bypass.py)."""
    from api.extensions import db

    db.session.rollback()
    owner = app.config.get("OWNER_APP")
    if owner is None:
        _cleanup(db.session(), app.config["SEED_MAX_IDS"])
        return
    db.session.remove()
    with owner.app_context():
        _cleanup(db.session(), app.config["SEED_MAX_IDS"])
        db.session.remove()


@pytest.fixture()
def app_ctx(app) -> Iterator[None]:
    from api.extensions import db
    from engine.definitions import service as definitions
    from engine.formversions import service as formversions

    with app.app_context():
        yield
        clean_up(app)
        db.session.remove()
        definitions.SPEC_CACHE.clear()
        formversions.clear_cache()


@pytest.fixture()
def engine(app, app_ctx):
    from api.extensions import db

    return db.engine


@pytest.fixture()
def session(engine) -> Iterator[Session]:
    """A plain SQLAlchemy session as the scheduler or CLI would use; the test commits or not."""
    with Session(engine, expire_on_commit=False) as s:
        yield s
        s.rollback()


@pytest.fixture()
def schedules_ahead(session) -> None:
    """For tests that run a scheduler on the real clock: every seeded start schedule (the BPMN's
    ``R/2026-12-01…/P1M`` and the like) next falls due 30 days from now, so the scheduler does only the
    test's work whatever today is — not one monthly instance per org unit for every month since the
    schedule's first date. The seed values come back with the test's cleanup."""
    from engine.models import StartSchedule

    session.execute(update(StartSchedule).values(next_run_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=30)))
    session.commit()


@pytest.fixture()
def client(app, app_ctx):
    return app.test_client()


@pytest.fixture(scope="session")
def _tokens() -> dict[str, str]:
    return {}


@pytest.fixture()
def login(client, _tokens):
    """login(username) -> headers with a Bearer token (tokens are cached for the session)."""

    def _login(username: str) -> dict[str, str]:
        if username not in _tokens:
            response = client.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
            assert response.status_code == 201, response.json
            _tokens[username] = response.json["token"]
        return {"Authorization": f"Bearer {_tokens[username]}"}

    return _login


def get_user(session: Session, username: str):
    from engine.users import service as users

    return users.by_username(session, username)


# --- time travel for whole procedure scenarios -------------------------------------------------------

SHANGHAI_TZ = dt.timezone(dt.timedelta(hours=8))


class Clock:
    """Time travel for a whole test; tokens cached at one moment are dropped when the clock moves."""

    def __init__(self, traveller, tokens):
        self.traveller, self.tokens = traveller, tokens

    def move_to(self, moment):
        self.tokens.clear()
        self.traveller.move_to(moment)


@pytest.fixture()
def june(_tokens):
    _tokens.clear()
    with time_machine.travel(dt.datetime(2026, 6, 10, 9, 0, tzinfo=SHANGHAI_TZ), tick=True) as traveller:
        yield Clock(traveller, _tokens)
    _tokens.clear()


@pytest.fixture()
def spring(_tokens):
    _tokens.clear()
    with time_machine.travel(dt.datetime(2021, 3, 1, 9, 0, tzinfo=SHANGHAI_TZ), tick=True) as traveller:
        yield Clock(traveller, _tokens)
    _tokens.clear()


@pytest.fixture(scope="module", autouse=True)
def _collect_garbage_per_module() -> Iterator[None]:
    """Collect garbage after each test module, so that anything a module leaves unclosed (a database
    connection, a file) is reported against that module rather than whenever the collector next runs."""
    yield
    gc.collect()
