"""Stepping a case on SQLite without holding the database's write lock (issue 18 item 10).

On PostgreSQL the per-instance lock is a row lock (``SELECT … FOR UPDATE``): it blocks only that
instance, and a step may evaluate user expressions (gateway conditions, scripts, timer texts) while
holding it. On SQLite any write takes the one write lock of the whole database, so a step that
evaluated expressions after taking the lock blocked every writer of every case for as long as the
evaluation ran. Here, on SQLite, the lock of a *stepping* operation (completing a task, retrying an
incident, the scheduler firing timers) is deferred:

1. ``lock(..., deferred=True)`` reads the instance row with a plain ``SELECT`` (no write lock; SQLite's
   WAL lets readers and the one writer go on together) and notes the version it read;
2. the operation loads the workflow and steps it in memory — every expression is evaluated here;
3. just before the transaction's first write (the first flush, or any INSERT / UPDATE / DELETE sent
   on the connection) the write lock is taken by ``UPDATE process_instance SET version = version
   WHERE id = ? AND version = ?``; the instance is then marked changed, so the transaction's flush
   raises its version by one;
4. if the row's version moved meanwhile (another transaction changed the case between the read and the
   write: SQLite's lock statement and every step raise the version), :class:`StaleStep` is raised
   before anything was written, and :func:`retrying` runs the whole operation again from a fresh read
   (up to ``MAX_ATTEMPTS``; after that a 409 asks the user to try again).

Every lock of an instance on SQLite raises its version (``engine.instances.service.lock``), so any
change made under an instance's lock between the read and the write is seen. Changes to one case
stay serial; one transaction per request, audit, incidents and step limits are unchanged (the
operation is the same code, run again). A lock is deferred only when the transaction has written
nothing yet (else the write lock is held already and the lock is taken at once as before).

A row other than a case's (a start schedule the scheduler claims) is guarded the same way by
:func:`guard`: a guarded ``UPDATE`` that must change one row runs just before the first write instead
of at once, and :class:`StaleStep` is raised when it changes none.
"""

from __future__ import annotations

import functools
import sqlite3
import weakref
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import event, func, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, lazyload, undefer
from sqlalchemy.orm.attributes import flag_modified

from engine.errors import Conflict, NotFound, ServiceError
from engine.instances.models import ProcessInstance, case_missing

MAX_ATTEMPTS = 5
_KEY = "assistflow_deferred_instance_locks"  # in the pooled connection's ``info``: id -> (version, ref)
_GUARDS = "assistflow_deferred_guards"  # in the connection's ``info``: [(UPDATE statement, parameters)]
_CHECKS = "assistflow_deferred_checks"  # in the connection's ``info``: [(SELECT statement, parameters)]
_NEXT_ID = "assistflow_reserved_instance_id"  # in the connection's ``info``: the next id to reserve
_LATER = "assistflow_deferred_writes"  # in the connection's ``info``: [write to do before the step's save]
_AHEAD = "assistflow_worked_out_ahead"  # in the connection's ``info``: results worked out before the lock
_WRITES = ("insert", "update", "delete", "replace")

P = ParamSpec("P")
R = TypeVar("R")


class StaleStep(Conflict):
    """The case changed between the step's read and its write (nothing was written)."""

    def __init__(self, instance_id: int | None):
        super().__init__(
            "案件刚被他人修改，请刷新后重试 / the case was changed by someone else meanwhile; "
            "reload and try again"
        )
        self.instance_id = instance_id


def _raw(session: Session) -> Any:
    return session.connection().connection.dbapi_connection


def can_defer(session: Session) -> bool:
    """SQLite, and this transaction has written nothing yet (anything pending is flushed first)."""
    if session.get_bind().dialect.name != "sqlite":
        return False
    session.flush()
    return not _raw(session).in_transaction


@functools.cache
def _read_statement(target: Any) -> Any:
    """The instance's read by :func:`lock`, built once per target (as engine.instances.service's lock)."""
    return (
        select(ProcessInstance)
        .where(ProcessInstance.id == target)
        .options(lazyload("*"), undefer(ProcessInstance.state))
        .execution_options(populate_existing=True)
    )


