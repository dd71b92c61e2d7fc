"""Working out a step before the write lock when the operation has written already (issue 18 item 10).

:mod:`engine.instances.optimistic` steps a case before its transaction's first write. Some operations
write before they step: starting a case and completing its first step in one request (the web's
"新建申请") inserts the case, then validates the first form and runs the workflow on; a rule of a step
may start another case. On SQLite the first INSERT takes the whole database's write lock, so what came
after it was evaluated while every other writer waited.

Such an operation is wrapped in :func:`rehearsing`. Inside it, each place that evaluates user
expressions (a form's rules, the steps after a completion, a new case's first automatic steps and its
first deadline) asks :func:`recall` for a result worked out before, under a key naming all its inputs;
without one, if the transaction holds the write lock, :func:`refuse` raises :class:`Unrehearsed`
carrying the key and the work. The wrapper rolls back (nothing of the attempt is kept), does the work
with no lock held, keeps its result and runs the operation again, which finds the result under the
same key and only writes. Results worked out while no lock was held are kept too (:func:`keep`), so
that the next attempt starts from the same workflow (its task ids are random). On PostgreSQL and
whenever no write lock is held nothing changes: the work is done in place. An operation called in a
transaction that has written already is not rehearsed (its rollback would undo the caller's writes).

Keys hold the inputs themselves (the stored workflow state, the submitted data as JSON): a result is
used only for exactly the inputs it was worked out from; anything else (a form saved meanwhile, a rule
deriving other data) misses, and the attempt is refused and repeated. Each attempt learns one missing
result; an operation still missing one after ``MAX_ATTEMPTS`` attempts (a first step whose rule starts
many cases: one result per case) is refused with :class:`TooMuchToRehearse` (409, nothing written)
rather than run with its expressions evaluated under the lock. No seed procedure comes near: their first
steps need at most the form's rules, one case a rule starts and the step (a rule deriving data: once
more). The web start form then opens the case and keeps the form as its first task's draft, to be
submitted from the task page: an ordinary completion, evaluated before its write lock.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable
from typing import Any, ParamSpec, TypeVar

from sqlalchemy.orm import Session

from engine import errors
from engine.instances import optimistic

MAX_ATTEMPTS = 8
_ON = "assistflow_rehearsing"  # in the session's ``info``: the operation is wrapped in :func:`rehearsing`
_MEMO = "assistflow_rehearsed"  # in the session's ``info``: key -> result
_SEEN = "assistflow_rehearsal_seen"  # in the session's ``info``: key -> times asked in this attempt

P = ParamSpec("P")
R = TypeVar("R")


@errors.family(errors.Conflict)  # caught by the wrapper; escaping it, a retryable conflict
class Unrehearsed(Exception):  # noqa: N818 - not an error: a signal to the wrapper
    """User expressions would be evaluated while the transaction holds the write lock."""

    def __init__(self, key: Hashable, work: Callable[[], Any]):
        super().__init__("step to be worked out before the write lock")
        self.key = key
        self.work = work


class TooMuchToRehearse(errors.Conflict):
    """The operation needs more worked out before the write lock than the attempts can learn."""

    def __init__(self) -> None:
        super().__init__(
            "新建时一并办理首个环节需要预先计算的内容过多，未保存任何内容：请先新建案件，再单独办理首个环节 / "
            "starting this case together with its first step needs more worked out in advance than "
            "allowed; nothing was saved: start the case, then complete its first step on its own"
        )


def active(session: Session) -> bool:
    """Inside a :func:`rehearsing` operation on SQLite (elsewhere nothing is ever rehearsed)."""
    return bool(session.info.get(_ON))


def occurrence(session: Session, key: Hashable) -> int:
    """How many times ``key`` was asked for before in this attempt (two new cases with the same data in
    one operation are two results, not one)."""
    seen = session.info.setdefault(_SEEN, {})
    seen[key] = seen.get(key, -1) + 1
    return int(seen[key])


def recall(session: Session, key: Hashable) -> Any | None:
    """The result worked out before for ``key`` (``None``: none)."""
    memo = session.info.get(_MEMO)
    return None if memo is None else memo.get(key)


def keep(session: Session, key: Hashable, result: Any) -> None:
    """Keep a result worked out with no lock held for the operation's next attempts."""
    if active(session):
        session.info.setdefault(_MEMO, {})[key] = result


def refuse(session: Session, key: Hashable, work: Callable[[], Any]) -> None:
    """Raise :class:`Unrehearsed` if the transaction holds the write lock (SQLite)."""
    if active(session) and _holds_write_lock(session):
        raise Unrehearsed(key, work)


def needed(session: Session) -> bool:
    """Must the evaluation at hand go through :func:`recall` / :func:`refuse`? Only inside a rehearsing
    operation that holds the write lock or has results worked out before; otherwise it is done in
    place, as outside a rehearsal (the cheap question a completion asks twice)."""
    return active(session) and (bool(session.info.get(_MEMO)) or _holds_write_lock(session))


def _holds_write_lock(session: Session) -> bool:
    """Has the transaction written (SQLite: the write lock is held)? Objects not flushed yet do not
    count: whatever is evaluated before their flush is evaluated with no lock held."""
    raw: Any = session.connection().connection.dbapi_connection
    return bool(raw.in_transaction)


def rehearsing(fn: Callable[P, R]) -> Callable[P, R]:
    """Run an operation ``fn(session, …)`` that writes before it steps so that, on SQLite, every user
    expression it evaluates is evaluated with no write lock held (see the module's text)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        session: Any = args[0]  # a Session (or a scoped_session standing for one)
        if active(session) or not optimistic.can_defer(session):
            # PostgreSQL, an enclosing rehearsal, or a transaction that wrote before: the rollback
            # between attempts may only ever undo what the operation itself wrote
            return fn(*args, **kwargs)
        session.info[_ON] = True
        try:
            for attempt in range(1, MAX_ATTEMPTS + 1):
                session.info[_SEEN] = {}
                try:
                    return fn(*args, **kwargs)
                except Unrehearsed as missing:
                    session.rollback()  # nothing of the attempt is kept; no lock is held now
                    if attempt < MAX_ATTEMPTS:
                        session.info.setdefault(_MEMO, {})[missing.key] = missing.work()
            # Still missing results (a rule starting many cases): refused rather than evaluated under
            # the lock; nothing of it was written
            raise TooMuchToRehearse()
        finally:
            session.info.pop(_ON, None)
            session.info.pop(_MEMO, None)
            session.info.pop(_SEEN, None)

    return wrapper
