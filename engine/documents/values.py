"""Filling documents: a record's values as a reader sees them (choices by label, dates, masked numbers),
shared by every kind of document."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from engine import crypto, formstore
from engine.db import SHANGHAI
from engine.forms.model import _text
from engine.formversions import service as formversions
from engine.records import service as records
from engine.records.models import StepRecord


def local_date(when: dt.datetime | None) -> dt.date | None:
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(SHANGHAI).date()


def form_of(record: StepRecord) -> Any:
    if not record.form_key:
        return None
    session = Session.object_session(record)
    if record.form_version is not None and session is not None:
        return formversions.form_at(session, record.form_key, record.form_version)
    return formstore.get(record.form_key)


def choice(form: Any, field: str, value: Any) -> str:
    """A choice's label (or several, joined), never its raw key."""
    f = form.field(field) if form is not None else None
    labels = {c.value: _text(c.label, "zh") for c in (f.choices if f is not None else ())}
    values = value if isinstance(value, list) else [value]
    shown = [labels.get(v) or "—" for v in values if v not in (None, "")]
    return "、".join(shown) or "—"


def masked_id(value: Any) -> str:
    if not isinstance(value, str) or not value:
        return "—"
    return value if "*" in value else crypto.mask_id_number(value)


def section(session: Session, instance: Any, step: str, record: StepRecord | None = None) -> dict[str, Any]:
    """One step's latest record for a form: its fields as shown (choices by label, votes counted), who
    and when; every key present (an empty section reads "—")."""
    record = record or records.latest(session, instance.id, step)
    data = dict(record.data or {}) if record is not None else {}
    form = form_of(record) if record is not None else None
    shown: dict[str, Any] = {}
    for key, value in data.items():
        f = form.field(key) if form is not None else None
        shown[key] = choice(form, key, value) if f is not None and f.choices else value
    raw_members = data.get("members")
    members: list[Any] = raw_members if isinstance(raw_members, list) else []
    votes = [m.get("vote") for m in members if isinstance(m, dict)]
    return {
        "done": record is not None,
        "name": record.name if record is not None else "—",
        "by": record.actor.display_name if record is not None and record.actor is not None else "—",
        "on": local_date(record.completed_at) if record is not None else None,
        "field": lambda key: shown.get(key),
        "votes": {v: votes.count(v) for v in ("for", "against", "abstain")},
        "present": len(members),
    }
