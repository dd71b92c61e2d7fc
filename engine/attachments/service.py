"""Uploading, listing, downloading and removing attachments.

An upload names an open task and one of its form's ``file`` fields; only someone who may work on the
task uploads. The stream is checked as it passes (kind by content, size against the field's and the
case's limits, SHA-256), encrypted record by record under a fresh file key and written to the store;
images are decoded whole (bounded by ``IMAGE_MAX_BYTES``), stripped of their location unless the field
keeps it, and get a thumbnail. Any refusal removes what was written: nothing is stored. The upload is
audited (``attachment.uploaded`` with the SHA-256), and so is every download (``attachment.downloaded``).

Downloads go by attachment id, checked against the case's scope (404 unknown, 403 outside it); files
of a ``personal`` field (identity documents) only for the roles that verify identity for the case.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from itertools import chain
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import privacy
from engine.attachments import cipher, images
from engine.attachments import storage as storage_mod
from engine.attachments.checks import GROUP_LABELS, Inspector, Kind, refuse, sanitise_filename, sniff
from engine.attachments.models import Attachment
from engine.audit import service as audit
from engine.audit.models import AuditAction
from engine.errors import Conflict, Forbidden, Invalid, NotFound
from engine.forms.model import FieldDef, _text, msg
from engine.households.models import CaseHousehold
from engine.instances import service as instances
from engine.tasks import service as tasks
from engine.tasks.models import OPEN_STATUSES, HumanTask
from engine.users.models import User

MB = 1024 * 1024
SNIFF_BYTES = 512
IMAGE_MAX_BYTES = 30 * MB  # photos are decoded whole: bounded here whatever the field allows


class Limits:
    case_max_bytes = 500 * MB


LIMITS = Limits()


def configure(*, case_max_mb: int | None = None) -> None:
    if case_max_mb is not None:
        LIMITS.case_max_bytes = case_max_mb * MB


def _field_of(row: HumanTask, name: str | None) -> FieldDef:
    form = tasks.form_of(row)
    found = form.field(name) if form is not None and name else None
    if found is None or found.type != "file":
        raise Invalid.on("field", msg("此步骤没有这项材料", "This step has no such material"))
    return found


def case_bytes(session: Session, instance_id: int) -> int:
    return int(
        session.scalar(
            select(func.coalesce(func.sum(Attachment.size), 0)).where(Attachment.instance_id == instance_id)
        )
        or 0
    )


def _household_of(session: Session, instance_id: int) -> int | None:
    link = session.get(CaseHousehold, instance_id)
    return link.household_id if link is not None else None


def _first_bytes(chunks: Iterator[bytes]) -> bytes:
    first = b""
    for chunk in chunks:
        first += chunk
        if len(first) >= SNIFF_BYTES:
            break
    return first


def _check_group(kind: Kind, f: FieldDef) -> None:
    if kind.group not in f.kinds:
        allowed = "、".join(GROUP_LABELS[g].split(" / ")[0] for g in f.kinds)
        allowed_en = ", ".join(GROUP_LABELS[g].split(" / ")[-1] for g in f.kinds)
        raise refuse(f"此项只接受：{allowed}", f"This item takes only: {allowed_en}")


def upload(
    session: Session,
    user: User,
    task_id: int,
    field: str | None,
    filename: str | None,
    chunks: Iterable[bytes],
) -> Attachment:
    """Check, encrypt and store one file for a task's file field; its row (flushed) or a refusal."""
    row = tasks.get_visible(session, user, task_id)
    if row.state not in OPEN_STATUSES:
        raise Conflict(msg("该步骤已办结，不能再上传材料", "This step is finished: no more uploads"))
    if not tasks.may_work_on(session, user, row):
        raise Forbidden(msg("只有办理此步骤的人员可以上传材料", "Only the holder of this step may upload"))
    instance = instances.get_visible(session, user, row.instance_id)
    instances.ensure_running(instance)
    f = _field_of(row, field)
    label = _text(f.label, "zh") or f.name
    if not f.multiple and session.scalar(
        select(func.count()).where(Attachment.task_id == row.id, Attachment.field == f.name)
    ):
        raise Invalid.on(
            f.name,
            msg(
                f"「{label}」只能上传一个文件，请先移除已上传的",
                f"'{f.name}' takes one file: remove the first",
            ),
        )
    field_limit = (f.max_size_mb or 20) * MB
    case_left = LIMITS.case_max_bytes - case_bytes(session, instance.id)
    if case_left < field_limit:
        limit = max(case_left, 0)
        too_big = msg(
            f"本案材料总量已接近上限（{LIMITS.case_max_bytes // MB} MB）",
            f"The case's materials would exceed {LIMITS.case_max_bytes // MB} MB",
        )
    else:
        limit = field_limit
        too_big = msg(
            f"文件超过此项上限 {f.max_size_mb} MB", f"The file exceeds this item's {f.max_size_mb} MB"
        )
    stream = iter(chunks)
    first = _first_bytes(stream)
    kind = sniff(first[:4096])
    if kind is not None:
        _check_group(kind, f)
    image = kind is not None and kind.group == "image"
    inspector = Inspector(limit, too_big, hashing=not image)  # an image is hashed once processed
    inspector.kind = kind
    store = storage_mod.current()
    file_key = cipher.new_key()
    key = storage_mod.new_key()
    thumb_key: str | None = None
    removed = False
    if kind is not None and image:
        if limit > IMAGE_MAX_BYTES:
            inspector.limit = IMAGE_MAX_BYTES
            inspector.limit_message = msg(
                f"图片超过 {IMAGE_MAX_BYTES // MB} MB", f"Images are limited to {IMAGE_MAX_BYTES // MB} MB"
            )
        parts = []
        for chunk in chain([first], stream):
            inspector.feed(chunk)
            parts.append(chunk)
        processed = images.process(b"".join(parts), kind.name, keep_location=f.keep_location)
        del parts
        data, removed = processed.data, processed.location_removed
        sha256, size = hashlib.sha256(data).hexdigest(), len(data)
        store.write(key, cipher.encrypt(file_key, [data]))
        if processed.thumbnail is not None:
            thumb_key = key + ".thumb"
            try:
                store.write(thumb_key, cipher.encrypt(file_key, [processed.thumbnail]))
            except BaseException:
                store.delete(key)
                raise
    else:

        def passing() -> Iterator[bytes]:
            for chunk in chain([first], stream):
                inspector.feed(chunk)
                yield chunk

        try:
            store.write(key, cipher.encrypt(file_key, passing()))
            try:
                kind = inspector.finish()
                _check_group(kind, f)
                sha256 = inspector.sha256()
            except BaseException:
                store.delete(key)
                raise
        finally:
            inspector.close()  # the hashing thread ends, whatever happened
        size = inspector.size
    try:
        attachment = Attachment(
            instance_id=instance.id,
            task_id=row.id,
            field=f.name,
            household_id=_household_of(session, instance.id),
            filename=sanitise_filename(filename, kind),
            kind=kind.name,
            media_type=kind.media_type,
            size=size,
            sha256=sha256,
            storage_key=key,
            thumb_key=thumb_key,
            wrapped_key=cipher.wrap(file_key),
            location_removed=removed,
            uploaded_by_id=user.id,
        )
        session.add(attachment)
        session.flush()
        audit.record(
            session,
            AuditAction.ATTACHMENT_UPLOADED,
            actor_id=user.id,
            instance_id=instance.id,
            task_id=row.id,
            details={
                "attachment_id": attachment.id,
                "field": f.name,
                "filename": attachment.filename,
                "kind": kind.name,
                "size": size,
                "sha256": sha256,
                "location_removed": removed,
            },
        )
        session.flush()
    except BaseException:
        store.delete(key)
        if thumb_key:
            store.delete(thumb_key)
        raise
    return attachment


