"""Attachments over HTTP: streamed multipart upload, list, audited download, thumbnail, removal, the
materials checklist, and every refusal a 4xx with a reason that stores nothing."""

from __future__ import annotations

import copy

from sqlalchemy import func, select

from api.extensions import db
from engine import formstore
from engine.attachments import storage as storage_mod
from engine.attachments.models import Attachment
from engine.audit.models import AuditEvent
from engine.formversions import service as formversions
from engine.users import service as users
from tests import attachment_files as files
from tests.factories import application_data
from tests.helpers import assert_error, start, task_of

BOUNDARY = "----assistflow-test-boundary"


def multipart(data: bytes, name: str, part: str = "file") -> bytes:
    """A multipart body built in memory (the test client would spool a large one to a temporary file)."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{part}"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{BOUNDARY}--\r\n".encode()


def _upload(client, headers, task_id, data, name="scan.pdf", field="supporting_documents"):
    return client.post(
        f"/api/v1/tasks/{task_id}/attachments?field={field}",
        data=multipart(data, name),
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
        headers=headers,
    )


def _case(client, login):
    advisor = login("pt_advisor")
    case = start(client, advisor)
    return advisor, case, task_of(client, advisor, case["id"], "application")


def _stored() -> int:
    return len(list(storage_mod.current().listing()))


def test_upload_list_download_thumbnail_remove(client, login):
    advisor, case, task = _case(client, login)
    before = _stored()
    photo = _upload(client, advisor, task["id"], files.jpeg(gps=True), name="IMG_1.jpg")
    assert photo.status_code == 201, photo.json
    body = photo.json
    assert body["kind"] == "jpeg" and body["has_thumbnail"] and body["location_removed"]
    assert body["field"] == "supporting_documents" and body["step_record_id"] is None
    doc = _upload(client, advisor, task["id"], files.pdf(), name="证明.pdf").json
    listed = client.get(f"/api/v1/process-instances/{case['id']}/attachments", headers=advisor).json
    assert [a["id"] for a in listed["items"]] == [body["id"], doc["id"]]
    got = client.get(f"/api/v1/attachments/{doc['id']}/content", headers=advisor)
    assert got.status_code == 200 and got.data == files.pdf()
    assert got.mimetype == "application/pdf"
    assert "attachment;" in got.headers["Content-Disposition"]
    assert "filename*=UTF-8''%E8%AF%81%E6%98%8E.pdf" in got.headers["Content-Disposition"]
    inline = client.get(f"/api/v1/attachments/{doc['id']}/content?inline=1", headers=advisor)
    assert inline.headers["Content-Disposition"].startswith("inline;")
    thumb = client.get(f"/api/v1/attachments/{body['id']}/thumbnail", headers=advisor)
    assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
    assert_error(client.get(f"/api/v1/attachments/{doc['id']}/thumbnail", headers=advisor), 404)
    downloads = db.session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "attachment.downloaded")
    )
    assert downloads == 2
    assert client.delete(f"/api/v1/attachments/{doc['id']}", headers=advisor).status_code == 204
    assert_error(client.get(f"/api/v1/attachments/{doc['id']}", headers=advisor), 404)
    assert _stored() == before + 3  # the photo, its thumbnail; the removed PDF waits for the sweep


def test_refusals_are_4xx_with_reasons_and_store_nothing(client, login):
    advisor, _case_body, task = _case(client, login)
    before = _stored()
    for data, name in (
        (files.EXE, "setup.pdf"),
        (files.SVG, "a.svg"),
        (b"", "empty.pdf"),
        (files.CORRUPT_PDF, "x.pdf"),
    ):
        body = assert_error(_upload(client, advisor, task["id"], data, name=name), 422)
        assert body["fields"]["file"], body
    body = assert_error(_upload(client, advisor, task["id"], files.pdf(), field="nope"), 422)
    assert "field" in body["fields"]
    too_big = _upload(
        client, advisor, task["id"], files.pdf(b"0" * (11 * 1024 * 1024)), field="identity_document"
    )
    assert_error(too_big, 413)
    no_file = client.post(
        f"/api/v1/tasks/{task['id']}/attachments?field=supporting_documents",
        data=multipart(b"x", "x.pdf", part="other"),
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
        headers=advisor,
    )
    assert_error(no_file, 422)
    raw = client.post(
        f"/api/v1/tasks/{task['id']}/attachments?field=supporting_documents",
        data=files.pdf(),
        content_type="application/pdf",
        headers=advisor,
    )
    assert_error(raw, 422)
    other = login("pt_other_advisor")
    assert_error(_upload(client, other, task["id"], files.pdf()), 403)
    assert_error(_upload(client, advisor, 999_999, files.pdf()), 404)
    assert _stored() == before
    assert db.session.scalar(select(func.count()).select_from(Attachment)) == 0


def test_scope_on_download_and_personal_documents(client, login):
    advisor, case, task = _case(client, login)
    card = _upload(client, advisor, task["id"], files.png(), name="id.png", field="identity_document").json
    doc = _upload(client, advisor, task["id"], files.pdf()).json
    assert_error(
        client.get(f"/api/v1/attachments/{doc['id']}/content", headers=login("pt_other_advisor")), 403
    )
    assert_error(
        client.get(f"/api/v1/process-instances/{case['id']}/attachments", headers=login("pt_other_advisor")),
        403,
    )
    refused = assert_error(client.get(f"/api/v1/attachments/{card['id']}/content", headers=advisor), 403)
    assert "个人信息" in refused["message"]
    assert (
        client.get(f"/api/v1/attachments/{card['id']}/content", headers=login("pt_officer")).data
        == files.png()
    )
    assert_error(client.get("/api/v1/attachments/123456789/content", headers=advisor), 404)


def test_required_materials_named_in_the_422(client, login):
    admin = users.by_username(db.session(), "admin")
    raw = copy.deepcopy(dict(formstore.get("demo_application").raw))
    for f in raw["fields"]:
        if f["name"] == "supporting_documents":
            f["required"] = True
    formversions.save(db.session(), "demo_application", raw, actor_id=admin.id)
    db.session.commit()
    advisor, _case_body, task = _case(client, login)
    checklist = client.get(f"/api/v1/tasks/{task['id']}/materials", headers=advisor).json["items"]
    assert [(i["field"], i["required"], i["done"]) for i in checklist] == [
        ("supporting_documents", True, False),
        ("identity_document", False, False),
    ]
    refused = assert_error(
        client.post(
            f"/api/v1/tasks/{task['id']}/complete", json={"data": application_data()}, headers=advisor
        ),
        422,
    )
    assert "缺少必需材料：证明材料" in refused["message"]
    assert refused["fields"]["supporting_documents"]
    doc = _upload(client, advisor, task["id"], files.pdf()).json
    done = client.post(
        f"/api/v1/tasks/{task['id']}/complete", json={"data": application_data()}, headers=advisor
    )
    assert done.status_code == 200, done.json
    again = client.get(f"/api/v1/attachments/{doc['id']}", headers=advisor).json
    assert again["step_record_id"] is not None
    assert_error(client.delete(f"/api/v1/attachments/{doc['id']}", headers=advisor), 409)
