"""The figures docs/RELIABILITY.md opens with, taken from the test suite itself so they cannot go stale.

Called from ``tests/conftest.py`` at the end of collection: when a run collects every file of :data:`FILES`, it
counts their tests (PostgreSQL-only ones apart) and reads the sizes the tests declare — the matrix's
rows and identities, the hostile values, the kills, the racing clients, the generated examples — into
``test-artifacts/reliability-figures.json``. Counts come from collection only, never from timing or
pass/fail, so any run on any machine gives the same table.

``python -m tests.reliability`` collects those files (a few seconds, nothing runs) and prints the table;
``--write`` puts it between the markers in docs/RELIABILITY.md; ``--artifact PATH`` renders from a run's
artifact instead of collecting. ``tests/test_reliability_doc.py`` fails when the doc's block differs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "RELIABILITY.md"
ARTIFACT = ROOT / "test-artifacts" / "reliability-figures.json"
ARTIFACT_ENV = "ASSISTFLOW_RELIABILITY_FIGURES"
BEGIN = (
    "<!-- reliability-figures:begin (generated from the test suite by `python -m tests.reliability --write`;"
    " tests/test_reliability_doc.py fails when it is stale) -->"
)
END = "<!-- reliability-figures:end -->"

# The reliability and security tests the table counts, by file.
FILES = (
    "tests/api/test_authz_matrix.py",
    "tests/api/test_procedure_scope.py",
    "tests/api/test_hostile_input.py",
    "tests/api/test_schemathesis.py",
    "tests/engine/test_properties.py",
    "tests/api/test_load_and_faults.py",
    "tests/services/test_concurrency.py",
    "tests/api/test_conflict_retry.py",
    "tests/services/test_crash_safety.py",
    "tests/services/test_audit_chain.py",
    "tests/services/test_audit_signatures.py",
    "tests/services/test_audit_app_role.py",
    "tests/api/test_trust_auth.py",
    "tests/api/test_trust_sessions.py",
    "tests/services/test_personal_data.py",
    "tests/services/test_backup_restore.py",
    "tests/procedures/test_disbursement_idempotency.py",
)

# What each file's module declares that the table reports (module attribute names).
_CONSTANTS = {
    "tests/api/test_hostile_input.py": ("SQLISH", "OFF_SITE_NEXT", "ENCODED", "HOSTILE_TIMER_TEXTS"),
    "tests/services/test_crash_safety.py": ("SERVER_KILLS", "SCHEDULER_KILLS", "CASES"),
    "tests/api/test_load_and_faults.py": ("CLIENTS", "KILL_ROUNDS"),
    "tests/services/test_concurrency.py": ("CLAIM_RACERS", "PARALLEL_COMPLETIONS"),
    "tests/engine/test_properties.py": ("EXAMPLES",),
    "tests/api/test_schemathesis.py": ("MAX_EXAMPLES", "SKIPPED_OPERATIONS"),
}

_figures: dict[str, Any] | None = None  # what this session's collection gave, if it was complete


def _size(value: Any) -> Any:
    return value if isinstance(value, int) else len(value)


def gather(items: list[Any]) -> dict[str, Any] | None:
    """The figures from collected test items, or None when some file of :data:`FILES` was not collected."""
    by_file: dict[str, list[Any]] = {}
    for item in items:
        path = Path(str(item.path)).resolve().relative_to(ROOT).as_posix()
        if path in FILES:
            by_file.setdefault(path, []).append(item)
    if set(by_file) != set(FILES):
        return None
    files = {
        path: {
            "tests": len(found),
            "postgres_only": sum(1 for i in found if i.get_closest_marker("postgres_only")),
            "by_function": _by_function(found),
        }
        for path, found in by_file.items()
    }
    constants = {
        path: {name: _size(getattr(by_file[path][0].module, name)) for name in names}
        for path, names in _CONSTANTS.items()
    }
    properties = by_file["tests/engine/test_properties.py"]
    constants["tests/engine/test_properties.py"]["properties"] = sum(
        1 for i in properties if getattr(getattr(i, "function", None), "is_hypothesis_test", False)
    )
    return {
        "files": files,
        "constants": constants,
        "matrix": _matrix(by_file["tests/api/test_authz_matrix.py"]),
    }


def _by_function(items: list[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        name = getattr(item, "originalname", item.name)
        counts[name] = counts.get(name, 0) + 1
    return counts


def _matrix(items: list[Any]) -> dict[str, int]:
    module = items[0].module
    probes, staff = module.PROBES, module.STAFF
    return {
        "rows": len(probes),
        "api_rows": sum(1 for p in probes if not p.web),
        "web_rows": sum(1 for p in probes if p.web),
        "staff": len(staff),
        "roles": len({who.split("/")[0] for who in staff}),
        "answers": len(probes) * (len(staff) + 1),
        "successes": sum(1 for p in probes for who in staff if 200 <= p.expect[who] < 400),
        "outside": len(module.OUTSIDE),
        "masked": len(module.MASKED),
        "unmasked": len(module.UNMASKED),
    }


def _n(value: int) -> str:
    return f"{value:,}"


def _tested(figures: dict[str, Any], *paths: str) -> str:
    files = figures["files"]
    parts = []
    for path in paths:
        count, pg = files[path]["tests"], files[path]["postgres_only"]
        note = ", PostgreSQL only" if pg == count else (f", {pg} PostgreSQL-only" if pg else "")
        parts.append(f"`{path}` ({_n(count)} test{'s' if count != 1 else ''}{note})")
    return "; ".join(parts)


def rows(figures: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(figure, claim, result, how tested) for each row of the table."""
    files, const, m = figures["files"], figures["constants"], figures["matrix"]
    hostile = files["tests/api/test_hostile_input.py"]["by_function"]
    h = const["tests/api/test_hostile_input.py"]
    crash = const["tests/services/test_crash_safety.py"]
    load = const["tests/api/test_load_and_faults.py"]
    race = const["tests/services/test_concurrency.py"]
    props = const["tests/engine/test_properties.py"]
    fuzz = const["tests/api/test_schemathesis.py"]
    fuzz_modes = files["tests/api/test_schemathesis.py"]["by_function"][
        "test_api_never_errors_and_matches_its_schema"
    ]
    total = sum(f["tests"] for f in files.values())
    pg_only = sum(f["postgres_only"] for f in files.values())
    return [
        (
            "reliability and security tests",
            "each figure below is asserted by tests that fail when it does not hold; CI runs them on "
            "SQLite and on PostgreSQL",
            f"{_n(total)} tests in {len(files)} files, {_n(pg_only)} of them PostgreSQL-only (they skip "
            "on SQLite and say why)",
            "the files named in this table",
        ),
        (
            "authorization matrix",
            "every REST operation and web route answers each identity as the matrix says — a success "
            "where it allows, the refusal otherwise — and nothing of a case reaches anyone outside its "
            "scope (lists, filters, counts, exports, pages, error messages)",
            f"{_n(m['rows'])} rows ({_n(m['api_rows'])} REST, {_n(m['web_rows'])} web) × "
            f"{m['staff']} staff identities covering all {m['roles']} roles, plus anonymous: "
            f"{_n(m['answers'])} answers checked, {_n(m['successes'])} of them a success (undone after); "
            f"lists and exports for the {m['outside']} identities outside the case's scope; ID numbers "
            f"masked for {m['masked']} identities and revealed to {m['unmasked']}",
            _tested(figures, "tests/api/test_authz_matrix.py", "tests/api/test_procedure_scope.py"),
        ),
        (
            "hostile input through the API",
            "every hostile request is a 4xx in the error shape, never a 500; nothing leaks, nothing is stored",
            f"{h['SQLISH']} SQL-looking values in every query parameter and path key of every list and "
            f"read, {hostile['test_malformed_json_is_400_everywhere']} malformed JSON bodies, "
            f"{hostile['test_xxe_and_billion_laughs_are_refused_and_nothing_is_stored']} XXE / "
            f"billion-laughs uploads, {h['OFF_SITE_NEXT']} off-site `next=` values, "
            f"{h['HOSTILE_TIMER_TEXTS']} hostile timer texts, "
            f"{hostile['test_hostile_bpmn_deploys_are_refused_naming_element_and_line']} hostile BPMN "
            f"models, {h['ENCODED']} non-UTF-8 BPMN files, oversized and deeply nested bodies",
            _tested(figures, "tests/api/test_hostile_input.py"),
        ),
        (
            "OpenAPI fuzzing (schemathesis)",
            "no generated request is a server error; every answer matches the OpenAPI document",
            f"{fuzz['MAX_EXAMPLES']} generated requests per operation in each of {fuzz_modes} modes "
            f"(positive, negative) over every operation but {fuzz['SKIPPED_OPERATIONS']} (the token "
            "revocation would log the fuzzer out)",
            _tested(figures, "tests/api/test_schemathesis.py"),
        ),
        (
            "property-based inputs (hypothesis)",
            "generated expressions, text, scripts and form submissions never crash the evaluator or the "
            "validation and never reach outside the sandbox",
            f"{props['properties']} properties × {props['EXAMPLES']} examples per run",
            _tested(figures, "tests/engine/test_properties.py"),
        ),
        (
            "database connections killed under load",
            "a killed connection answers 503 with `Retry-After`; retried completions apply exactly once; "
            "disbursements add up",
            f"{load['CLIENTS']} clients work cases while connections are killed for at least "
            f"{load['KILL_ROUNDS']} rounds; the test asserts that connections were killed and that "
            "clients saw 503s",
            _tested(figures, "tests/api/test_load_and_faults.py"),
        ),
        (
            "races",
            "one claim wins, the others get 409; no concurrent completion is lost; a request or timer "
            "wake-up the database ends to break a deadlock runs again and is written once",
            f"{race['CLAIM_RACERS']} clients claim one task at once: 1 wins, "
            f"{race['CLAIM_RACERS'] - 1} get 409; {race['PARALLEL_COMPLETIONS']} clients complete the "
            f"{race['PARALLEL_COMPLETIONS']} parallel tasks of one case at once: all applied, the join fires; "
            "two cases messaging each other, completed at once (or one woken by the scheduler) while each "
            "holds its own row: both go through, each message received once; attempts run out: 409, "
            "nothing written",
            _tested(figures, "tests/services/test_concurrency.py", "tests/api/test_conflict_retry.py"),
        ),
        (
            "web server and scheduler SIGKILLed",
            "no completion lost or applied twice, one payment per approval, each due timer fired exactly "
            "once, all-or-nothing at every kill; the audit chain verifies",
            f"gunicorn (master and workers) SIGKILLed {crash['SERVER_KILLS']} times while {crash['CASES']} "
            f"cases (more if the machine is fast) are worked to payment; `assistflow scheduler` SIGKILLed "
            f"{crash['SCHEDULER_KILLS']} times while draining due timers",
            _tested(figures, "tests/services/test_crash_safety.py"),
        ),
        (
            "audit log",
            "a changed, removed, inserted or replayed event, a rewritten chain or a cut tail fails "
            "`assistflow audit verify`; concurrent writers never fork the chain; the app's database role "
            "cannot change audit rows",
            "tamper cases, concurrent writers and sealers, signatures, checkpoints and the non-owner role",
            _tested(
                figures,
                "tests/services/test_audit_chain.py",
                "tests/services/test_audit_signatures.py",
                "tests/services/test_audit_app_role.py",
            ),
        ),
        (
            "login, sessions and personal data",
            "one audited lockout for web and API, sessions revoked server-side; no ID or phone number in "
            "clear in any table; backups restore to a verifying copy; a payment is recorded once per approval",
            "lockout and session cases, an all-tables scan for personal numbers, backup and restore on the "
            "suite's database, a lost answer retried with its `Idempotency-Key`",
            _tested(
                figures,
                "tests/api/test_trust_auth.py",
                "tests/api/test_trust_sessions.py",
                "tests/services/test_personal_data.py",
                "tests/services/test_backup_restore.py",
                "tests/procedures/test_disbursement_idempotency.py",
            ),
        ),
    ]