def get_visible(session: Session, user: User, attachment_id: int) -> tuple[Attachment, Any]:
    """The attachment and its case, for a user who may see the case (404 / 403 as for the case)."""
    found = session.get(Attachment, attachment_id)
    if found is None:
        raise NotFound(msg("材料不存在", f"attachment {attachment_id} not found"))
    return found, instances.get_visible(session, user, found.instance_id)


def field_def(session: Session, attachment: Attachment) -> FieldDef | None:
    row = session.get(HumanTask, attachment.task_id) if attachment.task_id else None
    form = tasks.form_of(row) if row is not None else None
    return form.field(attachment.field) if form is not None else None


def may_open(session: Session, user: User, attachment: Attachment, instance: Any) -> bool:
    """Personal documents (a ``personal`` field: ID cards, household register) only for the roles that
    verify identity for this case; other materials for everyone who sees the case."""
    f = field_def(session, attachment)
    return not (f is not None and f.personal) or privacy.may_reveal(session, user, instance)


def _require_open(session: Session, user: User, attachment: Attachment, instance: Any) -> None:
    if not may_open(session, user, attachment, instance):
        raise Forbidden(
            msg(
                "此材料含身份证件等个人信息，只有本案核实身份的岗位可以查看",
                "This material holds personal documents: only roles that verify identity for this case may open it",
            )
        )


