"""The suite's own layout: no test module imports another test module.

What several modules share (case builders, the browser fixtures, assertion helpers) lives in helper
modules — ``tests/helpers.py``, ``tests/procedures/helpers.py``, ``tests/web/helpers.py``,
``tests/web/browser.py`` … — so running, moving or deleting one test file never changes another.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _is_test_module(dotted: str) -> bool:
    return dotted.split(".")[-1].startswith("test_")


def imported_test_modules(source: str) -> list[str]:
    """The test modules (``test_*``) that ``source`` imports, anywhere in it (also inside functions)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if _is_test_module(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if _is_test_module(node.module):
                found.append(node.module)
            else:  # ``from tests.api import test_api``
                found += [f"{node.module}.{a.name}" for a in node.names if _is_test_module(a.name)]
    return found


def test_the_check_sees_each_form_of_import():
    source = (
        "from tests.api.test_api import assert_error\n"
        "import tests.web.test_pages\n"
        "from tests.procedures import test_twinning\n"
        "def f():\n    from tests.services.test_tasks import x\n"
        "from tests.helpers import assert_error\n"
        "from tests.procedures.helpers import Case\n"
    )
    assert imported_test_modules(source) == [
        "tests.api.test_api",
        "tests.web.test_pages",
        "tests.procedures.test_twinning",
        "tests.services.test_tasks",
    ]


def test_no_test_module_imports_another():
    offenders = {
        str(path.relative_to(TESTS.parent)): imported
        for path in sorted(TESTS.rglob("*.py"))
        if (imported := imported_test_modules(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}, (
        f"test modules import other test modules; move what they share into a helpers module: {offenders}"
    )


def test_no_migration_imports_live_engine_code():
    """A migration carries what it needs (frozen copies): importing engine/ or api/ would change what an old
    revision writes whenever the engine changes."""
    offenders = {}
    for path in sorted((TESTS.parent / "migrations" / "versions").glob("*.py")):
        imported = [
            name
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            for name in (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if name.split(".")[0] in ("engine", "api")
        ]
        if imported:
            offenders[path.name] = imported
    assert offenders == {}
