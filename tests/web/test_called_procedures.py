"""A call activity's sub-procedure seen from the calling case's page, and a multi-instance vote in each
member's own inbox (issue 19)."""

from __future__ import annotations

from pathlib import Path

from api.extensions import db
from engine.definitions import service as definitions
from engine.instances import service as instances
from engine.tasks import service as tasks
from engine.users import service as users
from tests.conftest import PASSWORD, get_user
from tests.factories import STREET, application_data, open_task, review_data
from tests.web.helpers import text

CONSTRUCTS = Path(__file__).resolve().parents[1] / "fixtures" / "bpmn" / "constructs"


def _case_in_review():
    session = db.session
    for name in ("rp_second", "rp_third"):
        users.create_user(session, name, PASSWORD, grants=[("review_panel", STREET)])
    for file in ("democratic_review.bpmn", "relief_with_review.bpmn"):
        definitions.deploy(session, (CONSTRUCTS / file).read_bytes(), actor_id=get_user(session, "admin").id)
    officer = get_user(session, "pt_officer")
    instance = instances.start(session, officer, "relief_with_review", STREET)
    row = open_task(session, instance.id, "application")
    tasks.claim(session, officer, row.id)
    tasks.complete(session, officer, row.id, application_data(amount_requested="3000.00"))
    session.commit()
    return instance.id


def test_the_calling_case_shows_its_sub_procedure_and_each_member_has_their_vote(web):
    instance_id = _case_in_review()
    officer = web("pt_officer")
    page = text(officer.get(f"/cases/{instance_id}"))
    section = page[page.index('data-testid="called-procedures"') :]
    assert "调用的子流程" in section and "<td>民主评议（子流程）</td>" in section and "办理中" in section
    assert "Democratic review" not in section  # the Chinese half of its "中文 English" process name
    assert "评议小组成员表决" in section
    member = text(web("rp_second").get("/"))
    assert "评议小组成员表决（rp_second）" in member and "评议小组成员表决（rp_third）" not in member
    officer.get("/lang/en")
    english = text(officer.get(f"/cases/{instance_id}"))
    section = english[english.index('data-testid="called-procedures"') :]
    # the open vote named by its form's English title
    assert "<td>Acceptance and review</td>" in section and "评议小组成员表决" not in section
    # the call activity by its English name (its nameEn property)
    assert "<td>Democratic review</td>" in section and "<td>民主评议</td>" not in section
    # a procedure drawn without a pool, by the English half of its process's name
    assert "<td>Democratic review (sub-procedure)</td>" in section and "民主评议" not in section
    second = web("rp_second")
    second.get("/lang/en")
    assert "Acceptance and review (rp_second)" in text(second.get("/"))
    officer.get("/lang/zh")

    session = db.session
    for who in ("pt_panel", "rp_second"):
        voter = get_user(session, who)
        mine = next(t for t in tasks.open_tasks_of(session, instance_id) if t.assignee_id == voter.id)
        tasks.complete(session, voter, mine.id, review_data(amount_approved="3000.00"))
        session.commit()
    done = text(officer.get(f"/cases/{instance_id}"))
    section = done[done.index('data-testid="called-procedures"') :]
    assert "已完成" in section
    officer.get("/lang/en")
    english = text(officer.get(f"/cases/{instance_id}"))
    assert "Sub-procedures called" in english and "Done" in english
