"""Form definitions through the API: list, detail with versions, save (admin only), preview."""

from __future__ import annotations

import copy

from engine import formstore
from tests.helpers import assert_error, start, task_of


def _review_raw() -> dict:
    return copy.deepcopy(dict(formstore.get("demo_review").raw))


def test_forms_list_detail_save_and_preview(client, login):
    admin = login("admin")
    listing = client.get("/api/v1/forms", headers=admin)
    assert listing.status_code == 200
    review = next(f for f in listing.json if f["key"] == "demo_review")
    assert review == {
        "key": "demo_review",
        "title": {"zh": "受理审核", "en": "Acceptance and review"},
        "latest_version": None,
    }
    assert len(listing.json) == len(formstore.all_forms())

    raw = _review_raw()
    raw["title"] = {"zh": "受理审核（新版）", "en": "Acceptance and review (new)"}
    saved = client.post("/api/v1/forms/demo_review/versions", json=raw, headers=admin)
    assert saved.status_code == 201, saved.json
    assert (
        saved.json["version"] == 1 and saved.json["created_by"] == "admin" and len(saved.json["sha256"]) == 64
    )
    detail = client.get("/api/v1/forms/demo_review", headers=admin).json
    assert detail["latest_version"] == 1 and detail["title"]["zh"] == "受理审核（新版）"
    assert detail["definition"]["title"]["zh"] == "受理审核（新版）"
    assert [v["version"] for v in detail["versions"]] == [1]

    preview = client.post("/api/v1/forms/demo_review/preview", json=raw, headers=admin)
    assert preview.status_code == 200 and preview.json["ok"] is True
    assert [f["name"] for f in preview.json["form"]["fields"]][:2] == ["decision", "amount_approved"]


def test_invalid_definition_is_422_per_field_path_and_preview_lists_it(client, login):
    admin = login("admin")
    raw = _review_raw()
    raw["fields"][1]["type"] = "money_bag"
    raw["fields"][1]["min"] = "zero"
    refused = client.post("/api/v1/forms/demo_review/versions", json=raw, headers=admin)
    body = assert_error(refused, 422, "validation_failed")
    assert (
        list(body["fields"]) == ["fields.amount_approved"]
        and "money_bag" in body["fields"]["fields.amount_approved"][0]
    )
    preview = client.post("/api/v1/forms/demo_review/preview", json=raw, headers=admin)
    assert preview.status_code == 200 and preview.json["ok"] is False
    assert preview.json["problems"] == body["fields"]
    assert client.get("/api/v1/forms/demo_review", headers=admin).json["versions"] == []
    assert_error(client.post("/api/v1/forms/demo_review/versions", json=[1, 2], headers=admin), 422)
    assert_error(
        client.post(
            "/api/v1/forms/demo_review/versions",
            data="{",
            headers={**admin, "Content-Type": "application/json"},
        ),
        422,
    )
    assert_error(client.post("/api/v1/forms/nope/versions", json=raw, headers=admin), 404)
    assert_error(client.get("/api/v1/forms/nope", headers=admin), 404)


def test_non_admins_are_refused(client, login):
    for user in ("pt_advisor", "pt_officer", "pt_head", "pt_district"):
        headers = login(user)
        assert_error(client.get("/api/v1/forms", headers=headers), 403)
        assert_error(
            client.post("/api/v1/forms/demo_review/versions", json=_review_raw(), headers=headers), 403
        )
        assert_error(
            client.post("/api/v1/forms/demo_review/preview", json=_review_raw(), headers=headers), 403
        )
    assert client.get("/api/v1/forms/demo_review", headers=login("admin")).json["versions"] == []


def test_task_api_shows_the_form_version_the_task_was_created_with(client, login):
    admin, advisor = login("admin"), login("pt_advisor")
    before = start(client, advisor)
    raw = copy.deepcopy(dict(formstore.get("demo_application").raw))
    raw["fields"][0]["label"] = {"zh": "家庭人口（新）", "en": "Household size (new)"}
    assert client.post("/api/v1/forms/demo_application/versions", json=raw, headers=admin).status_code == 201
    after = start(client, advisor)
    old_task = client.get(
        f"/api/v1/tasks/{task_of(client, advisor, before['id'], 'application')['id']}", headers=advisor
    )
    new_task = client.get(
        f"/api/v1/tasks/{task_of(client, advisor, after['id'], 'application')['id']}", headers=advisor
    )
    assert old_task.json["form"]["fields"][0]["label"] != "家庭人口（新）"
    assert new_task.json["form"]["fields"][0]["label"] == "家庭人口（新）"


def test_a_field_type_that_is_a_list_or_object_is_422_with_its_path_not_a_500(client, login):
    admin = login("admin")
    for bad_type in (["text"], {"zh": "文本"}):
        raw = _review_raw()
        raw["fields"][1]["type"] = bad_type
        refused = client.post("/api/v1/forms/demo_review/versions", json=raw, headers=admin)
        body = assert_error(refused, 422, "validation_failed")
        assert list(body["fields"]) == ["fields.amount_approved"], body
        assert "unknown type" in body["fields"]["fields.amount_approved"][0]
        preview = client.post("/api/v1/forms/demo_review/preview", json=raw, headers=admin)
        assert preview.status_code == 200 and preview.json["ok"] is False
        assert preview.json["problems"] == body["fields"]
    assert client.get("/api/v1/forms/demo_review", headers=admin).json["versions"] == []
