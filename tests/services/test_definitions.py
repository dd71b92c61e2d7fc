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
    # the first start compiled its procedure (and, when no earlier test had, every procedure the
    # role-to-procedures map reads); the second compiles nothing
    compiled = definitions.SPEC_CACHE.misses
    assert compiled >= 1
    second = start_demo(session)
    session.flush()
    assert definitions.SPEC_CACHE.misses == compiled
    state = json.loads(session.get(ProcessInstance, first.id).state)
    assert "spec" not in state and "subprocess_specs" not in state
    definition = session.get(ProcessDefinition, first.definition_id)
    assert definitions.SPEC_CACHE.get(definition) is definitions.SPEC_CACHE.get(definition)
    assert definitions.SPEC_CACHE.misses == compiled
    assert second.definition_id == first.definition_id


def _names(compiled):
    return {getattr(s, "bpmn_name", None) for s in compiled.spec.task_specs.values()}


def test_a_rolled_back_deploy_never_runs_from_the_spec_cache(session, monkeypatch):
    """Issue 18 item 13: a refused deploy's spec must not stay cached under its rolled-back id (SQLite
    hands the same id to the next deploy)."""
    xml = (ROOT / "processes" / "demo_assistance.bpmn").read_text(encoding="utf-8")
    refused, created = definitions.deploy(session, xml.replace("受理审核", "被退回的版本").encode("utf-8"))
    assert created
    refused_id = refused.id
    assert "被退回的版本" in _names(definitions.compiled(session, refused_id))  # used inside its transaction
    session.rollback()

    this_worker = definitions.SPEC_CACHE
    monkeypatch.setattr(definitions, "SPEC_CACHE", definitions.SpecCache())  # another worker deploys
    good, created = definitions.deploy(session, xml.replace("受理审核", "正式的版本").encode("utf-8"))
    session.commit()
    monkeypatch.setattr(definitions, "SPEC_CACHE", this_worker)
    assert created
    if session.get_bind().dialect.name == "sqlite":
        assert good.id == refused_id  # the id is reused: the cache must tell the two apart
    compiled = definitions.compiled(session, good.id)
    assert compiled.sha256 == good.sha256
    assert "正式的版本" in _names(compiled) and "被退回的版本" not in _names(compiled)
    assert definitions.SPEC_CACHE.get(good) is compiled


def test_the_spec_cache_is_filled_only_after_commit(session):
    xml = (ROOT / "processes" / "demo_assistance.bpmn").read_text(encoding="utf-8")
    definitions.SPEC_CACHE.clear()
    definition, _ = definitions.deploy(session, xml.replace("受理审核", "待提交").encode("utf-8"))
    assert definitions.SPEC_CACHE.peek(definition.id) is None
    session.commit()
    cached = definitions.SPEC_CACHE.peek(definition.id)
    assert cached is not None and cached.sha256 == definition.sha256