def lock(session: Session, key: int, target: Any) -> ProcessInstance:
    """Read the instance named by ``target`` (bound parameter ``lock_key`` = ``key``) without a write
    lock; the lock is taken, and the version checked, before the transaction's first write."""
    _install(session.get_bind())
    instance = session.scalars(_read_statement(target), {"lock_key": key}).one_or_none()
    if instance is None:
        raise NotFound(case_missing(key))
    pending = session.connection().info.setdefault(_KEY, {})
    pending[instance.id] = (instance.version, weakref.ref(instance))
    return instance


def guard(session: Session, statement: str, params: tuple[Any, ...]) -> None:
    """Run ``statement`` (a no-op ``UPDATE`` of one row with the condition that it is unchanged, SQLite
    parameters) just before the transaction's first write instead of now; :class:`StaleStep` then if it
    changes no row. Only when :func:`can_defer` says so (the caller asks)."""
    _install(session.get_bind())
    session.connection().info.setdefault(_GUARDS, []).append((statement, params))


def deferring(session: Session) -> bool:
    """SQLite, inside a stepping operation whose lock is still deferred and that has written nothing: a
    write now would take the database's write lock (a rule of the step that starts cases asks, so as to
    work them out first and write them with the step: :func:`later`)."""
    if session.get_bind().dialect.name != "sqlite":
        return False
    connection = session.connection()
    return bool(connection.info.get(_KEY)) and not _raw(session).in_transaction


def check(session: Session, statement: str, params: tuple[Any, ...]) -> None:
    """Run ``statement`` (a SELECT of one value, SQLite parameters) once the deferred locks are taken;
    :class:`StaleStep` (the operation runs again) unless its value is true. Only while
    :func:`deferring`."""
    session.connection().info.setdefault(_CHECKS, []).append((statement, params))


def later(session: Session, write: Callable[[], Any]) -> None:
    """Keep a write worked out while :func:`deferring` (a new case) for :func:`write_later`."""
    session.connection().info.setdefault(_LATER, []).append(write)


def reserve_instance_id(session: Session) -> int:
    """An id for a case to be inserted by a write kept for :func:`write_later` (while :func:`deferring`):
    the next after the largest in the table (what SQLite would give), checked once the lock is taken."""
    info = session.connection().info
    reserved = info.get(_NEXT_ID)
    if reserved is None:
        with session.no_autoflush:
            top = session.scalar(select(func.max(ProcessInstance.id))) or 0
        reserved = int(top) + 1
        check(session, "SELECT coalesce(max(id), 0) < ? FROM process_instance", (reserved,))
    info[_NEXT_ID] = reserved + 1
    return int(reserved)


def soon(session: Session, write: Callable[[], Any]) -> None:
    """``write()`` now, or while :func:`deferring` keep it for :func:`write_later` (a rule's write whose
    result the step does not need: it is written with the step, after the step was worked out)."""
    if deferring(session):
        later(session, write)
    else:
        write()


def ahead(session: Session) -> dict[Any, Any]:
    """Results worked out while :func:`deferring` for writes that come after the step's first write (the
    deliveries to waiting cases: engine.messages.ahead); forgotten at commit, rollback and refusal."""
    info: dict[Any, Any] = session.connection().info.setdefault(_AHEAD, {})
    return info


def has_later(session: Session) -> bool:
    """Are writes kept by :func:`later` waiting?"""
    return session.get_bind().dialect.name == "sqlite" and bool(session.connection().info.get(_LATER))


def write_later(session: Session) -> None:
    """Do the writes kept by :func:`later`, in order (the first takes the deferred locks)."""
    if session.get_bind().dialect.name != "sqlite":
        return
    info = session.connection().info
    while info.get(_LATER):
        info[_LATER].pop(0)()


def _deferred(info: dict[str, Any]) -> bool:
    return bool(info.get(_KEY) or info.get(_GUARDS) or info.get(_CHECKS))


def _first_write(raw: Any, statement: str, params: tuple[Any, ...]) -> Any:
    """The transaction's first write. SQLite (WAL) refuses it at once ("database is locked", without
    waiting) when another writer committed after this transaction's reads began — its snapshot is
    stale: the case may have changed, so the operation runs again from a fresh read (nothing is
    written yet), as when a version check fails."""
    try:
        return raw.execute(statement, params)
    except sqlite3.OperationalError as err:
        if err.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):  # (extended codes)
            raise StaleStep(None) from err
        raise


