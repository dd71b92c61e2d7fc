"""The garbage collector of a web worker, tuned once the app is loaded (issue 20: logins and pauses
must not delay task completions).

A worker holds a few hundred thousand long-lived objects after start-up (the parsed procedure specs,
SQLAlchemy's mappers, the forms, Flask's routing). CPython's full (generation 2) collection walks all
of them: measured under bench/login_storm.py, each took 125–180 ms, stopping every thread of the worker,
a dozen times in 80 s — the largest part of the completions' p99 when nothing else was wrong. After
start-up the worker moves what it holds into the permanent generation (:func:`gc.freeze`: never walked
again) and collects the young generation less often (a threshold of 10,000 new objects instead of
700), so that a request's own garbage is collected in one pause of a few milliseconds; a full
collection then walks only what was made since start-up (measured ≤ 20 ms).

``ASSISTFLOW_GC_FREEZE`` (default on; ``0`` leaves the collector as CPython sets it) and
``ASSISTFLOW_GC_THRESHOLDS`` (default ``10000,20,50``: generation 0, 1, 2) configure it.
"""

from __future__ import annotations

import gc
import os

DEFAULT_THRESHOLDS = (10_000, 20, 50)


class GcSettingError(ValueError):
    """``ASSISTFLOW_GC_THRESHOLDS`` is not three positive integers."""


def thresholds_from(text: str | None) -> tuple[int, int, int]:
    if not text:
        return DEFAULT_THRESHOLDS
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or min(values) <= 0:
        raise GcSettingError(
            f"ASSISTFLOW_GC_THRESHOLDS must be three positive integers such as 10000,20,50, not {text!r}"
        )
    return values[0], values[1], values[2]


def tune(environ: os._Environ[str] | dict[str, str] | None = None) -> tuple[int, int, int] | None:
    """Freeze what the loaded app holds and set the thresholds; the thresholds set (``None``: off)."""
    env = os.environ if environ is None else environ
    if env.get("ASSISTFLOW_GC_FREEZE", "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    thresholds = thresholds_from(env.get("ASSISTFLOW_GC_THRESHOLDS"))
    gc.collect()  # what start-up left as garbage is not frozen with the rest
    gc.freeze()
    gc.set_threshold(*thresholds)
    return thresholds
