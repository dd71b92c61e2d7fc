"""Helpers shared by test modules of different folders (data and small functions, no fixtures)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import time_machine
from sqlalchemy import func, select

from engine.audit.models import AuditEvent
from engine.instances import service as instances
from engine.instances.models import ProcessInstance
from engine.tasks.models import HumanTask
from tests import clock_ahead
from tests.conftest import DB_URL, PASSWORD, get_user
from tests.factories import STREET

ROOT = Path(__file__).resolve().parent.parent


# --- the REST API through the Flask test client ---------------------------------------------------


# The policy parameters a demo case keeps (seeded by migration 0027): for workflows run without a database.
DEMO_PARAMS = {
    "_params": {"process_key": "demo_assistance", "version": 1, "values": {"district_review_threshold": 5000}}
}


def start(client, headers, **body):
    payload = {"process_key": "demo_assistance", "org_unit": STREET, **body}
    response = client.post("/api/v1/process-instances", json=payload, headers=headers)
    assert response.status_code == 201, response.json
    return response.json


def task_of(client, headers, instance_id, bpmn_id):
    detail = client.get(f"/api/v1/process-instances/{instance_id}", headers=headers).json
    return next(t for t in detail["open_tasks"] if t["bpmn_id"] == bpmn_id)


def assert_error(response, status, code=None):
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    body = response.json
    assert set(body) >= {"error", "message", "fields"}, body
    assert body["message"]
    if code:
        assert body["error"] == code
    return body


# --- conformance inputs -----------------------------------------------------------------------------


# Third-party BPMN files a reader must cope with (copied, unmodified; sources and licences in the README).
CONFORMANCE = ROOT / "tests" / "fixtures" / "conformance"


def conformance_files() -> list[Path]:
    """Every conformance input (``malformed/`` and ``miwg-reference/``), sorted."""
    return sorted(p for p in CONFORMANCE.rglob("*") if p.is_file() and p.suffix != ".md")


def conformance_id(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


NO_EXECUTABLE = ("no executable process", None)
NOT_XML = ("not well-formed XML", None)
UNDEFINED_MESSAGE = "a message that is not defined"  # issue 19: messages run; an undefined one is refused


def not_executable(process_id: str) -> tuple[str, str]:
    return ("no executable process", process_id)


# Every conformance file is refused; the first words of one reason and the element it names. The
# linter reports every problem of a file at once: MIWG_ALSO_EXPECTED lists more of them per file.
CONFORMANCE_EXPECTED: dict[str, tuple[str, str | None]] = {
    "malformed/bad-encoding.bpmn": NO_EXECUTABLE,
    "malformed/binary.png": NOT_XML,
    "malformed/categoryValue.bpmn": not_executable("sid-d21bd22a-e617-4562-9cbd-2546073c1cf1"),
    "malformed/di-no-bpmn-element.bpmn": not_executable("Process_1"),
    "malformed/duplicate-ids.bpmn": ("duplicate id 'test'", "test"),
    "malformed/extension-definition-missing.bpmn": NO_EXECUTABLE,
    "malformed/invalid-attributes.bpmn": NOT_XML,
    "malformed/no-xml.txt": NOT_XML,
    "malformed/not-bpmn.bpmn": ("root element must be BPMN definitions", None),
    "malformed/undeclared-ns-child.bpmn": NO_EXECUTABLE,
    "malformed/unrecognized-child.bpmn": NO_EXECUTABLE,
    "malformed/xmlns-redeclaration.bpmn": NOT_XML,
    "miwg-reference/A.1.0.bpmn": not_executable("WFP-6-"),
    "miwg-reference/A.2.0.bpmn": not_executable("WFP-6-"),
    "miwg-reference/A.2.1.bpmn": not_executable("_To9ZoTOCEeSknpIVFCxNIQ"),
    "miwg-reference/A.3.0.bpmn": not_executable("WFP-6-"),
    "miwg-reference/A.4.0.bpmn": not_executable("WFP-6-2"),
    "miwg-reference/A.4.1.bpmn": not_executable("sid-54D696FD-DEDC-45F3-99DB-1404DA433FC4"),
    "miwg-reference/B.1.0.bpmn": not_executable("WFP-6-2"),
    "miwg-reference/B.2.0.bpmn": not_executable("WFP-6-2"),
    "miwg-reference/C.2.0.bpmn": not_executable("WFP-Page_1-3"),
    "miwg-reference/C.4.0.bpmn": not_executable("_42cba3a9-a8ab-40b5-b9a4-2e8f32be364e"),
    "miwg-reference/C.5.0.bpmn": not_executable("_3d1ef204-2d4c-4643-8fc5-c319cc032ec0"),
    "miwg-reference/C.1.0.bpmn": ("user task has no known role", "approveInvoice"),
    "miwg-reference/C.1.1.bpmn": (
        "data store 'Financial Accounting System' has no implementation",
        "sid-14ef3d18-7218-4f57-98f0-bb595114754b",
    ),
    "miwg-reference/C.3.0.bpmn": ("user task has no known role", "_c73a5f4a-72f1-4e11-bb40-2f98da75fb9a"),
    "miwg-reference/C.6.0.bpmn": (
        "计时器为空 / empty timer timeDate",
        "_87baeef0-f32e-4a93-b802-fdd588aaf729",
    ),
    "miwg-reference/C.7.0.bpmn": (
        "the business rule task names no decision",
        "_eae674ce-4d6e-48ac-819c-c79e0868e40d",
    ),
    "miwg-reference/C.8.0.bpmn": not_executable("VacationRequestProcess"),
    "miwg-reference/C.8.1.bpmn": (
        "the business rule task names no decision",
        "_1a818a94-ba6f-413b-a7e8-6f8fd2a11e32",
    ),
    "miwg-reference/C.9.0.bpmn": (UNDEFINED_MESSAGE, "EndMessageEvent_Timeout"),
    "miwg-reference/C.9.1.bpmn": (UNDEFINED_MESSAGE, "SendTask_RequestDocument"),
    "miwg-reference/C.9.2.bpmn": ("user task has no known role", "UserTask_DecideOnApplication"),
}

# More problems the linter must report in the same answer: (message fragment, element id, element name).
MIWG_ALSO_EXPECTED: dict[str, list[tuple[str, str, str | None]]] = {
    "miwg-reference/A.3.0.bpmn": [
        ("exactly one start event", "_1ae31d1b-2559-4f78-a3ec-47986a49db48", "Collapsed Sub-Process"),
        (
            UNDEFINED_MESSAGE,
            "_428dcbf5-8e5e-48e0-9c0c-d93003fa8c82",
            "Boundary Intermediate Event Non-Interrupting Message",
        ),
    ],
    "miwg-reference/C.1.0.bpmn": [
        ("user task has no known role", "approveInvoice", "Approve Invoice"),
        ("unsafe or invalid condition", "invoice_approved", "Invoice approved?"),
        ("the service task names no operation", "archiveInvoice", "Archive Invoice"),
    ],
    "miwg-reference/C.8.1.bpmn": [
        (
            "the service task names no operation",
            "_2b960d84-feb1-46a9-a1a1-c300dd996b99",
            "Fetch Vacation Information",
        ),
        (
            UNDEFINED_MESSAGE,
            "_9ed61a6a-7cc1-4ed1-86d8-03482b0983c9",
            "Notify Employee of Refusal",
        ),
        ("user task has no known role", "_79523269-7444-4b01-90e9-e23957a9d020", "Manually Approve Vacation"),
    ],
    "miwg-reference/C.9.1.bpmn": [
        (UNDEFINED_MESSAGE, "SendTask_SendReminderEmail", "Send reminder email"),
        ("user task has no known role", "UserTask_CallCustomer", "Call customer"),
    ],
}


# --- the scheduler as its own process (real clock) ------------------------------------------------


def scheduler_process(interval: float = 0.2) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": DB_URL}
    log = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop())
    proc = subprocess.Popen(
        clock_ahead.python(
            "-c", "from api.cli import main; main()", "scheduler", "--interval", str(interval)
        ),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    proc.log = log  # type: ignore[attr-defined]
    return proc


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> str:
    """Stop a scheduler (SIGTERM: orderly; SIGKILL: a crash) and return what it wrote to stderr."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    proc.log.seek(0)  # type: ignore[attr-defined]
    text = proc.log.read().decode("utf-8", "replace")  # type: ignore[attr-defined]
    proc.log.close()  # type: ignore[attr-defined]
    return text


