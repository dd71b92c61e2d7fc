"""The case page shows a case waiting at a receive task as 等待消息：<step> (never as a user task, nor in
anyone's inbox; on English pages by the step's English name), and the message's arrival in the
timeline in staff words."""

from __future__ import annotations

from pathlib import Path

from api.extensions import db
from engine.definitions import service as definitions
from engine.instances import service as instances
from engine.messages import service as messages
from engine.orgs import service as orgs
from tests.conftest import get_user
from tests.web.helpers import text

MESSAGES = Path(__file__).resolve().parents[1] / "fixtures" / "bpmn" / "messages"


def test_a_waiting_receive_shows_as_waiting_for_the_message(web):
    session = db.session()
    admin = get_user(session, "admin")
    definitions.deploy(session, (MESSAGES / "msg_receiver.bpmn").read_bytes(), actor_id=admin.id)
    case = instances.create(
        session,
        definitions.get_version(session, "msg_receiver"),
        orgs.by_code(session, "310107014"),
        actor_id=admin.id,
        data={"project_key": "BP-WEB"},
    )
    session.commit()
    officer = web("pt_officer")
    page = text(officer.get(f"/cases/{case.id}"))
    assert "等待消息：年度名单确认" in page and "暂无待办" not in page
    assert "年度名单确认" not in text(officer.get("/?tab=claimable"))
    officer.get("/lang/en")  # the receive task by its English name (its nameEn property)
    page = text(officer.get(f"/cases/{case.id}"))
    assert "Waiting for the message: Annual list confirmed" in page and "年度名单确认" not in page
    officer.get("/lang/zh")

    messages.send(session, "list_confirmed", "BP-WEB", {"households": 1}, actor_id=admin.id)
    session.commit()
    page = text(officer.get(f"/cases/{case.id}"))
    assert "等待消息" not in page and "收到消息" in page and "复核" in page
    officer.get("/lang/en")
    assert "Message received" in text(officer.get(f"/cases/{case.id}"))