def render(figures: dict[str, Any]) -> str:
    lines = [BEGIN, "| figure | claim | result | how tested |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows(figures)]
    return "\n".join([*lines, END])


def block_of(doc: str) -> str | None:
    """The generated block in ``doc`` (markers included), or None when the markers are missing."""
    start, end = doc.find(BEGIN.split(" (")[0]), doc.find(END)
    if start < 0 or end < start:
        return None
    return doc[start : end + len(END)]


def replace_block(doc: str, block: str) -> str:
    current = block_of(doc)
    if current is None:
        raise ValueError(f"no generated block ({BEGIN.split(' (')[0]} … {END})")
    return doc.replace(current, block, 1)


def collect() -> dict[str, Any]:
    """Collect :data:`FILES` in a fresh pytest (nothing runs) and return the figures it wrote."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "figures.json"
        env = {**os.environ, ARTIFACT_ENV: str(out)}
        command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *FILES]
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        if not out.exists():
            raise RuntimeError(f"collection wrote no figures:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return json.loads(out.read_text(encoding="utf-8"))


def current() -> dict[str, Any]:
    """This session's figures if its collection held every file, else a fresh collection's."""
    return _figures if _figures is not None else collect()


def on_collected(items: list[Any]) -> None:
    """Called by ``tests/conftest.py`` once collection is done (before any ``-k``/``-m`` deselection):
    keep and write the figures when this session collected every file of :data:`FILES`."""
    global _figures
    figures = gather(items)
    if figures is None:
        return
    _figures = figures
    out = Path(os.environ.get(ARTIFACT_ENV) or ARTIFACT)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=1, sort_keys=True), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability", description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help="rewrite the block in docs/RELIABILITY.md")
    parser.add_argument("--artifact", type=Path, help="render from this run's figures instead of collecting")
    args = parser.parse_args(argv)
    figures = json.loads(args.artifact.read_text(encoding="utf-8")) if args.artifact else collect()
    block = render(figures)
    if args.write:
        DOC.write_text(replace_block(DOC.read_text(encoding="utf-8"), block), encoding="utf-8")
        print(f"{DOC.relative_to(ROOT)}: figures block written")
    else:
        print(block)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