def make_due_timers(session, n: int) -> list[int]:
    """n instances each waiting on a timer that fell due an hour ago."""
    user = get_user(session, "pt_officer")  # timer_wait gives its step to street officers
    with time_machine.travel(dt.datetime.now(dt.UTC) - dt.timedelta(hours=2), tick=False):
        ids = [
            instances.start(session, user, "timer_wait", STREET, data={"wait": "PT1H"}).id for _ in range(n)
        ]
        session.commit()
    return ids


def _per_instance(session, ids: list[int], stmt) -> dict[int, int]:
    counts = dict.fromkeys(ids, 0)
    counts.update(dict(session.execute(stmt.group_by(stmt.selected_columns[0])).all()))
    return counts


def fired_counts(session, ids: list[int]) -> dict[int, int]:
    return _per_instance(
        session,
        ids,
        select(AuditEvent.instance_id, func.count()).where(
            AuditEvent.action == "timer.fired", AuditEvent.instance_id.in_(ids)
        ),
    )


def task_counts(session, ids: list[int]) -> dict[int, int]:
    return _per_instance(
        session,
        ids,
        select(HumanTask.instance_id, func.count()).where(
            HumanTask.bpmn_id == "after_wait", HumanTask.instance_id.in_(ids)
        ),
    )


def wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def pending(session, ids: list[int]) -> int:
    session.expire_all()
    return session.scalar(
        select(func.count()).where(ProcessInstance.id.in_(ids), ProcessInstance.next_wakeup_at.is_not(None))
    )


# --- users beyond the seed: the Twinning side and bound agencies -------------------------------------


# Users made for these tests (and the authorization matrix) only: outside the seed, so that no other
# test's notification recipients or lists change.
EXTRA_USERS: dict[str, list[tuple]] = {
    # grants bound to a procedure and a contract (engine.scope): one Twinning pairing each
    "tw01_lead": [("agency_lead", "310000", ["twinning"], ["TW01"])],
    "tw02_lead": [("agency_lead", "310000", ["twinning"], ["TW02"])],
    "pt_district_head": [("district_head", "310107")],
    "pd_head": [("street_head", "310115004")],
    # an identity role in Pudong, a plain one in the Putuo street (the reveal needs it for the case's unit)
    "pt_advisor_pd_officer": [("advisor", "310107014"), ("street_officer", "310115004")],
}


def make_extra_users(session) -> None:
    from engine.users import service as users

    for username, grants in EXTRA_USERS.items():
        users.create_user(session, username, PASSWORD, grants=grants)
    session.commit()
