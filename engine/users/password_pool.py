"""Password checks in a small pool of separate processes at low CPU priority.

argon2 is made to be slow: a check takes a whole core for tens of milliseconds. Run in the web worker,
a burst of logins takes the cores from task completions at the same priority. Here each check runs in
one of ``processes`` processes started with a lower priority (``os.nice``), so the kernel runs the web
workers' requests first and gives the logins the CPU time left over; the web thread waits for the answer
without using a core. The caller bounds how many checks wait at once (api/security.py PasswordSlots),
so a storm is answered "busy" at once instead of queueing without end.

Processes are started fresh ("spawn": nothing of the parent is copied, safe from a threaded server)
and lazily, at the first check of each web worker process.
"""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool

from engine import errors
from engine.users import password_check


@errors.family(errors.Unavailable)
class PasswordPoolBusy(RuntimeError):
    """The check did not finish in time, or its process died: the login is answered "busy"."""


class PasswordPool:
    def __init__(
        self, processes: int, niceness: int | str, timeout: float, cpus: frozenset[int] | None = None
    ):
        self.processes, self.niceness, self.timeout, self.cpus = processes, niceness, timeout, cpus
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    max_workers=self.processes,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=password_check.lower_priority,
                    initargs=(self.niceness, self.cpus),
                )
            return self._executor

    def check(self, stored: str, password: str, params: tuple[int, int, int]) -> tuple[bool, str | None]:
        pool = self._pool()
        try:
            future = pool.submit(password_check.check, stored, password, params)
            return future.result(timeout=self.timeout)
        except FutureTimeout:
            future.cancel()
            raise PasswordPoolBusy("password check timed out") from None
        except BrokenProcessPool:
            with self._lock:
                if self._executor is pool:
                    self._executor = None
            pool.shutdown(wait=False, cancel_futures=True)
            raise PasswordPoolBusy("password check process died") from None

    def warm(self) -> None:
        """Start the processes now (a check of a throw-away hash), not at the first login."""
        params = (1, 8, 1)
        self.check(password_check.hasher(params).hash("warm-up"), "warm-up", params)

    def shutdown(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
