"""Attachments through the service: the same tests against the local directory and a real S3-compatible
server on the loopback (moto in server mode), encryption at rest, checks by content, scope, the sweep."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import io
import os
import threading
import uuid

import pytest
from PIL import Image
from sqlalchemy import select

from engine import formstore
from engine.attachments import cipher, materials, sweep
from engine.attachments import service as attachments
from engine.attachments import storage as storage_mod
from engine.attachments.checks import KINDS, TAIL, Inspector, sanitise_filename
from engine.attachments.models import Attachment
from engine.audit.models import AuditEvent
from engine.errors import Forbidden, Invalid, NotFound, TooLarge
from engine.formversions import service as formversions
from engine.users import service as users
from tests import attachment_files as files
from tests.factories import application_data, complete, open_task, review_data, start_demo


@pytest.fixture(scope="module")
def s3_server():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def _s3(endpoint: str) -> storage_mod.S3Storage:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    bucket = f"files-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket)
    return storage_mod.S3Storage(bucket, "case-files", client=client)


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path, app_ctx):
    before = storage_mod.current()
    if request.param == "local":
        chosen: storage_mod.Storage = storage_mod.LocalStorage(tmp_path / "files")
    else:
        chosen = _s3(request.getfixturevalue("s3_server"))
    storage_mod.configure(chosen)
    yield chosen
    storage_mod.configure(before)


def _user(session, name):
    return users.by_username(session, name)


def _application_task(session):
    instance = start_demo(session)
    return instance, open_task(session, instance.id, "application")


def _upload(
    session,
    task,
    data: bytes,
    *,
    field="supporting_documents",
    name="scan.pdf",
    user="pt_advisor",
    chunk=65536,
):
    chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)] or [b""]
    return attachments.upload(session, _user(session, user), task.id, field, name, chunks)


def _download(session, attachment_id, user="pt_advisor"):
    row, body = attachments.download(session, _user(session, user), attachment_id)
    return row, b"".join(body)


def test_pdf_round_trip_encrypted_at_rest_and_audited(session, store):
    _instance, task = _application_task(session)
    data = files.pdf(os.urandom(3 * 1024 * 1024))  # several S3 parts' worth would be slower; 3 MB streams
    row = _upload(session, task, data, name="../../etc/收入证明.PDF")
    assert row.kind == "pdf" and row.size == len(data)
    assert row.sha256 == hashlib.sha256(data).hexdigest()
    assert row.filename == "收入证明.pdf"
    stored = b"".join(store.read(row.storage_key))
    assert not stored.startswith(b"%PDF") and data[:4096] not in stored
    assert row.wrapped_key.startswith("enc1:")  # the file key under the personal-data keys
    got, body = _download(session, row.id)
    assert body == data
    events = session.scalars(
        select(AuditEvent).where(AuditEvent.instance_id == row.instance_id).order_by(AuditEvent.id)
    ).all()
    uploaded = next(e for e in events if e.action == "attachment.uploaded")
    downloaded = next(e for e in events if e.action == "attachment.downloaded")
    assert uploaded.details["sha256"] == row.sha256 == downloaded.details["sha256"]


@pytest.mark.parametrize("piece", [1_000, 70_000, 300_001])
def test_inspector_hashes_and_keeps_the_tail_whatever_the_pieces(piece):
    """The SHA-256 (in a worker thread from the first large piece on) is the whole stream's, in order; the
    tail is the stream's last bytes; the thread ends on close, after a refusal too."""
    data = files.pdf(os.urandom(1_500_000))
    inspector = Inspector(len(data), "too large")
    inspector.kind = KINDS["pdf"]
    pieces = [data[:10], data[10:5_000]] + [data[i : i + piece] for i in range(5_000, len(data), piece)]
    try:
        for chunk in pieces:
            inspector.feed(chunk)
        assert inspector.finish() == KINDS["pdf"]
        assert inspector.sha256() == hashlib.sha256(data).hexdigest()
        assert inspector.tail == data[-TAIL:] and inspector.size == len(data)
    finally:
        inspector.close()
    refusing = Inspector(len(data) - 1, "too large")
    with pytest.raises(TooLarge):
        try:
            for chunk in pieces:
                refusing.feed(chunk)
        finally:
            refusing.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("upload-sha256")]


