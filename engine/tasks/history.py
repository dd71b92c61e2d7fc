"""A case's finished tasks as plain rows (the case page's history list, its diagram and its forms).

``service.history_of`` returns ORM objects with their unit and assignee; a case page needs none of that,
and a Bridge Plan household with hundreds of visits has hundreds of finished tasks: these rows are the
few columns the pages show, read in one query."""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from sqlalchemy import select
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


def finished_rows(session: Session, instance_id: int) -> list[Finished]:
    """The case's completed or cancelled tasks, oldest first (as ``service.history_of`` orders them)."""
    stmt = (
        select(
            HumanTask.id,
            HumanTask.bpmn_id,
            HumanTask.name,
            HumanTask.state,
            HumanTask.completed_by_id,
            HumanTask.completed_at,
            HumanTask.form_key,
            HumanTask.form_version,
        )
        .where(HumanTask.instance_id == instance_id, HumanTask.state.not_in(OPEN_STATUSES))
        .order_by(HumanTask.completed_at, HumanTask.id)
    )
    return [Finished(*row) for row in session.execute(stmt)]
