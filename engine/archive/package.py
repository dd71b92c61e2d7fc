"""Exporting the archive package (电子档案) of an ended case: one zip file holding

- ``case_file.pdf`` — the case file (一户一档; the stored one when it was printed, else made now);
- ``originals/<id>-<name>`` — every material and generated document of the case, decrypted;
- ``records.json`` — the case (its data), every step record (its data in full) and the materials list;
- ``audit_events.json`` — every audit event of the case as stored, with its hash-chain link (``seq``,
  ``hash`` and the previous link's ``prev_hash``), so that each link can be recomputed offline;
- ``manifest.json`` — size and SHA-256 of every other file, signed with HMAC-SHA256 under the audit
  key (``ASSISTFLOW_AUDIT_KEYS``, :mod:`engine.audit.signing`), key id named.

The package holds personal data in clear (the originals, the records): it belongs in the archive's own
protected storage. :func:`engine.archive.verify.verify` checks it without a database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import zipfile
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, cast

from sqlalchemy import JSON, Table, select, type_coerce
from sqlalchemy.orm import Session

from engine.attachments import cipher
from engine.attachments import storage as storage_mod
from engine.attachments.models import Attachment
from engine.audit import chain, signing
from engine.audit.models import AuditEvent, AuditSeal
from engine.documents import casefile, template_versions
from engine.documents import service as documents
from engine.errors import Conflict, NotFound
from engine.forms.model import msg
from engine.instances.models import InstanceStatus, ProcessInstance
from engine.records.models import StepRecord
from engine.users.models import User

FORMAT = "assistflow-archive/1"
MANIFEST = "manifest.json"
MANIFEST_DOMAIN = b"assistflow-archive-manifest-v1\n"
CHUNK = 1024 * 1024
_EVENTS = cast(Table, AuditEvent.__table__)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).isoformat(timespec="microseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def dumps(value: Any) -> bytes:
    return json.dumps(_plain(value), ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")


def manifest_body(manifest: dict[str, Any]) -> bytes:
    """The bytes the manifest's signature covers: the manifest without its ``signature``, canonical."""
    unsigned = {k: v for k, v in manifest.items() if k != "signature"}
    return json.dumps(unsigned, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sign_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    ring = signing.keys()
    mac = ring.mac(ring.current_id, MANIFEST_DOMAIN, manifest_body(manifest))
    return {**manifest, "signature": {"algorithm": "HMAC-SHA256", "key_id": ring.current_id, "mac": mac}}


class _Writer:
    """Files written into the zip, each hashed as it is written (chunk by chunk)."""

    def __init__(self, zf: zipfile.ZipFile) -> None:
        self.zf = zf
        self.files: list[dict[str, Any]] = []

    def add(self, path: str, chunks: Iterable[bytes]) -> None:
        digest, size = hashlib.sha256(), 0
        with self.zf.open(path, "w", force_zip64=True) as out:
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        self.files.append({"path": path, "size": size, "sha256": digest.hexdigest()})


def _who(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    found = session.scalars(select(User).where(User.id.in_(ids)))
    return {u.id: u.username for u in found}


def _events(session: Session, instance_id: int) -> list[dict[str, Any]]:
    rows = session.execute(
        select(
            *[c for c in _EVENTS.c if c.name != "details"],
            type_coerce(_EVENTS.c.details, JSON(none_as_null=True)).label("details"),
            AuditSeal.seq,
            AuditSeal.hash,
        )
        .outerjoin(AuditSeal, AuditSeal.event_id == _EVENTS.c.id)
        .where(_EVENTS.c.instance_id == instance_id)
        .order_by(_EVENTS.c.id)
    ).mappings()
    events = [dict(r) for r in rows]
    seqs = [e["seq"] - 1 for e in events if e["seq"] is not None and e["seq"] > 1]
    prev: dict[int, str] = {}
    if seqs:
        found = session.execute(select(AuditSeal.seq, AuditSeal.hash).where(AuditSeal.seq.in_(seqs)))
        prev = {int(seq): str(h) for seq, h in found}
    for e in events:
        if e["seq"] is None:
            e["prev_hash"] = None
        else:
            e["prev_hash"] = chain.GENESIS if e["seq"] == 1 else prev.get(e["seq"] - 1)
        e["at"] = chain._at(e["at"])  # as the chain hashes it
    return events


def _records(session: Session, instance: ProcessInstance, materials: list[Attachment]) -> dict[str, Any]:
    rows = list(
        session.scalars(
            select(StepRecord).where(StepRecord.instance_id == instance.id).order_by(StepRecord.id)
        )
    )
    names = _who(
        session,
        {r.actor_id for r in rows if r.actor_id} | {a.uploaded_by_id for a in materials if a.uploaded_by_id},
    )
    return {
        "case": {
            "id": instance.id,
            "process_key": instance.process_key,
            "definition_version": instance.definition.version,
            "business_key": instance.business_key,
            "org_unit": instance.org_unit.code,
            "status": instance.status.value,
            "started_at": instance.started_at,
            "ended_at": instance.ended_at,
            "parent_id": instance.parent_id,
            "data": dict(instance.data or {}),
        },
        "records": [
            {
                "id": r.id,
                "task_id": r.task_id,
                "step": r.bpmn_id,
                "name": r.name,
                "iteration": r.iteration,
                "form_key": r.form_key,
                "form_version": r.form_version,
                "actor": names.get(r.actor_id or 0),
                "completed_at": r.completed_at,
                "source": r.source,
                "data": dict(r.data or {}),
                "derived": dict(r.derived or {}),
            }
            for r in rows
        ],
        "materials": [
            {
                "id": a.id,
                "task_id": a.task_id,
                "field": a.field,
                "filename": a.filename,
                "kind": a.kind,
                "media_type": a.media_type,
                "size": a.size,
                "sha256": a.sha256,
                "uploaded_by": names.get(a.uploaded_by_id or 0),
                "uploaded_at": a.uploaded_at,
                "path": _original_path(a),
            }
            for a in materials
        ],
    }


def _original_path(a: Attachment) -> str:
    return f"originals/{a.id}-{a.filename}"


def export(session: Session, instance_id: int, out: Path | IO[bytes], *, now: dt.datetime) -> dict[str, Any]:
    """Write the package of an ended case to ``out``; returns its manifest. 404 unknown case, 409 while
    it runs. Audit events still pending are not chained yet: seal first (the CLI does)."""
    instance = session.get(ProcessInstance, instance_id)
    if instance is None:
        raise NotFound(msg(f"案件不存在：{instance_id}", f"case {instance_id} not found"))
    if not casefile.closed(instance):
        raise Conflict(msg("案件尚未办结，不能归档", "The case has not ended: nothing to archive yet"))
    materials = list(
        session.scalars(
            select(Attachment).where(Attachment.instance_id == instance.id).order_by(Attachment.id)
        )
    )
    stored = documents.stored_case_file(session, instance.id)
    store = storage_mod.current()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        w = _Writer(zf)
        if stored is not None:
            w.add("case_file.pdf", documents.stored_pdf(stored))
        else:
            _version, source = template_versions.current(session, casefile.NAME)
            w.add("case_file.pdf", [casefile.render_pdf(session, instance, source).pdf])
        for a in materials:
            if stored is not None and a.id == stored.id:
                continue
            w.add(_original_path(a), cipher.decrypt(cipher.unwrap(a.wrapped_key), store.read(a.storage_key)))
        w.add("records.json", [dumps(_records(session, instance, materials))])
        w.add("audit_events.json", [dumps(_events(session, instance.id))])
        manifest = sign_manifest(
            {
                "format": FORMAT,
                "case_id": instance.id,
                "case_number": instance.business_key,
                "process_key": instance.process_key,
                "created_at": _plain(now),
                "files": w.files,
            }
        )
        zf.writestr(MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=1))
    return manifest


def not_yet_archived(session: Session, *, limit: int = 1000) -> list[int]:
    """Ended cases (completed or terminated) with no ``archive.exported`` event yet, oldest end first."""
    exported = select(AuditEvent.instance_id).where(
        AuditEvent.action == "archive.exported", AuditEvent.instance_id == ProcessInstance.id
    )
    stmt = (
        select(ProcessInstance.id)
        .where(
            ProcessInstance.status.in_((InstanceStatus.COMPLETED, InstanceStatus.TERMINATED)),
            ~exported.exists(),
        )
        .order_by(ProcessInstance.ended_at, ProcessInstance.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def package_name(instance: ProcessInstance) -> str:
    """The file name of a case's package: its case number made safe for a file name, and its id."""
    number = "".join(c if c.isalnum() or c in "-_." else "-" for c in (instance.business_key or ""))
    return f"{number + '-' if number else ''}{instance.id}.zip"
