"""The form definitions available to the engine, loaded from the ``forms/`` directory."""

from __future__ import annotations

import threading
from pathlib import Path

from engine.forms import FormDefinition, load_forms_dir

DEFAULT_FORMS_DIR = Path(__file__).resolve().parent.parent / "forms"

_lock = threading.Lock()
_forms: dict[str, FormDefinition] | None = None
_dir: Path = DEFAULT_FORMS_DIR


def configure(forms_dir: str | Path) -> None:
    global _forms, _dir
    with _lock:
        _dir = Path(forms_dir)
        _forms = None


def all_forms() -> dict[str, FormDefinition]:
    global _forms
    with _lock:
        if _forms is None:
            _forms = load_forms_dir(_dir)
        return _forms


def get(key: str) -> FormDefinition | None:
    return all_forms().get(key)


def exists(key: str) -> bool:
    return key in all_forms()
