"""The 案件 page (list and search), the case header, the household page and the applicant in inbox rows."""

from __future__ import annotations

import datetime as dt

import time_machine

from tests.procedures.helpers import HEAD_ID, SPOUSE_ID, register, start
from tests.web.helpers import Web

NOW = dt.datetime(2026, 12, 2, 2, 0, tzinfo=dt.UTC)


def test_web_case_list_header_household_page_and_inbox(client, login, web):
    household = register(client, login)
    with time_machine.travel(NOW, tick=False):
        case = start(client, login, household)
        officer: Web = web("pt_officer")
        listing = officer.get("/cases?name=测试居民")
        html = listing.get_data(as_text=True)
        assert listing.status_code == 200 and "CA-2026-310107-0777" in html and "测试居民甲" in html
        assert 'href="/cases"' in officer.get("/").get_data(as_text=True)  # header link
        short = officer.get("/cases?name=测")
        assert short.status_code == 422 and "至少 2 个字" in short.get_data(as_text=True)
        page = officer.get(f"/cases/{case['id']}").get_data(as_text=True)
        header = page[page.index('data-testid="case-header"') :]
        header = header[: header.index("</section>")]
        assert "测试居民甲" in header and "示例路 8 弄 8 号" in header
        assert HEAD_ID not in page and HEAD_ID[:6] + "********" + HEAD_ID[-4:] in header
        assert "个工作日" in header or "今日到期" in header
        assert "None" not in header
        home = officer.get(f"/households/{household['id']}").get_data(as_text=True)
        assert "测试居民乙" in home and "配偶" in home and "CA-2026-310107-0777" in home
        assert SPOUSE_ID not in home and "**** **** 3445" in home
        inbox = web("pt_advisor2").get("/?tab=claimable").get_data(as_text=True)
        assert 'data-testid="row-applicant">测试居民甲' in inbox
        assert web("pt_other_street_officer").get(f"/households/{household['id']}").status_code == 404
        assert "CA-2026-310107-0777" not in web("pt_other_street_officer").get("/cases").get_data(
            as_text=True
        )


def test_demo_cases_name_fictional_households(app, client, web):
    """The demo's comprehensive-assistance cases share one household, the 3A case (Pudong only) has a
    Pudong one; Bridge Plan household cases have theirs; the pages show names, never a raw key or None."""
    from sqlalchemy import select

    from api.extensions import db
    from engine.instances.models import ProcessInstance

    result = app.test_cli_runner().invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    officer = web("pt_officer")
    listing = officer.get("/cases?name=示例居民甲").get_data(as_text=True)
    assert "DEMO-CA-0001" in listing and "DEMO-3A-0001" not in listing
    pudong = web("pd_officer").get("/cases?name=示例居民丁").get_data(as_text=True)
    assert "DEMO-3A-0001" in pudong
    case_id = db.session.scalar(
        select(ProcessInstance.id).where(ProcessInstance.business_key == "DEMO-CA-0001")
    )
    page = officer.get(f"/cases/{case_id}").get_data(as_text=True)
    header = page[page.index('data-testid="case-header"') :]
    header = header[: header.index("</section>")]
    assert "示例居民甲" in header and "示例路 100 弄 1 号" in header and "None" not in header
    bridge = web("pt_district").get("/cases?name=桥计划示例户").get_data(as_text=True)
    assert bridge.count('data-testid="case-row"') == 3


def test_start_an_application_from_the_household_page(client, login, web):
    from tests.web.helpers import ca_form

    household = register(client, login)
    head = household["members"][0]
    advisor = web("pt_advisor")
    page = advisor.get(f"/households/{household['id']}").get_data(as_text=True)
    assert "为本户新建申请" in page
    go = advisor.get(
        f"/households/{household['id']}/start?applicant={head['id']}&process=comprehensive_assistance"
    )
    assert go.status_code == 302 and f"applicant={head['id']}" in go.headers["Location"]
    form = advisor.get(go.headers["Location"]).get_data(as_text=True)
    assert 'data-testid="start-applicant"' in form and "测试居民甲" in form
    refused = advisor.post(go.headers["Location"], ca_form(credit_commitment_signed=None))
    assert refused.status_code == 422
    assert (
        client.get(f"/api/v1/households/{household['id']}", headers=login("pt_officer")).json["cases"] == []
    )
    started = advisor.post(go.headers["Location"], ca_form())
    assert started.status_code == 302, started.get_data(as_text=True)[:2000]
    # the application takes documents: the case is started and its first step opens with its checklist
    location = started.headers["Location"]
    assert "/tasks/" in location, location
    task = client.get(f"/api/v1/tasks/{location.rsplit('/', 1)[1]}", headers=login("pt_advisor")).json
    cases = client.get(f"/api/v1/households/{household['id']}", headers=login("pt_officer")).json["cases"]
    assert [c["id"] for c in cases] == [task["instance_id"]] and cases[0]["applicant_person_id"] == head["id"]
    stranger = web("pt_other_advisor").get(
        f"/households/{household['id']}/start?applicant={head['id']}&process=x"
    )
    assert stranger.status_code == 404


def test_case_and_household_pages_in_english(client, login, web):
    household = register(client, login)
    case = start(client, login, household)
    officer = web("pt_officer")
    officer.get("/lang/en")
    listing = officer.get("/cases?name=测试居民").get_data(as_text=True)
    assert "Case number" in listing and "In progress" in listing and "案件编号" not in listing
    home = officer.get(f"/households/{household['id']}").get_data(as_text=True)
    assert "Spouse" in home and "Minimum living guarantee" in home and "配偶" not in home
    page = officer.get(f"/cases/{case['id']}").get_data(as_text=True)
    header = page[page.index('data-testid="case-header"') :]
    assert "Applicant" in header[: header.index("</section>")]
