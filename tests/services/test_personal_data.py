"""Personal data at rest: no ID or phone number in clear in any column of any table; keys rotate; a wrong
key is a clear error; blind indexes still find near relatives and double counting; reading full numbers
is an audited, role-restricted act, and the audit chain still verifies."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import JSON, Table, insert, inspect, select, text, type_coerce

from api.extensions import db
from engine import crypto, keys
from engine.audit import chain
from engine.audit.models import AuditEvent
from engine.forms import valid_id_number, with_check_digit
from engine.instances.models import ProcessInstance
from engine.ledger import service as ledger
from engine.ledger.models import ServiceRecord
from engine.recusal import service as recusal
from engine.tasks import service as tasks
from engine.users import service as users
from tests import factories
from tests.audit_bypass import legacy_chain_ok
from tests.procedures.helpers import (
    APPLICANT,
    Case,
    approve,
    pay,
    review,
    to_review,
)

RELATIVE = with_check_digit("99999919751231002")
DEMO_ID = with_check_digit("99999920010203004")
PHONE = "13912345678"
ID_PATTERN = re.compile(r"(?<![0-9A-Za-z])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")


@pytest.fixture()
def restore_keys() -> Iterator[None]:
    saved = crypto._keyring
    yield
    crypto._keyring = saved


def _all_raw_text(session) -> dict[str, str]:
    """Every column of every table, as stored (plain SQL, no type decorators), one text per table."""
    out: dict[str, str] = {}
    for name in inspect(session.get_bind()).get_table_names():
        rows = session.execute(text(f'SELECT * FROM "{name}"')).all()  # noqa: S608 — table names from the DB
        out[name] = "\n".join(" | ".join(str(v) for v in row) for row in rows)
    return out


def _run_cases(client, login) -> tuple[int, int]:
    filed = client.post(
        "/api/v1/near-relatives",
        headers=login("pt_head"),
        json={"staff_username": "pt_officer2", "relative_id_number": RELATIVE, "relation": "spouse"},
    )
    assert filed.status_code == 201, filed.json
    case = Case(client, login)
    to_review(case)
    case.do("democratic_review", "pt_panel", review())
    case.do("street_approval", "pt_head", approve())
    disbursement = case.task("disbursement")
    paid = client.post(
        f"/api/v1/tasks/{disbursement['id']}/complete",
        json={"data": pay()},
        headers={**login("pt_finance"), "Idempotency-Key": f"pay-{uuid.uuid4()}"},
    )
    assert paid.status_code == 200, paid.json
    session = db.session()
    demo = factories.start_demo(session)
    application = factories.open_task(session, demo.id, "application")
    advisor = users.by_username(session, "pt_advisor")
    tasks.save_draft(session, advisor, application.id, {"id_number": DEMO_ID, "phone": PHONE})
    factories.complete(
        session,
        "pt_advisor",
        demo.id,
        "application",
        factories.application_data(id_number=DEMO_ID, phone=PHONE),
    )
    session.commit()
    return case.id, demo.id


def test_no_id_or_phone_number_is_stored_in_clear_in_any_table(client, login):
    case_id, demo_id = _run_cases(client, login)
    session = db.session()
    session.expire_all()
    # in memory, through the models, everything is there …
    assert session.get(ProcessInstance, case_id).data["applicant_id_number"] == APPLICANT
    demo = session.get(ProcessInstance, demo_id)
    assert demo.data["id_number"] == DEMO_ID and demo.data["phone"] == PHONE
    assert DEMO_ID in demo.state  # the workflow state decrypts to its JSON
    payments = session.scalars(select(ServiceRecord).where(ServiceRecord.instance_id == case_id)).all()
    assert [r.household_id_number for r in payments] == [APPLICANT]
    # … but no table holds a number in clear (every table, every column, read with plain SQL)
    stored = _all_raw_text(session)
    assert {"process_instance", "audit_event", "service_record", "near_relative_filing"} <= set(stored)
    for table, content in stored.items():
        for secret in (APPLICANT, RELATIVE, DEMO_ID, PHONE, PHONE[3:]):
            assert secret not in content, (table, secret)
        ids = [m for m in ID_PATTERN.findall(content) if valid_id_number(m.upper())]
        assert ids == [], (table, ids)
    assert crypto.PREFIX in stored["process_instance"] and crypto.PREFIX in stored["audit_event"]
    assert chain.verify(session).ok


def test_blind_indexes_still_find_near_relatives_and_double_counting(client, login):
    case_id, _ = _run_cases(client, login)
    session = db.session()
    assert recusal.staff_related_to(session, RELATIVE.lower()) == ["pt_officer2"]
    assert recusal.staff_related_to(session, APPLICANT) == []
    others = ledger.other_projects(session, APPLICANT, "bridge_plan_household:1")
    assert others == [
        {
            "process_key": "comprehensive_assistance",
            "project_ref": f"comprehensive_assistance:{case_id}",
            "name": "市民综合帮扶",
        }
    ]
    table: Table = ServiceRecord.__table__  # type: ignore[assignment]
    raw = session.execute(select(table.c.household_id_index).where(table.c.instance_id == case_id)).scalar()
    assert raw == crypto.blind_index(APPLICANT) and len(raw) == 64
    # a different index key finds nothing: the index is keyed, not a plain hash of the number
    other = crypto.Keyring([crypto.generate()[0]], crypto.generate()[1])
    assert other.blind_index(APPLICANT) != raw


def test_rotated_key_decrypts_old_rows_and_rotate_reencrypts(client, login, restore_keys):
    case_id, _ = _run_cases(client, login)
    session = db.session()
    old_keys = ",".join(_current_keys())
    new_key, _ = crypto.generate()
    index_key = _index_key()
    crypto.configure(f"{new_key},{old_keys}", index_key)
    session.expire_all()
    assert (
        session.get(ProcessInstance, case_id).data["applicant_id_number"] == APPLICANT
    )  # old key still opens
    counts = keys.rotate(session)
    session.commit()
    assert counts["process_instance.state"] >= 2 and counts["near_relative_filing.relative_id_number"] == 1
    crypto.configure(new_key, index_key)  # the old key retired: rotated rows still open
    session.expire_all()
    instance = session.get(ProcessInstance, case_id)
    assert instance.data["applicant_id_number"] == APPLICANT and APPLICANT in instance.state
    assert recusal.staff_related_to(session, RELATIVE) == ["pt_officer2"]
    # The chain hashes the stored tokens, but each event's signature covers its values in clear
    # (engine.audit.signing): audit events keep the key they were written with, so verify needs the
    # retired key kept after the new one, as reading them does.
    verdict = chain.verify(session)
    assert not verdict.ok and "do not open with the data keys" in verdict.reason, verdict
    session.rollback()
    crypto.configure(f"{new_key},{old_keys}", index_key)
    assert chain.verify(session).ok


def test_a_wrong_key_is_a_clear_error(client, login, restore_keys):
    case_id, _ = _run_cases(client, login)
    session = db.session()
    crypto.configure(crypto.generate()[0], _index_key())
    session.expire_all()
    with pytest.raises(crypto.DecryptionError, match="cannot decrypt.*ASSISTFLOW_DATA_KEYS"):
        session.get(ProcessInstance, case_id)
    session.rollback()
    with pytest.raises(crypto.KeysNotConfigured, match="ASSISTFLOW_INDEX_KEY"):
        crypto.configure(crypto.generate()[0], None)
    with pytest.raises(crypto.KeysNotConfigured, match="not a Fernet key"):
        crypto.configure("not-a-key", _index_key())


def test_the_app_refuses_to_start_without_keys_outside_the_local_demo(monkeypatch, restore_keys):
    from api import create_app

    monkeypatch.delenv("ASSISTFLOW_DATA_KEYS")
    monkeypatch.setenv("DATABASE_URL", "sqlite:///:memory:")
    with pytest.raises(crypto.KeysNotConfigured, match="ASSISTFLOW_DATA_KEYS"):
        create_app()


def test_reveal_is_audited_and_forbidden_for_roles_without_need(client, login):
    case_id, _ = _run_cases(client, login)
    url = f"/api/v1/process-instances/{case_id}/personal-data"
    advisor = client.get(url, headers=login("pt_advisor"))
    assert advisor.status_code == 403 and APPLICANT not in advisor.get_data(as_text=True)
    detail = client.get(f"/api/v1/process-instances/{case_id}", headers=login("pt_officer"))
    assert APPLICANT not in detail.get_data(as_text=True)  # the default view is masked for everyone
    revealed = client.get(url, headers=login("pt_officer"))
    assert revealed.status_code == 200 and revealed.json == {
        "instance_id": case_id,
        "fields": {"applicant_id_number": APPLICANT},
    }
    session = db.session()
    session.expire_all()
    reads = session.scalars(
        select(AuditEvent).where(AuditEvent.instance_id == case_id, AuditEvent.action == "personal_data.read")
    ).all()
    assert len(reads) == 1
    officer = users.by_username(session, "pt_officer")
    assert reads[0].actor_id == officer.id
    assert reads[0].details == {"fields": ["applicant_id_number"], "channel": "api"}
    assert chain.verify(session).ok


def test_phones_are_masked_keeping_first_three_and_last_four():
    from engine.privacy import mask_phone, masked

    assert mask_phone(PHONE) == "139****5678"
    assert masked({"phone": PHONE, "contact_phone": "021-12345678"}, False) == {
        "phone": "139****5678",
        "contact_phone": "021*****5678",
    }


def _current_keys() -> list[str]:
    import os

    return [k.strip() for k in os.environ["ASSISTFLOW_DATA_KEYS"].split(",")]


def _index_key() -> str:
    import os

    return os.environ["ASSISTFLOW_INDEX_KEY"]


def test_migration_0011_encrypts_existing_rows_and_its_downgrade_decrypts_them(tmp_path):
    """Rows written in clear before 0011 are encrypted by it (with blind indexes and a re-sealed audit
    chain); the downgrade to 0008 gives the clear values back, its chain verifying too."""
    import datetime as dt

    import psycopg
    from flask_migrate import downgrade, upgrade
    from sqlalchemy.orm import Session

    from api import create_app
    from tests.conftest import DB_URL, IS_POSTGRES

    if IS_POSTGRES:
        base, _, _name = DB_URL.rpartition("/")
        name = f"assistflow_pii_{uuid.uuid4().hex[:8]}"
        admin = base.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = f"{base}/{name}"
    else:
        url, admin, name = f"sqlite:///{tmp_path}/pii.db", None, None
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    try:
        with app.app_context():
            upgrade(revision="0008_audit_chain_and_lockout")
            with db.engine.begin() as conn:
                conn.execute(
                    text(
                        "INSERT INTO app_user (id, username, display_name, password_hash, is_active, locale, "
                        "created_at) VALUES (1, 'u', 'U', 'x', :t, 'zh', :now)"
                    ),
                    {"t": True, "now": now},
                )
                conn.execute(
                    text(
                        "INSERT INTO near_relative_filing (staff_user_id, relative_id_number, relation, "
                        "filed_at, active) VALUES (1, :n, 'spouse', :now, :t)"
                    ),
                    {"n": RELATIVE, "now": now, "t": True},
                )
            events: Table = AuditEvent.__table__  # type: ignore[assignment]
            with db.engine.begin() as conn:  # an audit event written (and sealed) before 0011, in clear
                details = {"data": {"phone": PHONE, "id_number": DEMO_ID}}
                conn.execute(insert(events).values(at=now, action="x", details=type_coerce(details, JSON())))
                row = conn.execute(select(*chain._FIELDS)).mappings().one()
                digest = chain.event_hash(row, 1, chain.GENESIS)
                conn.execute(
                    text("UPDATE audit_event SET seq = 1, prev_hash = :g, hash = :h"),
                    {"g": chain.GENESIS, "h": digest},
                )
                conn.execute(text("UPDATE audit_chain_head SET seq = 1, hash = :h"), {"h": digest})
            with Session(db.engine) as session:
                assert legacy_chain_ok(session)

            upgrade()
            with Session(db.engine) as session:
                stored = _all_raw_text(session)
                for secret in (RELATIVE, PHONE, DEMO_ID):
                    assert all(secret not in content for content in stored.values()), secret
                index = session.execute(text("SELECT relative_id_index FROM near_relative_filing")).scalar()
                assert index == crypto.blind_index(RELATIVE)
                assert recusal.staff_related_to(session, RELATIVE) == ["u"]
                event = session.scalars(select(AuditEvent)).one()
                assert event.details == {"data": {"phone": PHONE, "id_number": DEMO_ID}}
                verdict = chain.verify(session)
                assert verdict.ok and verdict.head_hash != digest  # re-sealed over the encrypted form

            downgrade(revision="0008_audit_chain_and_lockout")
            with Session(db.engine) as session:
                stored = _all_raw_text(session)
                assert RELATIVE in stored["near_relative_filing"] and PHONE in stored["audit_event"]
                assert legacy_chain_ok(session)
            db.engine.dispose()
    finally:
        if admin:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_sealed_json_encrypts_personal_keys_only_and_free_text_stays_as_typed():
    stored = crypto.seal({"phone": PHONE, "reason": "enc1:not-a-token", "members": [{"id_number": DEMO_ID}]})
    assert stored["reason"] == "enc1:not-a-token" and stored["phone"].startswith(crypto.PREFIX)
    assert stored["members"][0]["id_number"].startswith(crypto.PREFIX)
    # a personal value that happens to look like a token is encrypted too, and comes back as typed
    assert crypto.unseal(crypto.seal({"phone": "enc1:x"})) == {"phone": "enc1:x"}
    assert crypto.unseal(stored) == {
        "phone": PHONE,
        "reason": "enc1:not-a-token",
        "members": [{"id_number": DEMO_ID}],
    }
    assert stored != crypto.seal(crypto.unseal(stored))  # fresh IV per encryption: equal numbers do not show


def test_the_workflow_state_is_compressed_before_it_is_encrypted(client, login, restore_keys):
    case_id, _ = _run_cases(client, login)
    session = db.session()
    raw = session.execute(text("SELECT state FROM process_instance WHERE id = :id"), {"id": case_id}).scalar()
    plain = session.get(ProcessInstance, case_id).state
    assert raw.startswith(crypto.ZPREFIX) and APPLICANT in plain
    assert len(raw) < len(plain) / 2, "the stored token is smaller than the JSON it holds"
    # the uncompressed form written by migration 0011 still opens, and rotation keeps each form
    ring = crypto.keyring()
    legacy = ring.encrypt(plain)
    assert legacy.startswith(crypto.PREFIX) and ring.decrypt(legacy) == plain
    assert ring.rotate(raw).startswith(crypto.ZPREFIX) and ring.rotate(legacy).startswith(crypto.PREFIX)
    with pytest.raises(crypto.DecryptionError):
        ring.decrypt(crypto.ZPREFIX + ring.encrypt(plain)[len(crypto.PREFIX) :])  # not zlib inside
