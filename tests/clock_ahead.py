"""The suite on a later date: ``ASSISTFLOW_TEST_CLOCK_AHEAD_DAYS=N`` moves the wall clock N days ahead.

The test session travels there with time-machine (ticking) as soon as ``tests/conftest.py`` is
imported; a test's own ``time_machine.travel(...)`` still takes it to the moment it names, and back to
the shifted clock afterwards. Processes the tests start (gunicorn, ``assistflow scheduler``) shift the
same way when started through :func:`python` (``python -m tests.clock_ahead …``), which applies the
offset and then runs the module (``-m``) or code (``-c``) given, like the interpreter would. Monotonic
clocks are left alone. (Debian's libfaketime 0.9.10 cannot do this: with the monotonic clock faked,
Python's timed lock waits hang; without, ``time.sleep`` fails with EINVAL.)
"""

from __future__ import annotations

import datetime as dt
import os
import runpy
import sys

import time_machine

ENV = "ASSISTFLOW_TEST_CLOCK_AHEAD_DAYS"
_travel: time_machine.travel | None = None


def days() -> int:
    return int(os.environ.get(ENV) or 0)


def start() -> None:
    """Move this process's wall clock ``days()`` ahead (once; nothing when unset)."""
    global _travel
    if days() and _travel is None:
        _travel = time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(days=days()), tick=True)
        _travel.start()


def python(*args: str) -> list[str]:
    """The command line of ``python *args`` that keeps the shifted clock in the child process."""
    return [sys.executable, "-m", "tests.clock_ahead", *args] if days() else [sys.executable, *args]


def _main(argv: list[str]) -> None:
    start()
    kind, target, *rest = argv
    if kind == "-m":
        sys.argv = [target, *rest]
        runpy.run_module(target, run_name="__main__", alter_sys=True)
    elif kind == "-c":
        sys.argv = ["-c", *rest]
        exec(compile(target, "<string>", "exec"), {"__name__": "__main__"})  # noqa: S102 (our own command)
    else:
        raise SystemExit(f"usage: python -m tests.clock_ahead (-m module | -c code) [args …], not {kind}")


if __name__ == "__main__":
    _main(sys.argv[1:])
