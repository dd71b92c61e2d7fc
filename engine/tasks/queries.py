"""Task lists: the inbox (scopes, SLA colours, capped counts, one page), a case's open and finished tasks."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import false, func, or_, select, union
from sqlalchemy.orm import Session, joinedload, selectinload

from engine.db import utcnow
from engine.instances import service as instances
from engine.orgs import service as orgs
from engine.scope import role_branches, sees_everything, unit_clause, visible_clause
from engine.tasks.models import OPEN_STATUSES, HumanTask, TaskStatus, open_clause
from engine.users import service as users
from engine.users.models import SUPERVISOR_ROLES, User

SCOPES = ("mine", "claimable", "all")
SLA_COLOURS = ("green", "yellow", "orange", "red")
COUNT_CAP = 10_000  # inbox totals are exact up to this many tasks
# What task lists show beside each row: its org unit and assignee, loaded in one extra query each.
_DISPLAY = (selectinload(HumanTask.org_unit), selectinload(HumanTask.assignee))
# The same for one case's few open tasks: joined into their own query.
_DISPLAY_JOINED = (joinedload(HumanTask.org_unit), joinedload(HumanTask.assignee))


def _sla_clause(colour: str, now: dt.datetime) -> Any:
    if colour == "red":
        return HumanTask.escalate_at <= now
    if colour == "orange":
        return (HumanTask.due_at <= now) & or_(HumanTask.escalate_at.is_(None), HumanTask.escalate_at > now)
    if colour == "yellow":
        return (HumanTask.warn_at <= now) & (HumanTask.due_at > now)
    return or_(HumanTask.due_at.is_(None), HumanTask.warn_at > now)


def inbox(
    session: Session,
    user: User,
    *,
    scope: str = "all",
    sla: str | None = None,
    overdue: bool | None = None,
    process_key: str | None = None,
    org_unit_code: str | None = None,
    state: str | None = None,
    sort: str = "due",
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[HumanTask], int]:
    filters: list[Any] = []  # what the user asked for, beside whose tasks they are
    if state is not None:
        filters.append(HumanTask.state == TaskStatus(state))
    elif scope != "mine":
        filters.append(open_clause())
    if process_key:
        filters.append(HumanTask.process_key == process_key)
    now = utcnow()
    if sla:
        filters.append(_sla_clause(sla, now))
    if overdue is not None:
        filters.append(
            HumanTask.due_at <= now if overdue else or_(HumanTask.due_at.is_(None), HumanTask.due_at > now)
        )
    if org_unit_code:
        filters.append(unit_clause(orgs.by_code(session, org_unit_code), HumanTask))
    # whose tasks: any of ``branches`` (None: every task ``where`` keeps), each with ``where`` besides
    branches: list[Any] | None = None
    supervisor_roles = {r.value for r in SUPERVISOR_ROLES}
    if scope == "mine":
        where = [HumanTask.assignee_id == user.id, HumanTask.state == TaskStatus.CLAIMED, *filters]
    elif scope == "claimable":
        where = [HumanTask.state == TaskStatus.READY, *filters]
        branches = role_branches(session, user, HumanTask)
    elif users.is_admin(user) or sees_everything(session, user, supervisor_roles):
        where = filters
    else:
        where = filters
        # a supervisor's whole units first: the count (``_count``) then takes from the branches after it
        # only the few tasks it misses
        branches = [
            visible_clause(session, user, HumanTask, roles=supervisor_roles),
            HumanTask.assignee_id == user.id,
            *role_branches(session, user, HumanTask),
        ]
    order: list[Any]
    if sort == "created":
        order = [HumanTask.created_at.asc(), HumanTask.id.asc()]
    else:
        order = [HumanTask.due_at.asc().nulls_last(), HumanTask.created_at.asc(), HumanTask.id.asc()]
    total = _count(session, where, branches)
    offset = (page - 1) * per_page
    if branches is not None and scope == "claimable":
        page_stmt = _page_of_roles(where, branches, order, offset=offset, limit=per_page)
    else:
        page_stmt = select(HumanTask).where(*where, *_any_of(session, branches, where))
        page_stmt = page_stmt.order_by(*order).limit(per_page).offset(offset)
    rows = session.scalars(page_stmt.options(*_DISPLAY))
    return list(rows), total


def _any_of(session: Session, branches: list[Any] | None, where: list[Any]) -> list[Any]:
    """The term for rows matching any branch (``where`` applies besides); none for no branches. PostgreSQL
    combines an OR of branches from their indexes itself (BitmapOr); SQLite's planner does not across
    different columns and would scan, so there each branch is its own SELECT on its own index, joined by
    UNION."""
    if branches is None:
        return []
    if len(branches) <= 1 or session.get_bind().dialect.name != "sqlite":
        return [or_(false(), *branches)]
    return [HumanTask.id.in_(union(*(select(HumanTask.id).where(b, *where) for b in branches)))]


def _count(session: Session, where: list[Any], branches: list[Any] | None) -> int:
    """How many tasks match ``where`` and any of ``branches``, stopping at COUNT_CAP: past it a list says
    "10,000 or more" and the count stays cheap.

    With branches, the tasks are counted in disjoint parts — each branch's tasks that no earlier branch
    holds — summed in one statement: each part is one branch's SELECT on that branch's own index, read
    from the index alone where it holds every column the part tests (a city officer's claimable tasks:
    one range of ``ix_human_task_open_role_state_due``). An OR of the branches makes PostgreSQL visit
    every task's table row (bitmap heap scan) and SQLite scan; a UNION of ids has SQLite sort them.
    ``coalesce`` keeps a task whose earlier branches are NULL for it (a task with no district, no
    escalated role) in its part, as an OR would.
    """
    if branches is None:
        parts = [select(HumanTask.id).where(*where)]
    else:
        parts = [
            select(HumanTask.id).where(
                b, *where, *([~func.coalesce(or_(*branches[:i]), false())] if i else [])
            )
            for i, b in enumerate(branches)
        ]
    if not parts:  # no branches (no grants): nothing
        return 0
    counts = [
        select(func.count()).select_from(p.limit(COUNT_CAP).subquery()).scalar_subquery() for p in parts
    ]
    total = session.scalar(select(sum(counts[1:], start=counts[0]))) or 0
    return min(total, COUNT_CAP)


def _page_of_roles(
    where: list[Any], branches: list[Any], order: list[Any], *, offset: int, limit: int
) -> Any:
    """One page of the tasks of the user's roles (claimable), in ``order``, which ends with the id.

    Each branch (a role in a unit) gives its own first ``offset + limit`` tasks in that order — one range
    of its index read in due order where the index has one (a single role: a city officer's thousands),
    stopping there — and the page is taken from their UNION: a task among the list's first
    ``offset + limit`` is among those of every branch it belongs to. As one OR instead, SQLite reads and
    sorts every task of every branch for one page, and PostgreSQL does the same or walks the whole
    due-date index, filtering for the roles.

    The "all" scope keeps the OR (``_any_of``): a supervisor's unit is a branch there that holds its role
    branches, and cut apart each of those would look for its own first tasks, a sparse role far down the
    due-date index, where PostgreSQL walks that index once for the OR.
    """
    if not branches:  # no grants: nothing is claimable
        return select(HumanTask).where(false())
    firsts = [select(HumanTask.id).where(b, *where).order_by(*order).limit(offset + limit) for b in branches]
    ids = union(*(select(first.subquery().c.id) for first in firsts))
    return select(HumanTask).where(HumanTask.id.in_(ids)).order_by(*order).limit(limit).offset(offset)


def open_tasks_of(session: Session, instance_id: int, *, display: bool = True) -> list[HumanTask]:
    stmt = select(HumanTask).where(HumanTask.instance_id == instance_id, open_clause()).order_by(HumanTask.id)
    return list(session.scalars(stmt.options(*_DISPLAY_JOINED) if display else stmt))


def history_of(session: Session, instance_id: int) -> list[HumanTask]:
    """The instance's finished tasks (completed or cancelled), oldest first, with who completed them."""
    stmt = (
        select(HumanTask)
        .where(HumanTask.instance_id == instance_id, HumanTask.state.not_in(OPEN_STATUSES))
        .order_by(HumanTask.completed_at, HumanTask.id)
    )
    return list(session.scalars(stmt.options(*_DISPLAY)))


def cases_of(session: Session, rows: list[HumanTask]) -> dict[int, tuple[str | None, str]]:
    """Business key and procedure name of each task's instance, in one query (for task lists)."""
    from engine.definitions.models import ProcessDefinition

    ids = {r.instance_id for r in rows}
    if not ids:
        return {}
    result = session.execute(
        select(instances.ProcessInstance.id, instances.ProcessInstance.business_key, ProcessDefinition.name)
        .join(ProcessDefinition, ProcessDefinition.id == instances.ProcessInstance.definition_id)
        .where(instances.ProcessInstance.id.in_(ids))
    )
    return {i: (key, name) for i, key, name in result}
