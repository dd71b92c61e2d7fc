"""The Bridge Plan's one-household plan (一户一策) and the Twinning four-party agreement as PDF, printed
from their steps over the REST API, read back with pdftotext; a reprint is the stored file."""

from __future__ import annotations

from tests.documents_pdf import pdf_text
from tests.helpers import assert_error
from tests.procedures.helpers import Project, Twinning, needs

RAW = ("None", "True", "False", "{", "need_economic", "policy", "resources", "family_withdraws")


def _flat(pdf: bytes) -> str:
    return "".join(pdf_text(pdf).split())


def _print(client, login, case_id, kind, username):
    return client.post(f"/api/v1/process-instances/{case_id}/documents/{kind}", headers=login(username))


def test_household_plan_printed_from_its_step(client, login, june):
    household = Project(client, login, households=1).confirm()[0]
    body = assert_error(_print(client, login, household.id, "household_plan", "pt_agency_worker"), 409)
    assert "一户一策" in body["message"]
    household.assess_and_plan()
    listed = client.get(
        f"/api/v1/process-instances/{household.id}/documents", headers=login("pt_agency_worker")
    ).json["items"]
    assert [i["kind"] for i in listed] == ["household_plan"]
    first = _print(client, login, household.id, "household_plan", "pt_agency_worker")
    assert first.status_code == 201, first.json
    text = _flat(first.data)
    assert "一户一策帮扶计划" in text and "2026-PT-001" in text and "PT-001" in text
    assert "完成学业并顺利就业" in text and "政策信息、资源链接" in text and "6次" in text
    assert "经济需求重度" in text and "心理需求中度" in text
    assert "前测得分40" in text and "示范社会工作服务社" in text
    assert "服务对象（户主）签字" in text and "社工签字" in text
    assert "999999********" in text and "9999991990" not in text  # the head's number masked
    assert not [w for w in RAW if w in text]
    again = _print(client, login, household.id, "household_plan", "pt_agency_lead")
    assert again.status_code == 200 and again.data == first.data
    # another procedure's kind, and a comprehensive-assistance notice on this case: 404
    assert_error(_print(client, login, household.id, "twinning_agreement", "pt_agency_worker"), 404)
    assert_error(_print(client, login, household.id, "acceptance_notice", "pt_agency_worker"), 404)


def test_no_plan_for_a_family_that_withdrew(client, login, june):
    household = Project(client, login, households=1).confirm()[0]
    household.do("needs_assessment", "pt_agency_worker", needs())
    household.do("household_plan", "pt_agency_worker", {"family_withdraws": True})
    assert_error(_print(client, login, household.id, "household_plan", "pt_agency_worker"), 409)


def test_four_party_agreement_printed_at_agency_selection(client, login, spring):
    case = Twinning(client, login, "TW04")
    assert_error(_print(client, login, case.id, "twinning_agreement", "city"), 409)
    case.select_and_sign()
    first = _print(client, login, case.id, "twinning_agreement", "city")
    assert first.status_code == 201, first.json
    text = _flat(first.data)
    assert "牵手计划四方协议" in text and "结对编号：TW04" in text
    assert "甘肃省陇南市宕昌县" in text and "上海公益社工师事务所" in text
    assert "上海市民政局" in text and "甘肃省民政厅" in text and "丁方（受援机构）" in text
    assert "儿童关爱与社工站建设" in text and "机构管理规范，服务专业" in text
    assert "30,000.00元" in text and "不少于2名" in text and "不少于40天" in text
    assert text.count("代表签字") == 4
    assert not [w for w in RAW if w in text]
    again = _print(client, login, case.id, "twinning_agreement", "gansu")
    assert again.status_code == 200 and again.data == first.data