@pytest.mark.parametrize(
    "sizes",
    [
        [cipher.CHUNK] * 3,  # whole records as the decoder hands them: encrypted as they come
        [cipher.CHUNK] * 3 + [5],
        [5] + [cipher.CHUNK] * 3,  # a small piece first: everything after it goes through the buffer
        [cipher.CHUNK, 100, cipher.CHUNK, cipher.CHUNK],
        [cipher.CHUNK - 1, 1, cipher.CHUNK],
        [cipher.CHUNK],
        [1],
    ],
    ids=["whole", "whole-then-small", "small-first", "mixed", "split-record", "one-record", "one-byte"],
)
def test_encrypted_records_do_not_depend_on_the_pieces(sizes):
    """The stream has the same records (all full but the flagged last one) whether the pieces come in
    whole records or not, and decrypts to the input; a file cut after a full record is refused."""
    data = os.urandom(sum(sizes))
    key = cipher.new_key()
    pieces, at = [], 0
    for n in sizes:
        pieces.append(data[at : at + n])
        at += n
    stream = b"".join(cipher.encrypt(key, pieces))
    records = -(-len(data) // cipher.CHUNK)
    assert len(stream) == cipher.HEADER + len(data) + records * cipher.TAG
    assert b"".join(cipher.decrypt(key, [stream])) == data
    assert b"".join(cipher.decrypt(key, [stream[:5000], stream[5000:]])) == data
    if records > 1:
        with pytest.raises(cipher.CorruptFile):
            b"".join(cipher.decrypt(key, [stream[: cipher.HEADER + cipher.CHUNK + cipher.TAG]]))


def test_a_large_local_write_is_synced_as_it_goes_and_intact(tmp_path, monkeypatch):
    """Past the flusher's step, pages go to disk from a helper thread while the write goes on (counted
    here); the file is whole, the thread gone, and a failing source leaves no partial file behind."""
    store = storage_mod.LocalStorage(tmp_path / "files")
    synced, first_sync = [], threading.Event()
    real = os.fdatasync

    def counted(fd):
        synced.append(fd)
        real(fd)
        first_sync.set()

    monkeypatch.setattr(storage_mod.os, "fdatasync", counted)
    monkeypatch.setattr(storage_mod._Flusher, "EVERY", 1024 * 1024)
    data = os.urandom(5 * 1024 * 1024 + 7)
    key = storage_mod.new_key()

    def pieces():
        for i in range(0, len(data), 256 * 1024):
            if i == 2 * 1024 * 1024:  # past the step: the helper syncs while the write waits here
                assert first_sync.wait(30)
            yield data[i : i + 256 * 1024]

    assert store.write(key, pieces()) == len(data)
    assert b"".join(store.read(key)) == data
    assert synced  # a sync ran before the end (the generator waited for it mid-write)
    assert not [t for t in threading.enumerate() if t.name == "upload-flush"]

    def failing():
        yield data[: 3 * 1024 * 1024]
        raise OSError("the client went away")

    with pytest.raises(OSError, match="went away"):
        store.write(storage_mod.new_key(), failing())
    assert [k for k, _ in store.listing()] == [key]
    assert not list((tmp_path / "files").rglob("*.partial"))
    assert not [t for t in threading.enumerate() if t.name == "upload-flush"]


def test_tampered_object_is_refused(session, store):
    _instance, task = _application_task(session)
    row = _upload(session, task, files.pdf(b"x" * 700_000))
    stored = bytearray(b"".join(store.read(row.storage_key)))
    stored[300_000] ^= 1
    store.write(row.storage_key, [bytes(stored)])
    with pytest.raises(cipher.CorruptFile):
        _download(session, row.id)
    store.write(
        row.storage_key, [bytes(stored[: cipher.CHUNK + cipher.TAG + cipher.HEADER])]
    )  # cut at a record boundary
    with pytest.raises(cipher.CorruptFile):
        _download(session, row.id)


def test_photo_location_stripped_thumbnail_made(session, store):
    _instance, task = _application_task(session)
    data = files.jpeg(gps=True)
    assert 0x8825 in Image.open(io.BytesIO(data)).getexif()
    row = _upload(session, task, data, name="IMG_0001.jpeg")
    assert row.kind == "jpeg" and row.location_removed and row.thumb_key
    _row, body = _download(session, row.id)
    image = Image.open(io.BytesIO(body))
    assert 0x8825 not in image.getexif() and image.getexif()[0x010F] == "TestCam"
    assert row.sha256 == hashlib.sha256(body).hexdigest()  # of what is stored
    thumb = Image.open(io.BytesIO(attachments.thumbnail(session, _user(session, "pt_advisor"), row.id)))
    assert thumb.format == "JPEG" and max(thumb.size) <= 320


def test_visit_photo_keeps_its_location(session, store):
    instance = start_demo(session)
    complete(session, "pt_advisor", instance.id, "application", application_data())
    complete(session, "pt_officer", instance.id, "review", review_data())
    visit = open_task(session, instance.id, "visit")
    row = _upload(session, visit, files.jpeg(gps=True), field="visit_photos")
    assert not row.location_removed
    _row, body = _download(session, row.id, user="pt_officer")
    assert 0x8825 in Image.open(io.BytesIO(body)).getexif()
    with pytest.raises(Invalid, match="只接受"):
        _upload(session, visit, files.pdf(), field="visit_photos")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (files.EXE, "可执行文件"),
        (files.HTML, "网页或 SVG"),
        (files.SVG, "网页或 SVG"),
        (files.zip_bomb(), "压缩炸弹"),
        (files.plain_zip(), "不接受压缩包"),
        (files.CORRUPT_PDF, "PDF 文件不完整或已损坏"),
        (files.CORRUPT_JPEG, "图片已损坏"),
        (b"", "文件为空"),
        (b"hello, plain text", "无法识别"),
        (files.pdf(b"<< /S /JavaScript /JS (app.alert(1)) >>"), "含脚本"),
    ],
    ids=["exe", "html", "svg", "zip-bomb", "zip", "corrupt-pdf", "corrupt-jpeg", "empty", "text", "pdf-js"],
)
def test_refused_content_leaves_nothing(session, store, data, reason):
    _instance, task = _application_task(session)
    with pytest.raises(Invalid, match=reason) as refused:
        _upload(session, task, data, name="innocent.pdf")
    assert refused.value.fields  # a reason on the field
    assert list(store.listing()) == []
    assert session.scalars(select(Attachment)).all() == []


