"""Deploying DMN decision tables as versions, and the versions a case keeps.

A decision is deployed like a process definition: a file whose content differs from its key's latest
version becomes the next version (audited ``decision.deployed``); the same content deploys nothing.
A case keeps, from its start, the latest version of every decision its procedure's business-rule tasks
name (``_decisions`` in its data: version and content hash, hidden from pages), so a later version
applies to new cases only. The tables are read into :data:`engine.bpmn.dmn_task.TABLES` when a case that
needs them is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.audit import service as audit
from engine.audit.models import AuditAction
from engine.bpmn import dmn, dmn_task
from engine.bpmn.xmlsafe import BpmnInvalid, Problem, sha256_of, to_utf8
from engine.decisions.models import DecisionDefinition
from engine.definitions.models import ProcessDefinition
from engine.errors import Invalid, NotFound
from engine.policy import service as policy

MAX_TRY_INPUTS = 50


def check(xml: bytes | str) -> tuple[dmn.DecisionTable | None, list[Problem]]:
    """Every problem of a DMN file (unreadable XML: its first problem) and its table when it has none."""
    try:
        return dmn.check_dmn(xml)
    except BpmnInvalid as err:
        return None, list(err.problems)


def latest(session: Session, key: str) -> DecisionDefinition | None:
    return session.scalar(
        select(DecisionDefinition)
        .where(DecisionDefinition.key == key)
        .order_by(DecisionDefinition.version.desc())
        .limit(1)
    )


def exists(session: Session, key: str) -> bool:
    return (
        session.scalar(select(DecisionDefinition.id).where(DecisionDefinition.key == key).limit(1))
        is not None
    )


def deploy(
    session: Session, xml: bytes | str, *, actor_id: int | None = None, source: str = "upload"
) -> tuple[DecisionDefinition, bool]:
    """Store a new version unless the key's latest version has the same content; (row, created).
    Nothing is written when the file has a problem (:class:`BpmnInvalid` with every one)."""
    raw = to_utf8(xml, any_root=True)
    table = dmn.read_dmn(raw)
    current = latest(session, table.key)
    if current is not None and current.sha256 == sha256_of(raw):
        return current, False
    row = DecisionDefinition(
        key=table.key,
        version=(current.version + 1) if current else 1,
        name=table.name[:200],
        sha256=table.sha256,
        dmn_xml=raw.decode("utf-8"),
        source=source[:200],
        deployed_by_id=actor_id,
    )
    session.add(row)
    session.flush()
    dmn_task.TABLES[(row.key, row.version, row.sha256)] = table
    audit.record(
        session,
        AuditAction.DECISION_DEPLOYED,
        actor_id=actor_id,
        details={"key": row.key, "version": row.version, "sha256": row.sha256, "source": row.source},
    )
    return row, True


def sync_dir(session: Session, directory: str | Path, actor_id: int | None = None) -> list[tuple[Any, bool]]:
    """Deploy every ``*.dmn`` file of ``directory`` (unchanged files make no new version)."""
    return [
        deploy(session, path.read_bytes(), actor_id=actor_id, source=f"file:{path.name}")
        for path in sorted(Path(directory).glob("*.dmn"))
    ]


@dataclass(frozen=True)
class DecisionSummary:
    latest: DecisionDefinition
    versions: int


def list_latest(session: Session) -> list[DecisionSummary]:
    """Every decision's latest version with its number of versions, by key."""
    counts = {
        key: int(n)
        for key, n in session.execute(
            select(DecisionDefinition.key, func.count()).group_by(DecisionDefinition.key)
        )
    }
    newest = select(DecisionDefinition.key, func.max(DecisionDefinition.version).label("v")).group_by(
        DecisionDefinition.key
    )
    sub = newest.subquery()
    rows = session.scalars(
        select(DecisionDefinition)
        .join(sub, (DecisionDefinition.key == sub.c.key) & (DecisionDefinition.version == sub.c.v))
        .order_by(DecisionDefinition.key)
    )
    return [DecisionSummary(row, int(counts.get(row.key, 0))) for row in rows]


def versions(session: Session, key: str) -> list[DecisionDefinition]:
    found = list(
        session.scalars(
            select(DecisionDefinition)
            .where(DecisionDefinition.key == key)
            .order_by(DecisionDefinition.version.desc())
        )
    )
    if not found:
        raise NotFound(f"决策表不存在 / no decision '{key[:100]}'")
    return found


