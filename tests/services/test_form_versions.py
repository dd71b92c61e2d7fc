"""Saved form versions: new tasks take the latest, open tasks keep theirs; invalid definitions refused."""

from __future__ import annotations

import copy

import pytest
from sqlalchemy import event, select

from engine import formstore
from engine.audit.models import AuditEvent
from engine.errors import Invalid, NotFound
from engine.formversions import service as formversions
from engine.formversions.models import FormVersion
from engine.tasks import service as tasks
from tests.conftest import get_user
from tests.factories import application_data, complete, open_task, start_demo


def with_required_note() -> dict:
    """demo_application plus a required field, as an admin might save it."""
    raw = copy.deepcopy(dict(formstore.get("demo_application").raw))
    raw["fields"].append(
        {
            "name": "visit_note",
            "type": "string",
            "label": {"zh": "走访备注", "en": "Visit note"},
            "required": True,
        }
    )
    return raw


def test_open_task_keeps_its_version_new_task_takes_the_latest(session):
    admin = get_user(session, "admin")
    before = start_demo(session)
    old_row = open_task(session, before.id, "application")
    assert old_row.form_version is None  # created with the file
    saved = formversions.save(session, "demo_application", with_required_note(), actor_id=admin.id)
    assert saved.version == 1
    after = start_demo(session)
    new_row = open_task(session, after.id, "application")
    assert new_row.form_version == 1
    assert tasks.form_of(new_row).field("visit_note") is not None
    assert tasks.form_of(old_row).field("visit_note") is None
    session.commit()

    # the task created before validates with the file's form: visit_note is unknown there, not needed
    with pytest.raises(Invalid) as info:
        complete(session, "pt_advisor", before.id, "application", application_data(visit_note="x"))
    assert "visit_note" in info.value.fields
    session.rollback()
    complete(session, "pt_advisor", before.id, "application", application_data())
    # the task created after needs the new field
    with pytest.raises(Invalid) as info:
        complete(session, "pt_advisor", after.id, "application", application_data())
    assert "visit_note" in info.value.fields
    session.rollback()
    complete(session, "pt_advisor", after.id, "application", application_data(visit_note="已走访"))

    # a second save is version 2, for tasks made from now on; version 1's task is unaffected
    second = formversions.save(
        session, "demo_application", dict(formstore.get("demo_application").raw), actor_id=admin.id
    )
    assert second.version == 2
    assert formversions.current(session, "demo_application")[1] == 2
    assert formversions.form_at(session, "demo_application", 1).field("visit_note") is not None


def test_save_is_audited_and_cached_parse_needs_no_query(session):
    admin = get_user(session, "admin")
    row = formversions.save(session, "demo_review", dict(formstore.get("demo_review").raw), actor_id=admin.id)
    event_row = session.scalar(select(AuditEvent).where(AuditEvent.action == "form.version_saved"))
    assert event_row.details == {"key": "demo_review", "version": 1, "sha256": row.sha256}
    assert event_row.actor_id == admin.id
    formversions.clear_cache()
    statements: list[str] = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(session.get_bind(), "before_cursor_execute", listener)
    try:
        first = formversions.form_at(session, "demo_review", 1)
        queries_first = len(statements)
        again = formversions.form_at(session, "demo_review", 1)
    finally:
        event.remove(session.get_bind(), "before_cursor_execute", listener)
    assert first is again and queries_first == 1 and len(statements) == 1


@pytest.mark.parametrize(
    ("mutate", "path", "fragment"),
    [
        (lambda raw: raw["fields"][0].update(type="colour"), "fields.household_size", "colour"),
        (
            lambda raw: raw.setdefault("rules", []).append(
                {"expr": "__import__('os')", "fields": ["reason"]}
            ),
            "rules.1",
            "__import__",
        ),
        (lambda raw: raw.update(fields=[]), "_form", "non-empty 'fields'"),
        (lambda raw: raw.update(key="other_form"), "key", "other_form"),
    ],
)
def test_invalid_definitions_are_refused_per_path_and_nothing_stored(session, mutate, path, fragment):
    raw = copy.deepcopy(dict(formstore.get("demo_application").raw))
    mutate(raw)
    with pytest.raises(Invalid) as info:
        formversions.save(session, "demo_application", raw, actor_id=None)
    assert path in info.value.fields, info.value.fields
    assert any(fragment in m or path == "key" for m in info.value.fields[path])
    assert session.scalar(select(FormVersion.id)) is None


def test_unknown_form_key_is_404(session):
    with pytest.raises(NotFound):
        formversions.save(session, "no_such_form", {"fields": []}, actor_id=None)
    with pytest.raises(NotFound):
        formversions.versions(session, "no_such_form")
