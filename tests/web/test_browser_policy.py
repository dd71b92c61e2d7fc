"""Policy parameters in a real browser (Playwright + Debian chromium against a live server).

A comprehensive-assistance case started on the parameter set in force keeps it. An admin then saves a
new set in the browser (the review quorum 5 → 7, in force from today); a case started afterwards reads
the new value while the earlier case still reads the old one (issue 19: a case keeps the set in force
when it started)."""

from __future__ import annotations

from sqlalchemy import func, select

from api.extensions import db
from engine.db import utcnow
from engine.deadlines import calendar
from engine.instances.models import ProcessInstance
from engine.policy import service as policy
from engine.policy.models import PolicyParameterSet
from tests.procedures.helpers import Case
from tests.web.browser import Staff

KEY = "comprehensive_assistance"


def _kept(instance_id: int) -> tuple[int, int]:
    """The review quorum a case reads, and the version of the set it keeps."""
    db.session.remove()
    data = db.session.get(ProcessInstance, instance_id).data
    kept = policy.of_case(data)
    assert kept is not None
    return int(data["review_quorum"]), int(kept["version"])


def test_admin_saves_a_new_parameter_set_and_only_new_cases_read_it(browser, live_server, client, login):
    old_case = Case(client, login)
    old_quorum, old_version = _kept(old_case.id)
    assert old_quorum == 5

    admin = Staff(browser, live_server, "admin").login()
    page = admin.page
    admin.goto(f"/admin/policy/{KEY}")
    page.locator("#value_review_quorum").wait_for()
    assert page.locator("#value_review_quorum").input_value() == "5"
    page.fill("#effective_from", calendar.local_day(utcnow()).isoformat())
    page.fill("#value_review_quorum", "7")
    page.get_by_role("button", name="保存新版本").click()
    page.locator('[data-testid="in-force"]').first.wait_for()
    newest = db.session.scalar(
        select(func.max(PolicyParameterSet.version)).where(PolicyParameterSet.process_key == KEY)
    )
    assert newest == old_version + 1
    assert page.locator(f'[data-version="{newest}"]').count() == 1

    new_case = Case(client, login)
    assert _kept(new_case.id) == (7, newest)
    assert _kept(old_case.id) == (5, old_version)  # the earlier case keeps the set it started on
