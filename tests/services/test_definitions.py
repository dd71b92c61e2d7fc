"""Definition deployment, versioning and the spec cache, on the real database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.bpmn.parsing import BpmnInvalid
from engine.definitions import service as definitions
from engine.definitions.models import ProcessDefinition
from engine.instances.models import ProcessInstance
from tests.factories import start_demo

ROOT = Path(__file__).resolve().parents[2]


def _count(session):
    return session.scalar(select(func.count()).select_from(ProcessDefinition))


def test_sync_is_idempotent(session):
    before = _count(session)
    results = definitions.sync_dir(session, ROOT / "processes")
    assert results and all(created is False for _d, created in results)
    assert _count(session) == before


def test_changed_file_makes_a_new_version(session, tmp_path):
    xml = (ROOT / "processes" / "demo_assistance.bpmn").read_text(encoding="utf-8")
    (tmp_path / "demo_assistance.bpmn").write_text(xml.replace("受理审核", "受理与审核"), encoding="utf-8")
    [(definition, created)] = definitions.sync_dir(session, tmp_path, actor_id=None)
    assert created and definition.version == 2 and definition.source == "file:demo_assistance.bpmn"
    assert definitions.get_version(session, "demo_assistance").id == definition.id
    assert [d.version for d in definitions.versions(session, "demo_assistance")] == [2, 1]


def test_invalid_deploy_stores_nothing(session):
    before = _count(session)
    with pytest.raises(BpmnInvalid):
        definitions.deploy(session, (ROOT / "tests/fixtures/bpmn/unsafe_script.bpmn").read_bytes())
    assert _count(session) == before


def test_instances_do_not_embed_the_spec_and_share_the_cached_one(session):
    definitions.SPEC_CACHE.clear()
    first = start_demo(session)
    second = start_demo(session)
    session.flush()
    state = json.loads(session.get(ProcessInstance, first.id).state)
    assert "spec" not in state and "subprocess_specs" not in state
    definition = session.get(ProcessDefinition, first.definition_id)
    assert definitions.SPEC_CACHE.get(definition) is definitions.SPEC_CACHE.get(definition)
    assert definitions.SPEC_CACHE.misses == 1
    assert second.definition_id == first.definition_id
