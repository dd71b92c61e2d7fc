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

What no path above foresees is caught by :func:`stepping`, which every stepping operation (a
completion, a timer wake-up, an incident retry, a send back, a start …) is wrapped in: it puts a gate
(``_gate``, through :func:`engine.expressions.gated`) before every expression and script the
operation evaluates. With the write lock held, an evaluation stops the attempt (:class:`Unevaluated`);
the transaction is rolled back, the evaluation done with no lock held and its result (or error) kept
under an image of exactly its inputs, and the operation runs again. At most ``MAX_LEARNED`` results are
learned this way; an operation needing more is refused (409, nothing written).
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
from collections.abc import Callable, Hashable, Mapping
from decimal import Decimal
from typing import Any, ParamSpec, TypeVar

from sqlalchemy.orm import Session

from engine import errors, expressions
from engine.instances import optimistic

MAX_ATTEMPTS = 8
# Evaluations an operation may learn one by one (each one attempt) before it is refused: the residual
# chains of message deliveries need a few; a model needing more is refused, nothing written (409).
MAX_LEARNED = 64
_ON = "assistflow_rehearsing"  # in the session's ``info``: the operation is wrapped in :func:`rehearsing`
_MEMO = "assistflow_rehearsed"  # in the session's ``info``: key -> result
_SEEN = "assistflow_rehearsal_seen"  # in the session's ``info``: key -> times asked in this attempt
_GATED = "assistflow_evaluations_gated"  # in the session's ``info``: inside stepping() or rehearsing()
_LEARNED = "assistflow_evaluations_learned"  # in the session's ``info``: fingerprint -> (ok, result)

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

    def __init__(self, *, stepping: bool = False) -> None:
        super().__init__(
            "此操作需要在写入前预先计算的内容过多，未保存任何内容：请联系管理员检查流程模型 / this "
            "operation needs more worked out before it writes than allowed; nothing was saved: ask an "
            "administrator to check the process model"
            if stepping
            else "新建时一并办理首个环节需要预先计算的内容过多，未保存任何内容：请先新建案件，再单独办理首个环节 / "
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
    return _learning(fn, rehearse=True)


def stepping(fn: Callable[P, R]) -> Callable[P, R]:
    """:func:`engine.instances.optimistic.retrying` for a stepping operation (a completion, a timer
    wake-up, a send back …), every evaluation of which is gated: one reached while the transaction holds
    the write lock (SQLite) is learned before the lock instead (see ``_gate``)."""
    return _learning(optimistic.retrying(fn), rehearse=False)


def _learning(fn: Callable[P, R], *, rehearse: bool) -> Callable[P, R]:
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        session: Any = args[0]  # a Session (or a scoped_session standing for one)
        if session.info.get(_GATED) or not optimistic.can_defer(session):
            # PostgreSQL, an enclosing operation, or a transaction that wrote before: the rollback
            # between attempts may only ever undo what the operation itself wrote
            return fn(*args, **kwargs)
        session.info[_GATED] = True
        if rehearse:
            session.info[_ON] = True
        missed = learned = 0
        try:
            with expressions.gated(_gate(session)):
                while True:
                    session.info[_SEEN] = {}
                    try:
                        return fn(*args, **kwargs)
                    except Unrehearsed as missing:
                        session.rollback()  # nothing of the attempt is kept; no lock is held now
                        missed += 1
                        if missed == MAX_ATTEMPTS:
                            # Still missing results (a rule starting many cases): refused rather than
                            # evaluated under the lock; nothing of it was written
                            raise TooMuchToRehearse() from None
                        with expressions.gated(None):
                            session.info.setdefault(_MEMO, {})[missing.key] = missing.work()
                    except Unevaluated as missing:
                        session.rollback()
                        learned += 1
                        if learned > MAX_LEARNED:
                            raise TooMuchToRehearse(stepping=not rehearse) from None
                        with expressions.gated(None):
                            session.info.setdefault(_LEARNED, {})[missing.key] = _learn(missing)
        finally:
            for key in (_ON, _GATED, _MEMO, _SEEN, _LEARNED):
                session.info.pop(key, None)

    return wrapper


# --- every evaluation, gated --------------------------------------------------------------------------


class Unevaluated(BaseException):  # noqa: N818 - not an error: a signal to the wrapper
    """An evaluation reached while the transaction holds the write lock, to be done with none held. A
    ``BaseException``: the handlers that turn a failing automatic step into an incident (ours and
    SpiffWorkflow's, which catch ``Exception``) must let it through to :func:`stepping`."""

    def __init__(self, key: Hashable, run: Callable[[], Any]):
        super().__init__("evaluation to be done before the write lock")
        self.key = key
        self.run = run


def _gate(session: Session) -> expressions.Gate:
    """The gate of :mod:`engine.expressions` for an operation run by :func:`stepping` or
    :func:`rehearsing`. With no write lock held an evaluation runs in place. With it held, a result
    learned before for the same kind, text and variables is given back; otherwise the attempt stops
    (:class:`Unevaluated`), is rolled back, the evaluation is done with no lock held and the operation
    runs again. Expressions are pure functions of their variables, so a result learned once holds for
    the same inputs. Variables that cannot be told apart by value (none of the data a case keeps) are
    evaluated in place."""

    def gate(kind: str, text: str, names: Mapping[str, Any], run: Callable[[], Any]) -> Any:
        learned = session.info.get(_LEARNED) or {}
        locked = _holds_write_lock(session)
        if not learned and not locked:
            return run()
        key = _fingerprint(kind, text, names)
        if key is None:
            return run()
        if key in learned:
            ok, value = learned[key]
            if not ok:
                raise value
            return copy.deepcopy(value)
        if not locked:
            return run()
        raise Unevaluated(key, run)

    return gate


def _learn(missing: Unevaluated) -> tuple[bool, Any]:
    """Do the evaluation ``missing`` stands for (no lock held): its result, or the error it raised."""
    try:
        return True, copy.deepcopy(missing.run())
    except expressions.ExpressionError as err:  # a failing expression fails the same way the next time
        return False, err


def _fingerprint(kind: str, text: str, names: Mapping[str, Any]) -> Hashable | None:
    try:
        return (kind, text, _canonical(names))
    except (TypeError, RecursionError):  # a value not told apart by value
        return None


def _canonical(value: Any) -> Hashable:
    """A hashable image of ``value`` equal exactly for equal data of equal types (``1``, ``True``,
    ``1.0`` and ``Decimal(1)`` differ; a list and a tuple differ)."""
    if value is None or isinstance(value, str):
        return value
    kind = type(value)
    if kind in (bool, int, float, Decimal, dt.date, dt.datetime, dt.time, dt.timedelta):
        return (kind.__name__, repr(value))
    if isinstance(value, Mapping):
        return ("map", tuple(sorted(((repr(k), _canonical(v)) for k, v in value.items()), key=_first)))
    if kind in (list, tuple):
        return (kind.__name__, tuple(_canonical(v) for v in value))
    if kind in (set, frozenset):
        return (kind.__name__, tuple(sorted(repr(_canonical(v)) for v in value)))
    raise TypeError(kind.__name__)


def _first(pair: tuple[str, Any]) -> str:
    return pair[0]