def _acquire(info: dict[str, Any], raw: Any) -> None:
    """Take the write lock for every deferred instance of this connection and check its version."""
    for statement, params in info.pop(_GUARDS, None) or ():
        if _first_write(raw, statement, params).rowcount != 1:
            info.pop(_KEY, None)
            raise StaleStep(None)
    pending = info.pop(_KEY, None) or {}
    for instance_id, (version, ref) in sorted(pending.items()):
        cursor = _first_write(
            raw,
            "UPDATE process_instance SET version = version WHERE id = ? AND version = ?",
            (instance_id, version),
        )
        if cursor.rowcount != 1:
            info.pop(_CHECKS, None)
            raise StaleStep(instance_id)
        instance = ref()
        if instance is not None:  # the transaction raises the version once: others see the change
            flag_modified(instance, "status")
    for statement, params in info.pop(_CHECKS, None) or ():  # the write lock is held now
        found = raw.execute(statement, params).fetchone()
        if not found or not found[0]:
            raise StaleStep(None)


def settle(session: Session) -> None:
    """Flush and take any lock still deferred (an operation that wrote nothing still holds its locks
    for the rest of the transaction, as an immediate lock would)."""
    if session.get_bind().dialect.name != "sqlite":
        return
    session.flush()
    info = session.connection().info
    write_later(session)  # (a step's own writes come first; these are a safety net)
    if _deferred(info):
        _acquire(info, _raw(session))
        session.flush()


def retrying(fn: Callable[P, R]) -> Callable[P, R]:
    """Run a stepping operation ``fn(session, …)``; when its deferred lock finds the case changed,
    roll back (nothing was written: a deferred lock implies an empty transaction) and run it again."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        session: Any = args[0]  # a Session (or a scoped_session standing for one)
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                try:
                    result = fn(*args, **kwargs)
                except ServiceError as err:
                    if getattr(err, "commit", False) and not isinstance(err, StaleStep):
                        settle(session)  # what it reports is kept: its locks must hold
                    else:
                        _discard(session)
                    raise
                except Exception:
                    _discard(session)
                    raise
                settle(session)
                return result
            except StaleStep:
                session.rollback()
                if attempt == MAX_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    return wrapper


def _discard(session: Any) -> None:
    """A refused operation: the writes it kept for later never happen, even if the caller goes on in
    the same transaction without rolling back (the refusal wrote nothing of them)."""
    if session.get_bind().dialect.name != "sqlite" or not session.in_transaction():
        return
    info = session.connection().info
    for key in (_LATER, _NEXT_ID, _CHECKS, _AHEAD):
        info.pop(key, None)


# --- the hooks -----------------------------------------------------------------------------------------


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    bind = session.get_bind()
    if bind.dialect.name != "sqlite":
        return
    connection = session.connection()
    if _deferred(connection.info):
        _acquire(connection.info, connection.connection.dbapi_connection)


def _before_cursor_execute(
    conn: Connection, _cursor: Any, statement: str, _params: Any, _context: Any, _many: bool
) -> None:
    if _deferred(conn.info) and statement.lstrip()[:7].lower().startswith(_WRITES):
        _acquire(conn.info, conn.connection.dbapi_connection)


def _forget(conn: Connection) -> None:
    for key in (_KEY, _GUARDS, _CHECKS, _LATER, _NEXT_ID, _AHEAD):
        conn.info.pop(key, None)


def _forget_record(_dbapi: Any, record: Any) -> None:
    for key in (_KEY, _GUARDS, _CHECKS, _LATER, _NEXT_ID, _AHEAD):
        record.info.pop(key, None)


def _install(engine: Any) -> None:
    if not isinstance(engine, Engine):
        engine = getattr(engine, "engine", engine)
    if not event.contains(engine, "before_cursor_execute", _before_cursor_execute):
        event.listen(engine, "before_cursor_execute", _before_cursor_execute)
        event.listen(engine, "commit", _forget)
        event.listen(engine, "rollback", _forget)
        event.listen(engine, "checkin", _forget_record)
    if not event.contains(Session, "before_flush", _before_flush):
        event.listen(Session, "before_flush", _before_flush)
