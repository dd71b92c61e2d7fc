"""Document templates over the API: admins list the kinds, read one's text and versions, save a new
version (201, audited) or are refused with the reason on ``source``; other roles get 403."""

from __future__ import annotations

from tests.helpers import assert_error

URL = "/api/v1/document-templates"


def test_admin_reads_and_saves_a_template(client, login):
    admin = login("admin")
    listed = client.get(URL, headers=admin)
    assert listed.status_code == 200
    kinds = {row["kind"]: row for row in listed.json}
    assert {"household_plan", "twinning_agreement", "case_file", "acceptance_notice"} <= set(kinds)
    assert (
        kinds["case_file"]["latest_version"] is None and kinds["case_file"]["title"] == "一户一档（案件档案）"
    )
    one = client.get(f"{URL}/twinning_agreement", headers=admin).json
    assert one["latest_version"] is None and one["title"] == "牵手计划四方协议"
    assert "代表签字" in one["source"] and one["versions"] == []
    edited = one["source"].replace("各方承诺", "四方承诺")
    saved = client.post(f"{URL}/twinning_agreement/versions", headers=admin, json={"source": edited})
    assert saved.status_code == 201 and saved.json["version"] == 1 and len(saved.json["sha256"]) == 64
    again = client.get(f"{URL}/twinning_agreement", headers=admin).json
    assert again["latest_version"] == 1 and again["source"] == edited
    assert [v["version"] for v in again["versions"]] == [1] and again["versions"][0]["created_by"]
    body = assert_error(
        client.post(f"{URL}/twinning_agreement/versions", headers=admin, json={"source": "{% if %}"}), 422
    )
    assert "模板语法错误" in body["fields"]["source"][0]
    assert_error(client.post(f"{URL}/twinning_agreement/versions", headers=admin, json={}), 422)
    assert_error(client.get(f"{URL}/no_such_kind", headers=admin), 404)
    assert client.get(f"{URL}/twinning_agreement", headers=admin).json["latest_version"] == 1


def test_other_roles_may_not(client, login):
    for username in ("pt_officer", "city", "pt_district"):
        headers = login(username)
        assert_error(client.get(URL, headers=headers), 403)
        assert_error(client.post(f"{URL}/case_file/versions", headers=headers, json={"source": "x"}), 403)
