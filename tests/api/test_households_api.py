"""Households, people and case search through the REST API and the web pages: 404 / 409 / 422, scope,
masking, the case header, the household page and the inbox row's applicant."""

from __future__ import annotations

from sqlalchemy import select

from api.extensions import db
from engine.audit.models import AuditEvent
from tests import factories
from tests.procedures.helpers import HEAD_ID, SPOUSE_ID, register, start


def test_register_find_and_read_a_household(client, login):
    household = register(client, login)
    assert household["bank_account"] == "**** **** 3445"
    assert household["members"][0]["id_number"] == HEAD_ID[:6] + "********" + HEAD_ID[-4:]
    assert household["members"][0]["phone"] == "139****3333"
    assert household["members"][0]["birth_date"] == "1982-02-02"
    case = start(client, login, household)
    assert (case["household_id"], case["applicant_person_id"]) == (
        household["id"],
        household["members"][0]["id"],
    )
    found = client.post("/api/v1/households/lookup", headers=login("pt_officer"), json={"id_number": HEAD_ID})
    assert found.status_code == 200 and found.json["id"] == household["id"]
    assert [c["id"] for c in found.json["cases"]] == [case["id"]]
    read = client.get(f"/api/v1/households/{household['id']}", headers=login("pt_district"))
    assert read.status_code == 200 and read.json["cases"][0]["business_key"] == "CA-2026-310107-0777"


def test_bad_input_404_409_422(client, login):
    household = register(client, login)
    headers = login("pt_advisor")
    assert client.get("/api/v1/households/999999", headers=headers).status_code == 404
    assert (
        client.patch("/api/v1/households/people/999999", headers=headers, json={"name": "x"}).status_code
        == 404
    )
    wrong = HEAD_ID[:17] + ("1" if HEAD_ID[17] != "1" else "2")
    bad = client.post(
        f"/api/v1/households/{household['id']}/members",
        headers=headers,
        json={"name": "测试居民丙", "relation": "child", "id_number": wrong, "phone": "1390000"},
    )
    assert bad.status_code == 422
    assert "校验位错误" in bad.json["fields"]["id_number"][0]
    assert "应为 11 位手机号" in bad.json["fields"]["phone"][0]
    duplicate = client.post(
        f"/api/v1/households/{household['id']}/members",
        headers=headers,
        json={"name": "测试居民丙", "relation": "child", "id_number": SPOUSE_ID},
    )
    assert duplicate.status_code == 409 and str(household["id"]) in duplicate.json["message"]
    start = client.post(
        "/api/v1/process-instances",
        headers=headers,
        json={"process_key": "demo_assistance", "org_unit": factories.STREET, "household_id": 999999},
    )
    assert start.status_code == 404
    short = client.get("/api/v1/cases?name=测", headers=headers)
    assert short.status_code == 422 and "name" in short.json["fields"]
    assert client.get("/api/v1/cases?id_tail=12", headers=headers).status_code == 422


def test_another_streets_officer_sees_nothing(client, login):
    household = register(client, login)
    start(client, login, household)
    other = login("pt_other_street_officer")
    assert client.get(f"/api/v1/households/{household['id']}", headers=other).status_code == 404
    assert (
        client.post("/api/v1/households/lookup", headers=other, json={"id_number": HEAD_ID}).status_code
        == 404
    )
    assert client.get("/api/v1/cases?name=测试居民", headers=other).json["items"] == []
    # and a number registered in another street is a conflict that does not name the household
    clash = client.post(
        "/api/v1/households",
        headers=login("pt_other_advisor"),
        json={
            "residence_street": factories.OTHER_STREET,
            "members": [{"name": "测试居民丁", "relation": "head", "id_number": HEAD_ID}],
        },
    )
    assert clash.status_code == 409 and str(household["id"]) not in clash.json["message"]


def test_case_search_api_and_audited_id_search(client, login):
    household = register(client, login)
    case = start(client, login, household)
    headers = login("pt_officer")
    by_id = client.get(f"/api/v1/cases?id_number={HEAD_ID}", headers=headers)
    assert [r["id"] for r in by_id.json["items"]] == [case["id"]]
    row = by_id.json["items"][0]
    assert row["applicant"] == "测试居民甲" and row["status_label"] == "办理中" and row["steps"]
    assert [
        r["id"] for r in client.get("/api/v1/cases?case_number=CA-2026-310107", headers=headers).json["items"]
    ] == [case["id"]]
    tail = client.get(f"/api/v1/cases?name=测试居民甲&id_tail={HEAD_ID[-6:]}", headers=headers)
    assert [r["id"] for r in tail.json["items"]] == [case["id"]]
    assert [
        r["id"] for r in client.get("/api/v1/cases?phone=13900003333", headers=headers).json["items"]
    ] == [case["id"]]
    mine = client.get("/api/v1/cases?mine=true", headers=login("pt_advisor"))
    assert case["id"] in [r["id"] for r in mine.json["items"]]
    assert client.get("/api/v1/cases?mine=true", headers=headers).json["items"] == []
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "case.searched")).all()
    assert [e.details["by"] for e in events] == ["id_number", "id_tail"]
