"""Which form definition a task uses, and saving new versions of a form.

A form's versions: the file ``forms/<key>.json`` (shipped with the code, "version ``None``") and the
versions admins save here (1, 2, …). New tasks take the latest saved version, or the file when none
was saved; the task records it (``human_task.form_version``) and is validated and shown with it until
it is done, whatever is saved later. Saved versions never change, so their parsed forms are cached by
``(key, version)``.
"""

from __future__ import annotations

import functools
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import formstore
from engine.audit import service as audit
from engine.audit.models import AuditAction
from engine.errors import Invalid, NotFound
from engine.forms import FormDefinition, FormError, parse_form
from engine.formversions.models import FormVersion
from engine.users.models import User

_CACHE_SIZE = 512
_cache: OrderedDict[tuple[str, int], FormDefinition] = OrderedDict()
_lock = threading.Lock()
_WHERE_FIELD = re.compile(r"field '([^']+)'")
_WHERE_RULE = re.compile(r"rule (\d+)")


def clear_cache() -> None:
    with _lock:
        _cache.clear()


def _cached(key: str, version: int) -> FormDefinition | None:
    with _lock:
        form = _cache.get((key, version))
        if form is not None:
            _cache.move_to_end((key, version))
        return form


def _remember(key: str, version: int, form: FormDefinition) -> FormDefinition:
    with _lock:
        _cache[(key, version)] = form
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return form


def latest_versions(session: Session, keys: Iterable[str]) -> dict[str, int]:
    """The latest saved version number of each key that has one (one grouped query)."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    rows = session.execute(
        select(FormVersion.key, func.max(FormVersion.version))
        .where(FormVersion.key.in_(wanted))
        .group_by(FormVersion.key)
    )
    return {key: int(v) for key, v in rows}


@functools.lru_cache(maxsize=1024)
def latest_version_expr(key: str) -> Any:
    """SQL for the latest saved version of ``key`` (NULL: the file), to be evaluated inside an INSERT
    (built once per key: every new task carries one)."""
    return select(func.max(FormVersion.version)).where(FormVersion.key == key).scalar_subquery()


def form_at(session: Session, key: str, version: int | None) -> FormDefinition | None:
    """The form ``key`` as it was at ``version`` (``None``: the file); ``None`` if there is none."""
    if version is None:
        return formstore.get(key)
    cached = _cached(key, version)
    if cached is not None:
        return cached
    row = session.scalar(select(FormVersion).where(FormVersion.key == key, FormVersion.version == version))
    if row is None:
        return None
    return _remember(key, version, parse_form(row.definition))


def current(session: Session, key: str) -> tuple[FormDefinition | None, int | None]:
    """The form new tasks of ``key`` get now, with its version (``None``: the file)."""
    version = latest_versions(session, [key]).get(key)
    return form_at(session, key, version), version


def form_problems(err: FormError) -> dict[str, list[str]]:
    """A loader error as ``{path: [reason]}``: ``fields.<name>``, ``rules.<n>`` or ``_form``."""
    text = str(err)
    if m := _WHERE_FIELD.search(text):
        path = f"fields.{m.group(1)}"
    elif m := _WHERE_RULE.search(text):
        path = f"rules.{m.group(1)}"
    else:
        path = "_form"
    return {path: [f"表单定义无效 / invalid form definition: {text}"]}


def check(key: str, raw: Any) -> FormDefinition:
    """Parse a submitted definition of form ``key`` with the same loader as the files; 422 if invalid."""
    if formstore.get(key) is None:
        raise NotFound(f"表单不存在 / form '{key}' not found")
    if isinstance(raw, dict) and "key" not in raw:
        raw = {**raw, "key": key}
    try:
        form = parse_form(raw)
    except FormError as err:
        raise Invalid("表单定义无效 / invalid form definition", form_problems(err)) from err
    if form.key != key:
        raise Invalid.on("key", f"表单标识必须是 {key} / the form key must be '{key}'")
    return form


def save(session: Session, key: str, raw: Any, *, actor_id: int | None) -> FormVersion:
    """Store a new version of form ``key`` (only forms that exist as files may get versions)."""
    form = check(key, raw)
    latest = latest_versions(session, [key]).get(key, 0)
    row = FormVersion(
        key=key,
        version=latest + 1,
        definition=dict(form.raw),
        sha256=form.sha256,
        created_by_id=actor_id,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        AuditAction.FORM_VERSION_SAVED,
        actor_id=actor_id,
        details={"key": key, "version": row.version, "sha256": row.sha256},
    )
    return row


@dataclass(frozen=True)
class FormSummary:
    key: str
    title: dict[str, str]
    latest_version: int | None  # None: the file is current


def list_forms(session: Session) -> list[FormSummary]:
    latest = latest_versions(session, formstore.all_forms())
    out = []
    for key in sorted(formstore.all_forms()):
        form, version = form_at(session, key, latest.get(key)), latest.get(key)
        out.append(FormSummary(key, dict(form.title) if form else {}, version))
    return out


@dataclass(frozen=True)
class VersionRow:
    version: int
    sha256: str
    created_by: str | None
    created_at: Any


def versions(session: Session, key: str) -> list[VersionRow]:
    """Saved versions of ``key``, newest first (the file is not listed)."""
    if formstore.get(key) is None:
        raise NotFound(f"表单不存在 / form '{key}' not found")
    rows = session.execute(
        select(FormVersion.version, FormVersion.sha256, User.username, FormVersion.created_at)
        .outerjoin(User, User.id == FormVersion.created_by_id)
        .where(FormVersion.key == key)
        .order_by(FormVersion.version.desc())
    )
    return [VersionRow(v, sha, who, at) for v, sha, who, at in rows]
