"""The admins' 系统状态 page and skipping a failed step (issue 20): scheduler processes with their
heartbeat, due wake-ups and the oldest one's wait, open incidents raised by a real failing step, shown,
retried and skipped (audited, a reason required), outbox, seal lag, calendar coverage, versions — in
staff words. Both databases; the browser check in test_browser_system_status.py."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from engine.audit.models import AuditEvent
from engine.definitions import service as definitions
from engine.incidents import service as incidents
from engine.incidents.models import Incident, IncidentStatus
from engine.system.heartbeat import Heartbeat
from engine.tasks import service as tasks
from tests import hostile_bpmn
from tests.conftest import get_user
from tests.factories import STREET, open_task
from tests.helpers import make_due_timers
from tests.operations.helpers import failing_case
from tests.web.helpers import Web

from engine.instances import service as instances  # isort: skip


def test_skip_marks_the_script_done_without_running_it_audited_with_its_reason(session, client, login):
    instance, incident = failing_case(session)
    url = f"/api/v1/incidents/{incident.id}/skip"
    assert client.post(url, json={}, headers=login("admin")).status_code == 422  # a reason is required
    assert client.post(url, json={"reason": "x"}, headers=login("pt_officer")).status_code == 403
    answer = client.post(url, json={"reason": "通知脚本无需补做"}, headers=login("admin"))
    assert answer.status_code == 200, answer.json
    assert answer.json["status"] == "resolved"
    session.expire_all()
    assert open_task(session, instance.id, "after") is not None  # the case moved on
    event = session.scalars(
        select(AuditEvent).where(
            AuditEvent.instance_id == instance.id, AuditEvent.action == "incident.skipped"
        )
    ).one()
    assert event.details["reason"] == "通知脚本无需补做" and event.details["element"] == "calc"
    assert client.post(url, json={"reason": "again"}, headers=login("admin")).status_code == 409


def test_a_gateway_cannot_be_skipped(session, client, login):
    definitions.deploy(
        session, hostile_bpmn.gateway_without_default(), actor_id=get_user(session, "admin").id
    )
    instance = instances.start(
        session, get_user(session, "pt_officer"), "hostile_gateway", STREET, data={"x": 3}
    )
    session.commit()
    with pytest.raises(incidents.IncidentOpened) as caught:
        tasks.complete(
            session, get_user(session, "pt_officer"), open_task(session, instance.id, "fill").id, {}
        )
    session.commit()
    answer = client.post(
        f"/api/v1/incidents/{caught.value.incident.id}/skip", json={"reason": "试试"}, headers=login("admin")
    )
    assert answer.status_code == 409 and "网关" in answer.json["message"]
    session.expire_all()
    assert session.get(Incident, caught.value.incident.id).status == IncidentStatus.OPEN


def test_the_page_shows_schedulers_due_work_incidents_and_versions_in_staff_words(
    session, engine, client, schedules_ahead
):
    instance, incident = failing_case(session)
    make_due_timers(session, 2)  # due an hour ago, no scheduler ran
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    beat = Heartbeat()
    beat.job_done("wakeups")
    beat.beat(factory)
    web = Web(client).login("admin")
    page = web.get("/admin/system")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "系统状态" in html and "调度进程" in html
    assert "运行中" in html and "处理到期计时器和期限" in html  # the job in words, not "wakeups"
    assert "到期未处理的案件：2 件" in html and re.search(r"最早一件已等待 (59|60|61) 分钟", html)
    assert f"/cases/{instance.id}" in html and "missing_value" in html and "办理任务后" in html
    # the calendar line for the test's own day (a later clock may reach a year nobody entered)
    from engine.deadlines import calendar
    from engine.system import status

    _days, until = status.coverage(session, calendar.local_day(dt.datetime.now(dt.UTC)))
    assert ("节假日数据覆盖至" if until else "今年的节假日数据缺失") in html and "数据库结构版本" in html
    for raw in ("wakeups", "None", "heartbeat", ">task<", "{{", "system_"):
        assert raw not in html, raw
    english = web.get("/admin/system?lang=en")
    assert english.status_code == 200

    # skip from the page: a reason is required (flashed, nothing changed), then it is done
    refused = web.post(f"/admin/system/incidents/{incident.id}/skip", {"reason": ""})
    assert refused.status_code == 302
    session.expire_all()
    assert session.get(Incident, incident.id).status == IncidentStatus.OPEN
    done = web.post(f"/admin/system/incidents/{incident.id}/skip", {"reason": "已人工处理"})
    assert done.status_code == 302
    session.expire_all()
    assert session.get(Incident, incident.id).status == IncidentStatus.RESOLVED
    assert "已跳过该步骤，流程继续" in web.get("/admin/system").get_data(as_text=True)
    beat.stopped(factory)
    assert "已正常停止" in web.get("/admin/system").get_data(as_text=True)


def test_retry_from_the_page(session, client):
    instance, incident = failing_case(session)
    web = Web(client).login("admin")
    web.get("/admin/system")
    assert web.post(f"/admin/system/incidents/{incident.id}/retry", {}).status_code == 302
    assert "重试仍然失败" in web.get("/admin/system").get_data(as_text=True)
    session.expire_all()
    assert session.get(Incident, incident.id).attempts == 2
