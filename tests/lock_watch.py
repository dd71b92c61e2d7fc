"""Writing another case while an operation evaluates, refusing to wait for any lock (issue 18 item 10).

Shared by the tests that show user expressions are never evaluated while holding the database's write
lock: at an evaluation, another case's task is claimed or unclaimed by a session whose busy timeout is
0 (SQLite) or whose lock timeout is 1 ms (PostgreSQL), and committed at once. If the operation under
test held the write lock, that write is refused ("database is locked") and the refusal is kept, with
where it happened.
"""

from __future__ import annotations

import threading
import traceback
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.tasks import service as tasks
from tests.conftest import IS_POSTGRES, get_user


def impatient(engine: Any) -> Session:
    """A session that refuses at once instead of waiting for a lock another transaction holds."""
    s = Session(engine, expire_on_commit=False)
    if IS_POSTGRES:
        s.execute(text("SET LOCAL lock_timeout = '1ms'"))
    else:
        s.connection().exec_driver_sql("PRAGMA busy_timeout = 0")
    return s


def restore(s: Session) -> None:
    if not IS_POSTGRES:
        s.connection().exec_driver_sql("PRAGMA busy_timeout = 30000")
    s.close()


class OtherCaseWriter:
    """Claims, then unclaims, ``other_task`` (of another case) at each :meth:`write`, as ``pt_officer2``,
    at once; ``writes`` counts the committed writes, ``refused`` lists the refused ones with where."""

    def __init__(self, engine: Any, other_task: int, thread: str) -> None:
        self.engine, self.other_task, self.thread = engine, other_task, thread
        self.writes, self.refused, self.busy = 0, [], False

    def __call__(self) -> None:
        """:meth:`write`, when called on the operation's thread (named ``thread``), not from a write."""
        if threading.current_thread().name != self.thread or self.busy:
            return
        self.busy = True
        try:
            self.write()
        finally:
            self.busy = False

    def write(self) -> None:
        writer = impatient(self.engine)
        try:
            user = get_user(writer, "pt_officer2")
            (tasks.claim if self.writes % 2 == 0 else tasks.unclaim)(writer, user, self.other_task)
            writer.commit()
            self.writes += 1
        except Exception as err:  # "database is locked": kept for the assertion
            writer.rollback()
            where = [f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno}" for f in traceback.extract_stack()]
            self.refused.append(f"{type(err).__name__} at {' < '.join(reversed(where[-14:-2]))}")
        finally:
            restore(writer)
