"""Writing and reading step records (see :mod:`engine.records.models`).

:func:`write` subscribes to the kernel's ``task_completed`` (``engine.wiring``): the record is inserted
in the completion's own transaction, so a completion that rolls back leaves no record and a record never
exists without its completion. Nothing here updates or deletes a record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import JSON, Table, bindparam, func, select, type_coerce
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.util import identity_key

from engine.errors import NotFound
from engine.forms import form_to_client, jsonable
from engine.formversions import service as formversions
from engine.records.models import StepRecord

MAX_PER_PAGE = 200


_TABLE = cast(Table, StepRecord.__table__)
# Built once: the record's INSERT, its run number computed inside it from the step's earlier records (the
# caller holds the instance lock, so two completions of one case never race for it). Executed on the
# session's connection as plain Core: no ORM bookkeeping for a row nothing reads back in this step.
_INSERT = _TABLE.insert().values(
    iteration=select(func.coalesce(func.max(_TABLE.c.iteration), 0) + 1)
    .where(_TABLE.c.instance_id == bindparam("of_instance"), _TABLE.c.bpmn_id == bindparam("of_step"))
    .scalar_subquery()
)


def write(
    session: Session,
    *,
    row: Any,
    data: dict[str, Any],
    derived: dict[str, Any] | None = None,
    actor: Any = None,
    **_: Any,
) -> None:
    """Keep the completed task's validated data as its record (one INSERT, in the caller's transaction)."""
    session.connection().execute(
        _INSERT,
        {
            "instance_id": row.instance_id,
            "of_instance": row.instance_id,
            "of_step": row.bpmn_id,
            "task_id": row.id,
            "bpmn_id": row.bpmn_id,
            "name": row.name,
            "form_key": row.form_key,
            "form_version": row.form_version,
            "actor_id": actor.id if actor is not None else row.completed_by_id,
            "completed_at": row.completed_at,
            "data": jsonable(data),
            "derived": jsonable(derived) if derived else None,
            "source": "completion",
        },
    )


def of_instance(
    session: Session,
    instance_id: int,
    *,
    page: int = 1,
    per_page: int = 50,
    bpmn_id: str | None = None,
    with_actor: bool = True,
    total: int | None = None,
) -> tuple[list[StepRecord], int]:
    """A case's records in the order the steps were done, one page of them, and how many there are
    (``with_actor``: each record's user loaded with it, for answers that name them; ``total``: how many
    there are, if the caller knows already, as from :func:`latest_per_step`'s runs)."""
    where = [StepRecord.instance_id == instance_id]
    if bpmn_id:
        where.append(StepRecord.bpmn_id == bpmn_id)
    if total is None:
        total = session.scalar(select(func.count()).select_from(StepRecord).where(*where)) or 0
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    ids = list(
        session.scalars(
            select(StepRecord.id)
            .where(*where)
            .order_by(StepRecord.completed_at, StepRecord.id)
            .limit(per_page)
            .offset((max(page, 1) - 1) * per_page)
        )
    )
    # records this session holds already (the case page read each step's latest) are not read again:
    # their data is the page's largest part, and a record never changes
    held = {i: session.identity_map.get(identity_key(StepRecord, i)) for i in ids}
    missing = [i for i, r in held.items() if r is None]
    if missing:
        stmt = select(StepRecord).where(StepRecord.id.in_(missing))
        for r in session.scalars(stmt.options(selectinload(StepRecord.actor)) if with_actor else stmt):
            held[r.id] = r
    return [cast(StepRecord, held[i]) for i in ids], total


def of_task(session: Session, task_id: int) -> StepRecord | None:
    return session.scalar(
        select(StepRecord).where(StepRecord.task_id == task_id).options(selectinload(StepRecord.actor))
    )


def get_of_task(session: Session, task_id: int) -> StepRecord:
    found = of_task(session, task_id)
    if found is None:
        raise NotFound(f"该事项没有办理记录 / task {task_id} has no step record")
    return found


def latest(session: Session, instance_id: int, bpmn_id: str) -> StepRecord | None:
    """The last record of a step in a case (the one a send-back pre-fills the reopened step with)."""
    return session.scalar(
        select(StepRecord)
        .where(StepRecord.instance_id == instance_id, StepRecord.bpmn_id == bpmn_id)
        .order_by(StepRecord.iteration.desc())
        .limit(1)
    )


def count(
    session: Session, instance_ids: list[int], bpmn_id: str, *, where: dict[str, Any] | None = None
) -> dict[int, int]:
    """How many records of step ``bpmn_id`` each case has, optionally only those whose submitted field
    equals a value (``where={"action": "visit"}``): loops are counted from their records."""
    if not instance_ids:
        return {}
    stmt = select(StepRecord.instance_id, func.count()).where(
        StepRecord.instance_id.in_(instance_ids), StepRecord.bpmn_id == bpmn_id
    )
    for name, value in (where or {}).items():
        stmt = stmt.where(type_coerce(StepRecord.data, JSON)[name].as_string() == str(value))
    found = {i: n for i, n in session.execute(stmt.group_by(StepRecord.instance_id))}
    return {i: int(found.get(i, 0)) for i in instance_ids}


def all_of_step(session: Session, instance_id: int, bpmn_id: str) -> list[StepRecord]:
    """Every run of one step in a case, in order (a loop as a collection)."""
    return list(
        session.scalars(
            select(StepRecord)
            .where(StepRecord.instance_id == instance_id, StepRecord.bpmn_id == bpmn_id)
            .order_by(StepRecord.iteration)
        )
    )


def latest_per_step(session: Session, instance_id: int) -> list[tuple[StepRecord, int]]:
    """Each step's last record in a case with how many runs the step has, steps in the order they were
    first done (two queries, whatever the number of loop runs)."""
    runs = (
        select(
            StepRecord.bpmn_id,
            func.max(StepRecord.iteration).label("last"),
            func.count().label("runs"),
            func.min(StepRecord.id).label("first"),
        )
        .where(StepRecord.instance_id == instance_id)
        .group_by(StepRecord.bpmn_id)
        .subquery()
    )
    found = session.execute(
        select(StepRecord, runs.c.runs)
        .join(runs, (StepRecord.bpmn_id == runs.c.bpmn_id) & (StepRecord.iteration == runs.c.last))
        .where(StepRecord.instance_id == instance_id)
        .order_by(runs.c.first)
    )
    return [(record, int(n)) for record, n in found]


@dataclass
class Field:
    name: str
    label: str
    type: str
    value: Any
    choices: dict[str, str] = field(default_factory=dict)
    columns: list[Field] = field(default_factory=list)


def fields(
    session: Session,
    record: StepRecord,
    data: dict[str, Any],
    locale: str = "zh",
    *,
    described_forms: dict[tuple[str | None, int | None, str], list[dict[str, Any]]] | None = None,
) -> list[Field]:
    """The record's values labelled from the form version it was entered with, in the form's order;
    values the form does not name (a field of an older form) follow under their own key.
    ``described_forms``: a cache of the forms' described fields, for the many records of one page."""
    key = (record.form_key, record.form_version, locale)
    described = described_forms.get(key) if described_forms is not None else None
    if described is None:
        form = (
            formversions.form_at(session, record.form_key, record.form_version) if record.form_key else None
        )
        described = form_to_client(form, locale)["fields"] if form is not None else []
        if described_forms is not None:
            described_forms[key] = described
    out: list[Field] = []
    for f in described:
        if f["name"] not in data:
            continue
        columns = [
            Field(
                c["name"], c["label"], c["type"], None, {x["value"]: x["label"] for x in c["choices"] or []}
            )
            for c in f.get("columns") or []
        ]
        choices = {c["value"]: c["label"] for c in f["choices"] or []}
        out.append(Field(f["name"], f["label"], f["type"], data[f["name"]], choices, columns))
    named = {f["name"] for f in described}
    out.extend(Field(k, k, "unknown", v) for k, v in data.items() if k not in named)
    return out


@dataclass
class Section:
    """The records of one step in a case: one record, or a loop's every run (shown as a table)."""

    bpmn_id: str
    name: str
    records: list[StepRecord]

    @property
    def is_loop(self) -> bool:
        return len(self.records) > 1


def sections(records: list[StepRecord]) -> list[Section]:
    """Records grouped by step, steps in the order they were first done."""
    by_step: dict[str, Section] = {}
    for record in records:
        section = by_step.get(record.bpmn_id)
        if section is None:
            section = by_step[record.bpmn_id] = Section(record.bpmn_id, record.name, [])
        section.records.append(record)
    return list(by_step.values())


# --- reading, as a user who may see the case -------------------------------------------------------------


def visible_of_instance(
    session: Session, user: Any, instance_id: int, *, page: int = 1, per_page: int = 50
) -> tuple[Any, list[StepRecord], int]:
    """The case (checked visible to ``user``: 404 / 403 as for the case itself) and a page of its records."""
    from engine.instances import service as instances

    instance = instances.get_visible(session, user, instance_id)
    rows, total = of_instance(session, instance.id, page=page, per_page=per_page)
    return instance, rows, total


def visible_of_task(session: Session, user: Any, task_id: int) -> tuple[Any, Any, StepRecord]:
    """A finished task, its case and its record, for anyone who may see the case (not only the task's
    role): 404 for an unknown task or a task without a record (not completed), 403 outside the case's
    scope."""
    from engine.instances import service as instances
    from engine.tasks.models import HumanTask

    row = session.get(HumanTask, task_id)
    if row is None:
        raise NotFound(f"任务不存在 / task {task_id} not found")
    instance = instances.get_visible(session, user, row.instance_id)
    return row, instance, get_of_task(session, task_id)