def test_size_limits_per_field_and_per_case(session, store):
    _instance, task = _application_task(session)
    with pytest.raises(TooLarge, match="10 MB"):
        _upload(session, task, files.pdf(b"0" * (11 * 1024 * 1024)), field="identity_document")
    assert list(store.listing()) == []
    assert not [t for t in threading.enumerate() if t.name.startswith("upload-sha256")]  # the hasher ended
    attachments.configure(case_max_mb=1)
    try:
        _upload(session, task, files.pdf(b"0" * 600_000))
        with pytest.raises(TooLarge, match="本案材料总量"):
            _upload(session, task, files.pdf(b"0" * 600_000))
    finally:
        attachments.configure(case_max_mb=500)
    assert len(list(store.listing())) == 1


def test_office_documents_and_one_file_fields(session, store):
    _instance, task = _application_task(session)
    row = _upload(session, task, files.docx(), name="协议.docx")
    assert row.kind == "docx" and row.filename == "协议.docx"
    _upload(session, task, files.png(), field="identity_document", name="id.png")
    with pytest.raises(Invalid, match="只能上传一个文件"):
        _upload(session, task, files.png(), field="identity_document", name="id2.png")
    with pytest.raises(Invalid, match="没有这项材料"):
        _upload(session, task, files.png(), field="household_size")


def test_scope_and_personal_documents(session, store):
    instance, task = _application_task(session)
    with pytest.raises(Forbidden):
        _upload(session, task, files.pdf(), user="pt_other_advisor")
    with pytest.raises(NotFound):
        attachments.upload(
            session, _user(session, "pt_advisor"), 10**8, "supporting_documents", "x.pdf", [b""]
        )
    doc = _upload(session, task, files.pdf())
    card = _upload(session, task, files.png(), field="identity_document", name="id.png")
    with pytest.raises(Forbidden):
        _download(session, doc.id, user="pt_other_advisor")
    with pytest.raises(Forbidden, match="个人信息"):
        _download(session, card.id, user="pt_advisor")  # the advisor sees the case, not ID documents
    assert _download(session, card.id, user="pt_officer")[1] == files.png()
    assert _download(session, doc.id, user="pt_head")[1] == files.pdf()
    with pytest.raises(NotFound):
        attachments.download(session, _user(session, "pt_advisor"), 10**8)
    _instance, listed = attachments.list_visible(session, _user(session, "pt_officer"), instance.id)
    assert [a.id for a in listed] == [doc.id, card.id]


