"""A case's finished tasks as plain rows (the case page's history list, its diagram and its forms).

``service.history_of`` returns ORM objects with their unit and assignee; a case page needs none of that,
and a Bridge Plan household with hundreds of visits has hundreds of finished tasks: these rows are the
few columns the pages show, read in one query."""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.tasks.models import OPEN_STATUSES, HumanTask, TaskStatus


class Finished(NamedTuple):
    id: int
    bpmn_id: str
    name: str
    state: TaskStatus
    completed_by_id: int | None
    completed_at: dt.datetime | None
    form_key: str | None
    form_version: int | None
    process_key: str


def _finished_of(instance_id: int) -> Any:
    """The columns of a :class:`Finished` row, of the case's completed or cancelled tasks."""
    return select(
        HumanTask.id,
        HumanTask.bpmn_id,
        HumanTask.name,
        HumanTask.state,
        HumanTask.completed_by_id,
        HumanTask.completed_at,
        HumanTask.form_key,
        HumanTask.form_version,
        HumanTask.process_key,
    ).where(HumanTask.instance_id == instance_id, HumanTask.state.not_in(OPEN_STATUSES))


def finished_rows(session: Session, instance_id: int) -> list[Finished]:
    """The case's completed or cancelled tasks, oldest first (as ``service.history_of`` orders them)."""
    stmt = _finished_of(instance_id).order_by(HumanTask.completed_at, HumanTask.id)
    return [Finished(*row) for row in session.execute(stmt)]


class FormRef(NamedTuple):
    form_key: str
    form_version: int | None


class Done(NamedTuple):
    """What a case page needs of all its finished tasks together, without reading each one: the steps
    done (the diagram), the form versions used (the labels) and how many there are (the pager)."""

    completed_steps: list[str]
    forms: list[FormRef]
    total: int


def done_summary(session: Session, instance_id: int) -> Done:
    """One grouped query over the case's finished tasks (a household with hundreds of visits has
    hundreds of them; this reads a row per step and form version)."""
    stmt = (
        select(HumanTask.bpmn_id, HumanTask.state, HumanTask.form_key, HumanTask.form_version, func.count())
        .where(HumanTask.instance_id == instance_id, HumanTask.state.not_in(OPEN_STATUSES))
        .group_by(HumanTask.bpmn_id, HumanTask.state, HumanTask.form_key, HumanTask.form_version)
        .order_by(func.min(HumanTask.id))
    )
    completed: dict[str, None] = {}
    forms: dict[FormRef, None] = {}
    total = 0
    for bpmn_id, state, form_key, form_version, n in session.execute(stmt):
        total += n
        if state == TaskStatus.COMPLETED:
            completed[bpmn_id] = None
        if form_key:
            forms[FormRef(form_key, form_version)] = None
    return Done(sorted(completed), list(forms), total)


def finished_page(session: Session, instance_id: int, *, page: int, per_page: int) -> list[Finished]:
    """One page of the case's finished tasks, the latest first (the case page's 已办环节, paged as its
    timeline is)."""
    stmt = (
        _finished_of(instance_id)
        .order_by(HumanTask.completed_at.desc(), HumanTask.id.desc())
        .limit(per_page)
        .offset((max(page, 1) - 1) * per_page)
    )
    return [Finished(*row) for row in session.execute(stmt)]


def names_of(session: Session, task_ids: set[int]) -> dict[int, Any]:
    """What names some of a case's tasks (those a page of its timeline speaks of): rows of their name,
    form key, procedure key and element id."""
    if not task_ids:
        return {}
    stmt = select(
        HumanTask.id, HumanTask.name, HumanTask.form_key, HumanTask.process_key, HumanTask.bpmn_id
    ).where(HumanTask.id.in_(sorted(task_ids)))
    return {row.id: row for row in session.execute(stmt)}
