"""One argon2id password check, as a function a separate process can run (engine/users/password_pool.py):
it imports nothing but argon2, so a process started fresh to run it starts quickly."""

from __future__ import annotations

import os

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHERS: dict[tuple[int, int, int], PasswordHasher] = {}


def hasher(params: tuple[int, int, int]) -> PasswordHasher:
    found = _HASHERS.get(params)
    if found is None:
        found = _HASHERS[params] = PasswordHasher(*params)
    return found


def check(stored: str, password: str, params: tuple[int, int, int]) -> tuple[bool, str | None]:
    """Whether ``password`` matches ``stored``; on a match, a new hash when ``stored`` was made with
    other parameters than ``params`` (time cost, memory KiB, parallelism), else None."""
    chosen = hasher(params)
    try:
        chosen.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False, None
    return True, (chosen.hash(password) if chosen.check_needs_rehash(stored) else None)


def lower_priority(niceness: int | str, cpus: frozenset[int] | None = None) -> None:
    """The pool's processes start with a lower CPU priority: ``os.nice(niceness)``, or with ``"idle"``
    the kernel's idle class (``SCHED_IDLE``: they run only on CPU time nothing else wants). While the
    web workers have work, the kernel gives them the cores first; logins get what is left. With
    ``cpus`` they run on those cores only (every web process's pool on the same ones: argon2, being
    memory-hard, also takes memory bandwidth and cache from whatever shares its cores)."""
    if niceness == "idle":
        os.nice(19)
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    elif isinstance(niceness, int) and niceness > 0:
        os.nice(niceness)
    if cpus:
        usable = set(cpus) & os.sched_getaffinity(0)
        if usable:
            os.sched_setaffinity(0, usable)
