"""Versions of the document templates, as forms have versions: the file
``engine/documents/templates/<kind>.html`` is the base (version ``None``); an admin saves a new text
as version 1, 2, …; the latest fills every document printed from then on, and the generated document
records the version it was filled from (``attachment.template_version``, and the audit event
``document.generated``). A stored document is never filled again, so a reprint stays identical.

A saved text is parsed in the sandbox the templates run in (:mod:`engine.documents.render`) and must
fill: a syntax error or a template that fails on a sample of the kind's values (a misspelt value name)
is refused with a 422 on ``source``, nothing stored. Saving is audited (``document.template_saved``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.audit import service as audit
from engine.audit.models import AuditAction
from engine.documents import render
from engine.documents.models import DocumentTemplateVersion
from engine.errors import Invalid, NotFound
from engine.forms.model import msg
from engine.users.models import User

MAX_SOURCE_CHARS = 200_000


def latest_version(session: Session, kind: str) -> int | None:
    found = session.scalar(
        select(func.max(DocumentTemplateVersion.version)).where(DocumentTemplateVersion.kind == kind)
    )
    return int(found) if found is not None else None


def source_at(session: Session, kind: str, template: str, version: int | None) -> str:
    """The template text of ``kind`` at ``version`` (``None``: the file ``template``)."""
    if version is None:
        return render.file_source(template)
    row = session.scalar(
        select(DocumentTemplateVersion).where(
            DocumentTemplateVersion.kind == kind, DocumentTemplateVersion.version == version
        )
    )
    if row is None:
        raise NotFound(msg(f"模板版本不存在：{kind} v{version}", f"no template version {kind} v{version}"))
    return row.source


def current(session: Session, kind: str) -> tuple[int | None, str | None]:
    """(version, text) new documents of ``kind`` are filled from; (None, None): the file."""
    version = latest_version(session, kind)
    if version is None:
        return None, None
    return version, source_at(session, kind, "", version)


def save(
    session: Session, user: User, kind: str, template: str, source: str, sample: dict[str, Any]
) -> DocumentTemplateVersion:
    """A new version of ``kind``'s template, checked by filling it with ``sample``; audited."""
    if not source.strip():
        raise Invalid.on("source", msg("模板不能为空", "the template is empty"))
    if len(source) > MAX_SOURCE_CHARS:
        raise Invalid.on(
            "source", msg(f"模板过长（超过 {MAX_SOURCE_CHARS} 字符）", "the template is too long")
        )
    problem = render.problem(source, sample)
    if problem is not None:
        raise Invalid.on("source", problem)
    row = DocumentTemplateVersion(
        kind=kind,
        version=(latest_version(session, kind) or 0) + 1,
        source=source,
        sha256=hashlib.sha256(source.encode("utf-8")).hexdigest(),
        created_by_id=user.id,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        AuditAction.DOCUMENT_TEMPLATE_SAVED,
        actor_id=user.id,
        details={"kind": kind, "version": row.version, "sha256": row.sha256},
    )
    return row


@dataclass(frozen=True)
class VersionRow:
    version: int
    sha256: str
    created_by: str | None
    created_at: Any


def versions(session: Session, kind: str) -> list[VersionRow]:
    """Saved versions of ``kind``, newest first (the file is not listed)."""
    rows = session.execute(
        select(
            DocumentTemplateVersion.version,
            DocumentTemplateVersion.sha256,
            User.display_name,
            DocumentTemplateVersion.created_at,
        )
        .outerjoin(User, User.id == DocumentTemplateVersion.created_by_id)
        .where(DocumentTemplateVersion.kind == kind)
        .order_by(DocumentTemplateVersion.version.desc())
    )
    return [VersionRow(v, sha, who, at) for v, sha, who, at in rows]