def test_required_materials_block_completion_and_link_the_record(session, store):
    admin = _user(session, "admin")
    raw = copy.deepcopy(dict(formstore.get("demo_application").raw))
    for f in raw["fields"]:
        if f["name"] == "supporting_documents":
            f["required"] = True
        if f["name"] == "identity_document":
            f["required_if"] = "household_size > 2"
    formversions.save(session, "demo_application", raw, actor_id=admin.id)
    instance, task = _application_task(session)
    advisor = _user(session, "pt_advisor")
    from engine.tasks import service as tasks

    with pytest.raises(Invalid) as refused:
        tasks.complete(session, advisor, task.id, application_data(household_size=3))
    assert "缺少必需材料：证明材料、身份证件" in refused.value.message
    assert set(refused.value.fields) == {"supporting_documents", "identity_document"}
    doc = _upload(session, task, files.pdf())
    items = materials.of_task(session, task, {"household_size": 3})
    assert [(i.field.name, i.required, i.done) for i in items] == [
        ("supporting_documents", True, True),
        ("identity_document", True, False),
    ]
    with pytest.raises(Invalid, match="不是为此项上传的"):
        tasks.complete(
            session, advisor, task.id, application_data(household_size=2, supporting_documents=[doc.id + 99])
        )
    done = tasks.complete(session, advisor, task.id, application_data(household_size=2))
    from engine.records import service as records

    record = records.get_of_task(session, done.id)
    assert record.data["supporting_documents"] == [doc.id]
    with pytest.raises(Exception, match="已办结"):
        _upload(session, task, files.pdf())


def test_removal_and_orphan_sweep(session, store):
    _instance, task = _application_task(session)
    kept = _upload(session, task, files.jpeg())
    gone = _upload(session, task, files.pdf())
    attachments.remove(session, _user(session, "pt_advisor"), gone.id)
    session.flush()
    orphan = storage_mod.new_key()
    store.write(orphan, [b"left by a crash"])
    # times from the store's own clock (file modification times are the machine's, whatever the test clock)
    written = dict(store.listing())[orphan]
    later = written + dt.timedelta(hours=7)
    assert sweep.sweep(session, now=written + dt.timedelta(minutes=1)) == []  # within the grace period: kept
    removed = sweep.sweep(session, now=later)
    assert sorted(removed) == sorted([orphan, gone.storage_key])
    assert sorted(k for k, _ in store.listing()) == sorted([kept.storage_key, kept.thumb_key])


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd.pdf"),
        ("C:\\Users\\a\\申请书.exe", "申请书.pdf"),
        ('a<b>c:"d|e?.pdf', "a_b_c_d_e.pdf"),
        ("", "file.pdf"),
        ("..", "file.pdf"),
        ("x" * 300 + ".pdf", "x" * 100 + ".pdf"),
    ],
)
def test_filenames_sanitised(name, expected):
    assert sanitise_filename(name, KINDS["pdf"]) == expected


def test_storage_from_url(tmp_path):
    assert isinstance(storage_mod.from_url(None, default_dir=tmp_path), storage_mod.LocalStorage)
    assert isinstance(storage_mod.from_url(str(tmp_path), default_dir="x"), storage_mod.LocalStorage)
    s3 = storage_mod.from_url("s3://bucket/some/prefix", default_dir="x", endpoint_url="http://127.0.0.1:9")
    assert isinstance(s3, storage_mod.S3Storage) and s3.describe() == "s3://bucket/some/prefix/"
    with pytest.raises(storage_mod.StorageError):
        storage_mod.from_url("ftp://host/x", default_dir="x")


def test_key_rotation_rewraps_file_keys(session, store):
    """``assistflow keys rotate`` re-wraps each file's key: the file opens with the old data key retired."""
    from engine import crypto, keys

    saved = crypto._keyring
    try:
        _instance, task = _application_task(session)
        row = _upload(session, task, files.pdf(b"rotate me"))
        session.commit()
        old = [f._signing_key + f._encryption_key for f in crypto.keyring().fernets]
        assert old
        old_keys = ",".join(base64.urlsafe_b64encode(k).decode() for k in old)
        index_key = base64.urlsafe_b64encode(crypto.keyring().index_key).decode()
        new_key, _ = crypto.generate()
        crypto.configure(f"{new_key},{old_keys}", index_key)
        counts = keys.rotate(session)
        session.commit()
        assert counts["attachment.wrapped_key"] == 1
        crypto.configure(new_key, index_key)  # the old key retired
        session.expire_all()
        assert _download(session, row.id)[1] == files.pdf(b"rotate me")
    finally:
        crypto._keyring = saved
