"""The admin modeler pages with Flask's test client: who reaches them, validate, diff, deploy, round trip."""

from __future__ import annotations

import json
import re

import pytest

from api.extensions import db
from engine.definitions import service as definitions
from engine.definitions.models import ProcessDefinition
from tests.conftest import ROOT

KEY = "comprehensive_assistance"
CA = (ROOT / "processes" / "comprehensive_assistance.bpmn").read_text(encoding="utf-8")
# XML the modeler page produced in the browser test (tests/web/test_browser_admin.py): the side panel
# renamed "application", set its deadline, reminder and escalation target, changed a lane's role and a
# gateway condition.
EDITED = (ROOT / "tests" / "fixtures" / "modeler" / "ca_edited_in_browser.bpmn").read_text(encoding="utf-8")


def _page_data(response) -> dict:
    found = re.search(
        r'<script type="application/json" id="modeler-data">(.*?)</script>',
        response.get_data(as_text=True),
        re.S,
    )
    assert found
    return json.loads(found.group(1))


def _count(key: str) -> int:
    return db.session.query(ProcessDefinition).filter_by(key=key).count()


def test_admin_opens_a_version_and_a_blank_process(web):
    admin = web("admin")
    version = definitions.latest(db.session(), KEY).version
    response = admin.get(f"/admin/processes/{KEY}/{version}/modeler")
    assert response.status_code == 200
    data = _page_data(response)
    assert (data["key"], data["version"]) == (KEY, version)
    assert data["xml"] == CA
    assert {"value": "street_officer", "label": "街镇救助专员（street_officer）"} in data["roles"]
    assert data["role_names"]["street_officer"] == "街镇救助专员"  # what a lane's name is written with
    assert "ca_application" in {f["value"] for f in data["forms"]}
    assert all("/" not in f["label"] for f in data["forms"])
    assert data["urls"] == {
        "validate": "/admin/modeler/validate",
        "diff": "/admin/modeler/diff",
        "deploy": "/admin/modeler/deploy",
    }
    html = response.get_data(as_text=True)
    for label in (
        ">校验<",  # one language on the page (Chinese here)
        ">对比<",
        ">部署<",
        ">下载 XML<",
        "bpmn-modeler.js",
        "editor-zh.js",  # bpmn-js's palette and menus in Chinese
    ):
        assert label in html
    blank = admin.get("/admin/processes/new/modeler")
    assert blank.status_code == 200
    assert _page_data(blank)["key"] is None
    assert admin.get(f"/admin/processes/{KEY}/999/modeler").status_code == 404
    assert admin.get("/admin/processes/nope/1/modeler").status_code == 404
    for asset in ("bpmn-modeler.js", "bpmn-font.css"):
        served = admin.get(f"/vendor/{asset}")
        served.close()
        assert served.status_code == 200


@pytest.mark.parametrize("username", ["pt_advisor", "pt_officer", "pt_head", "pt_district", "city"])
def test_everyone_else_is_refused(web, username):
    other = web(username)
    assert other.get(f"/admin/processes/{KEY}/1/modeler").status_code == 403
    assert other.get("/admin/processes/new/modeler").status_code == 403
    for action in ("validate", "diff", "deploy"):
        assert other.post(f"/admin/modeler/{action}", {"xml": EDITED}).status_code == 403
    assert _count(KEY) == 1


def test_anonymous_goes_to_login(client):
    response = client.get(f"/admin/processes/{KEY}/1/modeler")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_posts_need_the_csrf_token(web):
    admin = web("admin")
    response = admin.client.post("/admin/modeler/deploy", data={"xml": EDITED})
    assert response.status_code == 400
    assert _count(KEY) == 1


def test_validate_lists_problems_pointing_at_elements(web):
    admin = web("admin")
    ok = admin.post("/admin/modeler/validate", {"xml": EDITED})
    assert ok.status_code == 200 and ok.json == {
        "ok": True,
        "problems": [],
        "key": KEY,
        "name": "市民综合帮扶",
    }
    bad = EDITED.replace('value="5 working days"', 'value="five days please"', 1).replace(
        'value="ca_acceptance"', 'value="no_such_form"'
    )
    refused = admin.post("/admin/modeler/validate", {"xml": bad})
    assert refused.status_code == 422
    problems = {p["element"]: p for p in refused.json["problems"]}
    assert set(problems) == {"application", "acceptance"}
    assert "five days please" in problems["application"]["message"]
    assert problems["application"]["line"] > 1
    assert "no_such_form" in problems["acceptance"]["message"]
    missing = admin.post("/admin/modeler/validate", {})
    assert (
        missing.status_code == 422
        and missing.json["problems"][0]["message"] == "缺少 BPMN XML / BPMN XML is missing"
    )
    assert _count(KEY) == 1


def test_diff_against_the_version_opened(web):
    admin = web("admin")
    response = admin.post("/admin/modeler/diff", {"xml": EDITED, "key": KEY, "version": "1"})
    assert response.status_code == 200
    body = response.json
    assert (body["key"], body["from_version"]) == (KEY, 1)
    assert {e["id"] for e in body["changed"]} == {
        "application",
        "Lane_district_officer",
        "district_approval",
        "emergency_district_approval",  # same lane (notice 002: help-first above the street cap)
        "gw_emergency_approved",
        "f_gw_accept_gw_rejected",
    }
    # a new process: against the latest version of the key it declares, or nothing at all
    assert admin.post("/admin/modeler/diff", {"xml": EDITED}).json["from_version"] == 1
    blank = admin.post(
        "/admin/modeler/diff", {"xml": CA.replace('id="comprehensive_assistance"', 'id="brand_new"')}
    )
    assert blank.json["from_version"] is None and blank.json["changed"] == []
    assert "brand_new" in {e["id"] for e in blank.json["added"]}
    assert admin.post("/admin/modeler/diff", {"xml": EDITED, "key": KEY, "version": "7"}).status_code == 404
    broken = admin.post("/admin/modeler/diff", {"xml": "<bpmn:definitions", "key": KEY})
    assert broken.status_code == 422 and "XML" in broken.json["problems"][0]["message"]


