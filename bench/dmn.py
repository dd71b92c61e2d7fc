"""DMN inside a completion: a completion whose next step is a business-rule task (a decision table)
against the same completion with an equivalent script task, on the same database.

Each variant is the fixture procedure ``tests/fixtures/decisions/dmn_demo.bpmn`` (application → decide
level → review): "dmn" as shipped, its ``decide_level`` evaluating ``dmn_demo_level`` (four rules with
ranges, lists and ``not(...)``); "script" with that task replaced by a script task computing the same two
outputs. A case is started per completion (not timed) and the completion of ``application`` — lock,
load, form validation, run, the decision or the script, engine steps, save, projection, audit, commit —
is timed; variants interleaved. Prints the median per completion and the ratio dmn / script (goal ≤ 1.10×).

Usage: .venv/bin/python bench/dmn.py [completions per variant]   (SQLite; default 60)
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import common  # noqa: E402,F401  (data keys for the throw-away database)

N = int(sys.argv[1]) if len(sys.argv) > 1 else 60
FIXTURES = ROOT / "tests" / "fixtures" / "decisions"
STREET = "310107014"
APPLICATION = {
    "household_size": 3,
    "hardship_category": "dibao_edge",
    "aid_types": ["money"],
    "amount_requested": "6000.50",
    "reason": "基准测试用例",
    "credit_commitment_signed": True,
}
SCRIPT = (
    "review_level = 'street' if amount_requested &lt;= 5000 or (amount_requested &lt;= 20000 and "
    "hardship_category in ['dibao', 'dibao_edge']) else 'district'\n"
    "level_cap = 5000 if amount_requested &lt;= 5000 else (20000 if amount_requested &lt;= 20000 else None)"
)


def script_variant() -> bytes:
    xml = (FIXTURES / "dmn_demo.bpmn").read_text(encoding="utf-8")
    start = xml.index('<bpmn:businessRuleTask id="decide_level"')
    end = xml.index("</bpmn:businessRuleTask>") + len("</bpmn:businessRuleTask>")
    task = (
        '<bpmn:scriptTask id="decide_level" name="判定审批层级"><bpmn:incoming>f2</bpmn:incoming>'
        f"<bpmn:outgoing>f3</bpmn:outgoing><bpmn:script>{SCRIPT}</bpmn:script></bpmn:scriptTask>"
    )
    xml = xml[:start] + task + xml[end:]
    return xml.replace('id="dmn_demo"', 'id="dmn_demo_script"').encode("utf-8")


def main() -> None:
    from flask_migrate import upgrade
    from sqlalchemy.orm import Session

    from api import create_app
    from api.extensions import db
    from engine.decisions import service as decisions
    from engine.definitions import service as definitions
    from engine.instances import service as instances
    from engine.orgs import service as orgs
    from engine.tasks import service as tasks
    from engine.users import service as users

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.db"})
        with app.app_context():
            upgrade()
            engine = db.engine
        with Session(engine, expire_on_commit=False) as s:
            orgs.load_reference(s)
            decisions.deploy(s, (FIXTURES / "dmn_demo_level.dmn").read_bytes(), source="bench")
            definitions.deploy(s, (FIXTURES / "dmn_demo.bpmn").read_bytes(), source="bench")
            definitions.deploy(s, script_variant(), source="bench")
            users.create_user(
                s, "bench", "bench-password", grants=[("advisor", STREET), ("street_officer", STREET)]
            )
            s.commit()
            user = users.by_username(s, "bench")
            times: dict[str, list[float]] = {"dmn": [], "script": []}
            levels: dict[str, set[str]] = {"dmn": set(), "script": set()}
            keys = {"dmn": "dmn_demo", "script": "dmn_demo_script"}
            for i in range(N + 5):
                for variant in ("dmn", "script") if i % 2 == 0 else ("script", "dmn"):
                    instance = instances.start(s, user, keys[variant], STREET)
                    s.commit()
                    row = next(t for t in tasks.open_tasks_of(s, instance.id) if t.bpmn_id == "application")
                    t0 = time.perf_counter()
                    tasks.complete(s, user, row.id, APPLICATION)
                    s.commit()
                    elapsed = time.perf_counter() - t0
                    if i >= 5:  # warm-up left out
                        times[variant].append(elapsed)
                    levels[variant].add(str(s.get(type(instance), instance.id).data.get("review_level")))
            engine.dispose()
    assert levels["dmn"] == levels["script"] == {"street"}, levels  # the two variants decide alike
    dmn_ms = statistics.median(times["dmn"]) * 1000
    script_ms = statistics.median(times["script"]) * 1000
    print(f"completions per variant: {N} (SQLite, medians; a busy machine adds noise)")
    print(f"with a script task      : {script_ms:7.2f} ms per completion")
    print(f"with a DMN decision task: {dmn_ms:7.2f} ms per completion")
    print(f"ratio dmn / script      : {dmn_ms / script_ms:.3f}x (goal <= 1.10x)")


if __name__ == "__main__":
    main()
