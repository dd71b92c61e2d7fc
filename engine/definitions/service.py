"""Deploying BPMN as versioned definitions, and the per-version cache of parsed specs."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, object_session

from engine import formstore
from engine.audit import service as audit
from engine.audit.models import AuditAction
from engine.bpmn import lint as bpmn_lint
from engine.bpmn import runtime
from engine.bpmn.parsing import (
    ERROR,
    WARNING,
    BpmnInvalid,
    BpmnTooLarge,
    CompiledDefinition,
    Problem,
    TaskMeta,
    check_bpmn,
    choose_process,
    compile_bpmn,
    in_order,
    locate,
    parse_xml,
    sha256_of,
    to_utf8,
)
from engine.deadlines import schedules
from engine.decisions import service as decisions
from engine.definitions.diff import DefinitionDiff, diff_xml
from engine.definitions.models import ProcessDefinition
from engine.errors import Invalid, NotFound
from engine.expressions import PARAMS_KEY
from engine.instances.models import InstanceStatus, ProcessInstance
from engine.users.models import Role, User

KNOWN_ROLES = {r.value for r in Role}


class SpecCache:
    """Parsed specs of committed definition versions, least recently used evicted.

    Entries are keyed by (version id, sha256): an id alone is not enough, because a deploy refused after
    its row was flushed rolls back, and SQLite then hands the same id to the next deploy (issue 18
    item 13). :meth:`peek` (by id alone) answers only for versions known to be committed: those
    deployed by a transaction that committed (:func:`deploy` fills the cache after commit) or read
    from the database by a transaction that did not create them.
    """

    def __init__(self, size: int = 256):
        self.size = size
        self._items: OrderedDict[tuple[int, str], CompiledDefinition] = OrderedDict()
        self._committed: dict[int, str] = {}  # version id -> sha256 of its committed row
        self._lock = threading.Lock()
        self.misses = 0

    def peek(self, definition_id: int) -> CompiledDefinition | None:
        with self._lock:
            sha = self._committed.get(definition_id)
            compiled = self._items.get((definition_id, sha)) if sha is not None else None
            if compiled is not None:
                self._items.move_to_end((definition_id, str(sha)))
            return compiled

    def get(self, definition: ProcessDefinition, *, committed: bool = False) -> CompiledDefinition:
        key = (definition.id, definition.sha256)
        with self._lock:
            compiled = self._items.get(key)
            if compiled is not None:
                self._items.move_to_end(key)
                if committed:
                    self._committed[definition.id] = definition.sha256
                return compiled
        session = object_session(definition)
        compiled = compile_bpmn(
            definition.bpmn_xml,
            known_roles=KNOWN_ROLES,
            source=definition.source,
            form_known=formstore.exists,
            # a call activity runs the called procedure's version current when this one was deployed
            called_process=called_reader(session, before_id=definition.id) if session is not None else None,
        )
        self._store(key, compiled, committed=committed)
        with self._lock:
            self.misses += 1
        return compiled

    def put(self, definition_id: int, compiled: CompiledDefinition) -> None:
        """Cache a committed version's spec (its sha is the compiled file's)."""
        self._store((definition_id, compiled.sha256), compiled, committed=True)

    def _store(self, key: tuple[int, str], compiled: CompiledDefinition, *, committed: bool) -> None:
        with self._lock:
            self._items[key] = compiled
            if committed:
                self._committed[key[0]] = key[1]
            while len(self._items) > self.size:
                (old_id, old_sha), _ = self._items.popitem(last=False)
                if self._committed.get(old_id) == old_sha:
                    del self._committed[old_id]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._committed.clear()
            self.misses = 0


_PENDING = "assistflow.spec_cache.pending"


def _deployed_in(session: Session) -> dict[int, CompiledDefinition]:
    """Versions deployed by the session's open transaction (cached only once it commits)."""
    pending: dict[int, CompiledDefinition] = session.info.setdefault(_PENDING, {})
    return pending


@event.listens_for(Session, "after_commit")
def _fill_after_commit(session: Session) -> None:
    for definition_id, compiled in session.info.pop(_PENDING, {}).items():
        SPEC_CACHE.put(definition_id, compiled)


@event.listens_for(Session, "after_soft_rollback")
def _forget_on_rollback(session: Session, _previous: Any) -> None:
    # any rollback (savepoints too) may have undone a deploy: forget them all; a miss recompiles
    session.info.pop(_PENDING, None)