def _plaintext(attachment: Attachment, key_name: str) -> Iterator[bytes]:
    stream = cipher.decrypt(cipher.unwrap(attachment.wrapped_key), storage_mod.current().read(key_name))
    first = next(stream, b"")  # a missing or altered object fails here, before any byte is sent
    return chain([first], stream)


def download(
    session: Session, user: User, attachment_id: int, *, channel: str = "api"
) -> tuple[Attachment, Iterator[bytes]]:
    """The attachment and its plaintext, chunk by chunk; the download is audited."""
    attachment, instance = get_visible(session, user, attachment_id)
    _require_open(session, user, attachment, instance)
    body = _plaintext(attachment, attachment.storage_key)
    audit.record(
        session,
        AuditAction.ATTACHMENT_DOWNLOADED,
        actor_id=user.id,
        instance_id=attachment.instance_id,
        task_id=attachment.task_id,
        details={
            "attachment_id": attachment.id,
            "filename": attachment.filename,
            "sha256": attachment.sha256,
            "channel": channel,
        },
    )
    session.flush()
    return attachment, body


def thumbnail(session: Session, user: User, attachment_id: int) -> bytes:
    """A small JPEG of an image attachment (404 for other kinds)."""
    attachment, instance = get_visible(session, user, attachment_id)
    _require_open(session, user, attachment, instance)
    if not attachment.thumb_key:
        raise NotFound(msg("此材料没有缩略图", "This attachment has no thumbnail"))
    return b"".join(_plaintext(attachment, attachment.thumb_key))


def of_instance(session: Session, instance_id: int) -> list[Attachment]:
    return list(
        session.scalars(
            select(Attachment).where(Attachment.instance_id == instance_id).order_by(Attachment.id)
        )
    )


def list_visible(session: Session, user: User, instance_id: int) -> tuple[Any, list[Attachment]]:
    instance = instances.get_visible(session, user, instance_id)
    return instance, of_instance(session, instance.id)


def of_task(session: Session, task_id: int) -> list[Attachment]:
    return list(
        session.scalars(select(Attachment).where(Attachment.task_id == task_id).order_by(Attachment.id))
    )


def of_household(session: Session, household_id: int) -> list[Attachment]:
    linked = select(CaseHousehold.instance_id).where(CaseHousehold.household_id == household_id)
    return list(
        session.scalars(
            select(Attachment)
            .where((Attachment.household_id == household_id) | Attachment.instance_id.in_(linked))
            .order_by(Attachment.id)
        )
    )


def remove(session: Session, user: User, attachment_id: int) -> Attachment:
    """Take an upload back while its step is open (the holder only); its objects go with the sweep."""
    attachment, _instance = get_visible(session, user, attachment_id)
    row = session.get(HumanTask, attachment.task_id) if attachment.task_id else None
    if row is None or row.state not in OPEN_STATUSES:
        raise Conflict(msg("该步骤已办结，材料不能再移除", "The step is finished: its materials stay"))
    if not tasks.may_work_on(session, user, row):
        raise Forbidden(msg("只有办理此步骤的人员可以移除材料", "Only the holder of this step may remove"))
    audit.record(
        session,
        AuditAction.ATTACHMENT_REMOVED,
        actor_id=user.id,
        instance_id=attachment.instance_id,
        task_id=attachment.task_id,
        details={
            "attachment_id": attachment.id,
            "filename": attachment.filename,
            "sha256": attachment.sha256,
        },
    )
    session.delete(attachment)
    session.flush()
    return attachment