def test_deploy_stores_a_new_version_and_the_panel_values_round_trip(web):
    admin = web("admin")
    response = admin.post("/admin/modeler/deploy", {"xml": EDITED})
    assert response.status_code == 200
    assert response.json == {
        "ok": True,
        "created": True,
        "key": KEY,
        "version": 2,
        "redirect": f"/admin/processes/{KEY}",
    }
    session = db.session()
    definition = definitions.get_version(session, KEY, 2)
    assert (definition.source, definition.bpmn_xml) == ("modeler", EDITED)
    assert definition.deployed_by_id is not None
    # what the side panel wrote is what the engine reads
    compiled = definitions.compiled(session, definition.id)
    meta = compiled.task_meta("application")
    assert (meta.name, meta.form_key, meta.role, meta.lane) == (
        "帮扶申请登记（网上）",
        "ca_application",
        "advisor",
        "社区救助顾问 advisor",
    )
    assert {k: meta.properties[k] for k in ("deadline", "reminder", "escalate_to")} == {
        "deadline": "5 working days",
        "reminder": "1 working day",
        "escalate_to": "street_head",
    }
    assert compiled.task_meta("district_approval").role == "district_head"
    again = admin.post("/admin/modeler/deploy", {"xml": EDITED})
    assert again.json["created"] is False and again.json["version"] == 2


def test_a_refused_deploy_stores_nothing(web):
    admin = web("admin")
    bad = EDITED.replace('name="区民政局负责人 district_head"', 'name="某个部门"')
    response = admin.post("/admin/modeler/deploy", {"xml": bad})
    assert response.status_code == 422
    assert response.json["ok"] is False
    # both user tasks of the lane lose their role
    assert {p["element"] for p in response.json["problems"]} == {
        "district_approval",
        "emergency_district_approval",
    }
    assert _count(KEY) == 1


def test_validate_returns_warnings_with_ok_true_and_alongside_errors(web):
    """An unbounded timer cycle is a warning: the modeler may still deploy it; with an error it is listed
    after the error."""
    from tests import hostile_bpmn

    admin = web("admin")
    monthly = hostile_bpmn.timer_start("R/P1M", "310107014").decode("utf-8")
    ok = admin.post("/admin/modeler/validate", {"xml": monthly})
    assert ok.status_code == 200 and ok.json["ok"] is True
    [warning] = ok.json["problems"]
    assert warning["severity"] == "warning" and warning["element"] == "every" and warning["line"] == 5
    assert "unbounded cycle 'R/P1M'" in warning["message"]
    refused = admin.post("/admin/modeler/validate", {"xml": monthly.replace("R/P1M", "R/PT1S")})
    assert refused.status_code == 422 and refused.json["ok"] is False
    assert [p["severity"] for p in refused.json["problems"]] == ["error", "warning"]
    deployed = admin.post("/admin/modeler/deploy", {"xml": monthly})
    assert deployed.status_code == 200 and deployed.json["created"] is True, deployed.json


def test_a_file_whose_process_is_not_executable_opens_as_a_draft(web):
    """An MIWG file (not marked executable) is refused at upload with every problem and an "open as a
    draft" button; the draft opens in the modeler (nothing stored), where ticking "Executable" lets it
    deploy."""
    import io

    admin = web("admin")
    data = (ROOT / "tests/fixtures/conformance/miwg-reference/A.1.0.bpmn").read_bytes()
    before = db.session.query(ProcessDefinition).count()
    refused = admin.post(
        "/admin/processes/upload",
        {"file": (io.BytesIO(data), "A.1.0.bpmn")},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert 'data-testid="open-draft"' in html and "/admin/modeler/draft" in html
    assert "None" not in html
    opened = admin.post("/admin/modeler/draft", {"xml": data.decode("utf-8")})
    assert opened.status_code == 200
    page = _page_data(opened)
    assert page["draft"] is True and page["key"] == "WFP-6-" and page["version"] is None
    assert 'isExecutable="false"' in page["xml"]
    assert 'data-testid="draft-note"' in opened.get_data(as_text=True)
    # an executable file or unreadable XML is not a draft
    assert admin.post("/admin/modeler/draft", {"xml": CA}).status_code == 422
    assert admin.post("/admin/modeler/draft", {"xml": "<bpmn:definitions"}).status_code == 422
    assert db.session.query(ProcessDefinition).count() == before
    # made executable in the modeler, the draft is linted like any file: every remaining problem at once
    executable = data.decode("utf-8").replace('isExecutable="false"', 'isExecutable="true"')
    validated = admin.post("/admin/modeler/validate", {"xml": executable})
    assert not any("no executable process" in p["message"] for p in validated.json["problems"])


def test_the_modeler_lists_roles_and_forms_in_english_on_the_english_page(web):
    admin = web("admin")
    admin.get("/lang/en")
    version = definitions.latest(db.session(), KEY).version
    data = _page_data(admin.get(f"/admin/processes/{KEY}/{version}/modeler"))
    assert {"value": "street_officer", "label": "Street assistance officer (street_officer)"} in data["roles"]
    application = next(f for f in data["forms"] if f["value"] == "ca_application")
    assert application["label"].endswith(" (ca_application)")
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in application["label"]), application
    assert data["role_names"]["street_officer"] == "街镇救助专员"  # lane names stay as the BPMN writes them