def get_version(session: Session, key: str, version: int | None = None) -> DecisionDefinition:
    row = (
        latest(session, key)
        if version is None
        else session.scalar(
            select(DecisionDefinition).where(
                DecisionDefinition.key == key, DecisionDefinition.version == version
            )
        )
    )
    if row is None:
        raise NotFound(f"决策表版本不存在 / no decision '{key[:100]}' version {version}")
    return row


def table_of(row: DecisionDefinition) -> dmn.DecisionTable:
    """The parsed table of a stored version (cached by key, version and content hash)."""
    pin = (row.key, row.version, row.sha256)
    table = dmn_task.TABLES.get(pin)
    if table is None:
        table = dmn.read_dmn(row.dmn_xml)
        dmn_task.TABLES[pin] = table
    return table


def pins(session: Session, refs: frozenset[str] | set[str]) -> dict[str, dict[str, Any]]:
    """What a new case keeps: the latest version of each decision named (and reads them into the cache)."""
    kept: dict[str, dict[str, Any]] = {}
    for key in sorted(refs):
        row = latest(session, key)
        if row is None:  # lint refuses a procedure naming an unknown decision; a test may skip lint
            continue
        table_of(row)
        kept[key] = {"version": row.version, "sha256": row.sha256}
    return kept


def pin_missing(session: Session, wf: Any, refs: frozenset[str] | set[str]) -> None:
    """A case moved to a version naming decisions it does not keep yet (a migration): it keeps their
    latest versions from now on (written into every live task's data)."""
    workflows = [wf, *getattr(wf, "subprocesses", {}).values()]
    live = [t for w in workflows for t in w.get_tasks() if not t.has_state(TaskState.FINISHED_MASK)]
    found = [t.data[dmn_task.PINS_KEY] for t in live if isinstance(t.data.get(dmn_task.PINS_KEY), dict)]
    kept: dict[str, Any] = found[0] if found else {}
    missing = set(refs) - set(kept)
    if not missing:
        return
    added = {**kept, **pins(session, missing)}
    for task in live:
        task.data[dmn_task.PINS_KEY] = dict(added)


def ensure_loaded(session: Session, refs: frozenset[str] | set[str], data: dict[str, Any]) -> None:
    """Read into the cache the versions of ``refs`` a case keeps (``data`` is the case's data)."""
    for ref in refs:
        pin = dmn_task.pin_of(data, ref)
        if pin is None or pin in dmn_task.TABLES:
            continue
        row = session.scalar(
            select(DecisionDefinition).where(
                DecisionDefinition.key == ref, DecisionDefinition.version == pin[1]
            )
        )
        if row is not None and row.sha256 == pin[2]:
            table_of(row)


def try_it_view(
    session: Session, key: str, version: int | None, inputs: Any, process_key: str | None = None
) -> dict[str, Any]:
    """Evaluate a stored version on entered inputs (the "try it" panel): outputs and matched rows.
    ``param()`` reads the parameters of ``process_key`` in force today (none when not given)."""
    if not isinstance(inputs, dict) or len(inputs) > MAX_TRY_INPUTS:
        raise Invalid.on(
            "inputs", f"输入应为最多 {MAX_TRY_INPUTS} 项的对象 / give at most {MAX_TRY_INPUTS} inputs"
        )
    row = get_version(session, key, version)
    table = table_of(row)
    params = None
    if process_key:
        kept = policy.snapshot(session, process_key, {})
        params = dict(kept["values"]) if kept else None
    outcome = evaluate(table, inputs, params)
    by_row = {r.row: r for r in table.rules}
    return {
        "key": row.key,
        "version": row.version,
        "hit_policy": table.hit_policy,
        "result": outcome.result,
        "matched": [
            {"row": n, "id": by_row[n].id, "description": by_row[n].description} for n in outcome.matched
        ],
    }


def used_by(session: Session, key: str) -> list[str]:
    """Process keys with a version whose BPMN mentions this decision (whose parameters to try it with)."""
    found = session.scalars(
        select(ProcessDefinition.key).where(ProcessDefinition.bpmn_xml.contains(key)).distinct()
    )
    return sorted(found)


def evaluate(
    table: dmn.DecisionTable, inputs: dict[str, Any], params: dict[str, Any] | None = None
) -> dmn.Outcome:
    """Evaluate a table on inputs (a 422 on ``inputs`` when it cannot be evaluated)."""
    data = {k: v for k, v in inputs.items() if not str(k).startswith("_")}
    if params is not None:
        data["_params"] = {"values": params}
    try:
        return dmn.decide(table, dmn.coerce_inputs(table, data))
    except Exception as err:  # noqa: BLE001 — any evaluation failure is the entered inputs' problem
        raise Invalid.on("inputs", f"无法计算 / cannot evaluate: {err}"[:500]) from err