@event.listens_for(Session, "after_transaction_end")
def _forget_at_end(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # a closed session's transaction ends without a rollback event
        session.info.pop(_PENDING, None)


SPEC_CACHE = SpecCache()


def called_reader(session: Session, *, before_id: int | None = None) -> Any:
    """BPMN of a deployed procedure by key, for call activities: its latest version (deployed before
    version ``before_id``, when given: what was current when that version was deployed)."""

    def read(key: str) -> str | None:
        stmt = select(ProcessDefinition.bpmn_xml).where(ProcessDefinition.key == key)
        if before_id is not None:
            stmt = stmt.where(ProcessDefinition.id < before_id)
        return session.scalar(stmt.order_by(ProcessDefinition.id.desc()).limit(1))

    return read


def check(
    xml: bytes | str, source: str = "upload", session: Session | None = None
) -> tuple[CompiledDefinition | None, list[Problem]]:
    """Every problem of a file in one answer (errors first, then warnings; each in document order) and
    the compiled definition when it is deployable. Only unreadable XML stops at its first problem
    (:class:`BpmnInvalid`; :class:`BpmnTooLarge` over the size limit). With ``session``, call
    activities may run deployed procedures (without one, only processes of the same file), and a
    business-rule task naming a decision that is not deployed is an error."""
    compiled, problems = check_bpmn(
        xml,
        known_roles=KNOWN_ROLES,
        form_exists=formstore.exists,
        service_exists=lambda name: name in runtime.SERVICES,
        source=source,
        decision_exists=(lambda key: decisions.exists(session, key)) if session is not None else None,
        called_process=called_reader(session) if session is not None else None,
    )
    root = parse_xml(xml).getroot()
    key, _not_executable = choose_process(root)
    if key is not None:
        problems += [Problem(m, el_id, line) for m, el_id, line in bpmn_lint.automatic_cycles(root, key)]
        problems += [Problem(m, el_id, line, WARNING) for m, el_id, line in bpmn_lint.warnings(root, key)]
    if compiled is not None and not any(p.severity == ERROR for p in problems):
        problems += [
            Problem(f"定时启动事件无效 / invalid timer start event: {p}") for p in schedules.check(compiled)
        ]
    by_id = {el.get("id"): el for el in root.iter() if isinstance(el.tag, str) and el.get("id")}
    problems = locate(in_order(list(dict.fromkeys(problems))), by_id)
    if any(p.severity == ERROR for p in problems):
        return None, problems
    if compiled is not None:
        compiled.warnings = problems
    return compiled, problems


def compile_for_deploy(
    xml: bytes | str, source: str = "upload", session: Session | None = None
) -> CompiledDefinition:
    """Validate BPMN for deployment; raises ``BpmnInvalid`` with every error (warnings do not refuse)."""
    compiled, problems = check(xml, source, session=session)
    if compiled is None:
        raise BpmnInvalid([p for p in problems if p.severity == ERROR])
    return compiled


def _check_start_units(session: Session, raw: bytes, compiled: CompiledDefinition) -> None:
    """A timer-started procedure's ``org_units`` must name existing units and levels (a 422 at deploy,
    before anything is written)."""
    problems = schedules.unit_problems(session, compiled)
    if problems:
        root = parse_xml(raw).getroot()
        lines = {
            el.get("id"): el.sourceline for el in root.iter() if isinstance(el.tag, str) and el.get("id")
        }
        raise BpmnInvalid(
            Problem(
                f"定时启动事件的机构无效 / invalid org_units of a timer start event: {message}",
                el,
                lines.get(el),
            )
            for el, message in problems
        )


def lint(xml: bytes | str, source: str = "upload", session: Session | None = None) -> list[Problem]:
    """Every problem that would refuse this BPMN at deploy; an empty list means it is deployable.

    A file over the size limit is not read at all: :class:`BpmnTooLarge` is raised (the API's 413).
    """
    return [p for p in lint_all(xml, source, session=session) if p.severity == ERROR]


def lint_warnings(xml: bytes | str, source: str = "upload", session: Session | None = None) -> list[Problem]:
    """What lint warns about without refusing the deploy (e.g. a repeating timer with no count, a
    Camunda attribute the engine ignores). A file that cannot be read has no warnings: its errors
    (from :func:`lint`) say why."""
    try:
        return [p for p in lint_all(xml, source, session=session) if p.severity == WARNING]
    except BpmnTooLarge:
        return []


def lint_all(xml: bytes | str, source: str = "upload", session: Session | None = None) -> list[Problem]:
    """Every problem at once: the errors (they refuse the deploy), then the warnings (they do not)."""
    try:
        return check(xml, source, session=session)[1]
    except BpmnTooLarge:
        raise
    except BpmnInvalid as err:  # not readable XML: its first problem is all there is to say
        return err.problems


def is_draft(xml: bytes | str) -> bool:
    """Whether the file is readable BPMN whose process is not marked executable: such a file can be
    opened in the modeler as a draft (not deployable until it is made executable)."""
    try:
        key, not_executable = choose_process(parse_xml(xml).getroot())
    except BpmnInvalid:
        return False
    return key is not None and not_executable is not None


def deployable(problems: list[Problem]) -> bool:
    return not any(p.severity == ERROR for p in problems)


def latest(session: Session, key: str) -> ProcessDefinition | None:
    return session.scalar(
        select(ProcessDefinition)
        .where(ProcessDefinition.key == key)
        .order_by(ProcessDefinition.version.desc())
        .limit(1)
    )


def deploy(
    session: Session, xml: bytes | str, *, actor_id: int | None = None, source: str = "upload"
) -> tuple[ProcessDefinition, bool]:
    """Store a new version unless the latest version of its key has the same content.

    Returns (definition, created). Nothing is written when the BPMN is invalid.
    """
    raw = to_utf8(xml)  # stored as UTF-8 text whatever encoding the file came in
    compiled = compile_for_deploy(raw, source, session=session)
    current = latest(session, compiled.key)
    if current is not None and current.sha256 == sha256_of(raw):
        return current, False
    _check_start_units(session, raw, compiled)
    definition = ProcessDefinition(
        key=compiled.key,
        version=(current.version + 1) if current else 1,
        name=compiled.name,
        sha256=compiled.sha256,
        bpmn_xml=raw.decode("utf-8"),
        source=source,
        deployed_by_id=actor_id,
    )
    session.add(definition)
    session.flush()
    _deployed_in(session)[definition.id] = compiled  # cached when (and if) the transaction commits
    schedules.on_deploy(session, definition, compiled)
    audit.record(
        session,
        AuditAction.DEFINITION_DEPLOYED,
        actor_id=actor_id,
        definition_id=definition.id,
        details={
            "key": definition.key,
            "version": definition.version,
            "sha256": definition.sha256,
            "source": source,
        },
    )
    return definition, True


def sync_dir(
    session: Session, directory: str | Path, actor_id: int | None = None
) -> list[tuple[ProcessDefinition, bool]]:
    """Deploy every ``*.bpmn`` file in ``directory`` (unchanged files make no new version), after its
    ``*.dmn`` decision tables (which the BPMN's business-rule tasks may name)."""
    decisions.sync_dir(session, directory, actor_id)
    results = []
    for path in sorted(Path(directory).glob("*.bpmn")):
        results.append(deploy(session, path.read_bytes(), actor_id=actor_id, source=f"file:{path.name}"))
    return results


def list_latest(session: Session) -> list[tuple[ProcessDefinition, int]]:
    """The latest version of every key, with its number of versions."""
    sub = (
        select(ProcessDefinition.key, func.max(ProcessDefinition.version).label("v"), func.count().label("n"))
        .group_by(ProcessDefinition.key)
        .subquery()
    )
    rows = session.execute(
        select(ProcessDefinition, sub.c.n)
        .join(sub, (ProcessDefinition.key == sub.c.key) & (ProcessDefinition.version == sub.c.v))
        .order_by(ProcessDefinition.key)
    )
    return [(d, n) for d, n in rows]


def versions(session: Session, key: str) -> list[ProcessDefinition]:
    rows = list(
        session.scalars(
            select(ProcessDefinition)
            .where(ProcessDefinition.key == key)
            .order_by(ProcessDefinition.version.desc())
        )
    )
    if not rows:
        raise NotFound(f"流程定义不存在 / process definition '{key}' not found")
    return rows


@dataclass(frozen=True)
class VersionInfo:
    """One deployed version with who deployed it and how many of its cases still run."""

    definition: ProcessDefinition
    deployed_by: str | None
    running_instances: int


def versions_with_counts(session: Session, key: str) -> list[VersionInfo]:
    """Every version of ``key``, newest first, in one grouped query (no query per version)."""
    running = (
        select(ProcessInstance.definition_id, func.count().label("n"))
        .where(ProcessInstance.process_key == key, ProcessInstance.status == InstanceStatus.RUNNING)
        .group_by(ProcessInstance.definition_id)
        .subquery()
    )
    rows = session.execute(
        select(ProcessDefinition, User.username, func.coalesce(running.c.n, 0))
        .outerjoin(User, User.id == ProcessDefinition.deployed_by_id)
        .outerjoin(running, running.c.definition_id == ProcessDefinition.id)
        .where(ProcessDefinition.key == key)
        .order_by(ProcessDefinition.version.desc())
    ).all()
    if not rows:
        raise NotFound(f"流程定义不存在 / process definition '{key}' not found")
    return [VersionInfo(d, username, int(n)) for d, username, n in rows]


def running_by_key(session: Session) -> dict[str, int]:
    """Running cases per process key (all versions), one grouped query."""
    rows = session.execute(
        select(ProcessInstance.process_key, func.count())
        .where(ProcessInstance.status == InstanceStatus.RUNNING)
        .group_by(ProcessInstance.process_key)
    )
    return {key: int(n) for key, n in rows}


def get_version(session: Session, key: str, version: int | None = None) -> ProcessDefinition:
    if version is None:
        found = latest(session, key)
    else:
        found = session.scalar(
            select(ProcessDefinition).where(
                ProcessDefinition.key == key, ProcessDefinition.version == version
            )
        )
    if found is None:
        raise NotFound(f"流程定义不存在 / process definition '{key}' version {version or 'latest'} not found")
    return found


def compiled(session: Session, definition_id: int) -> CompiledDefinition:
    """The parsed spec of a deployed version; the row (and its XML) is read only on a cache miss."""
    cached = SPEC_CACHE.peek(definition_id)
    if cached is not None:
        return cached
    definition = session.get(ProcessDefinition, definition_id)
    if definition is None:
        raise NotFound(f"流程定义不存在 / process definition {definition_id} not found")
    pending = _deployed_in(session).get(definition_id)
    if pending is not None and pending.sha256 == definition.sha256:
        return pending  # deployed by this very transaction: not cached until it commits
    return SPEC_CACHE.get(definition, committed=definition_id not in _deployed_in(session))


def bpmn_xml(session: Session, definition_id: int) -> str:
    """The BPMN XML (with its diagram) of one deployed version."""
    xml = session.scalar(select(ProcessDefinition.bpmn_xml).where(ProcessDefinition.id == definition_id))
    if xml is None:
        raise NotFound(f"流程定义不存在 / process definition {definition_id} not found")
    return xml


_FIRST_TASKS: dict[tuple[int, str], TaskMeta | None] = {}


class _AnyParameter(dict[str, Any]):
    """Every policy parameter, as 0: lets :func:`first_task` run a procedure's settings script."""

    def __contains__(self, name: object) -> bool:
        return True

    def __getitem__(self, name: str) -> Any:
        return 0


def first_task(definition: ProcessDefinition) -> TaskMeta | None:
    """The user task a person starting this version fills first; ``None`` for timer-started procedures.

    Found by running a throw-away workflow in memory up to its first human task (nothing is stored).
    """
    cache_key = (definition.id, definition.sha256)
    if cache_key not in _FIRST_TASKS:
        compiled = SPEC_CACHE.get(definition)
        meta = None
        if not runtime.timer_start_events(compiled.spec):
            # settings scripts read policy parameters: any name reads 0 in this dry run (nothing is stored)
            wf = runtime.new_workflow(compiled, {PARAMS_KEY: {"values": _AnyParameter()}})
            try:
                runtime.advance(wf)
            except runtime.EngineError:  # a start script that needs data given at start: no first form
                wf = None
            ready = runtime.ready_human_tasks(wf) if wf is not None else []
            meta = compiled.task_meta(ready[0].task_spec.bpmn_id) if ready else None
        _FIRST_TASKS[cache_key] = meta
    return _FIRST_TASKS[cache_key]


def diff_candidate(
    session: Session, key: str, xml: bytes | str, against: int | None = None
) -> tuple[ProcessDefinition, DefinitionDiff]:
    """What a candidate BPMN changes from a deployed version of ``key`` (the latest by default)."""
    base = get_version(session, key, against)
    return base, diff_xml(base.bpmn_xml, xml)


def diff_versions(
    session: Session, key: str, from_version: int | None = None, to_version: int | None = None
) -> tuple[ProcessDefinition, ProcessDefinition, DefinitionDiff]:
    """What changed between two deployed versions: ``to`` defaults to the latest, ``from`` to the one before."""
    new = get_version(session, key, to_version)
    if from_version is None:
        from_version = new.version - 1
        if from_version < 1:
            raise Invalid.on(
                "from", f"版本 {new.version} 没有更早的版本 / version {new.version} has no earlier version"
            )
    old = get_version(session, key, from_version)
    return old, new, diff_xml(old.bpmn_xml, new.bpmn_xml)
