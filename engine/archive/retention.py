"""How long the archive keeps an ended case, per procedure, and which cases are past it.

Configuration (documented in the README): ``processes/retention.json`` — ``{"default": years,
"<process key>": years, …}`` — overridden per key by ``ASSISTFLOW_RETENTION`` (``key=years,…``,
``default=years`` included). A case is past retention when it ended more than that many years ago
(calendar years from its end date). Listing only: audit events are append-only (the database refuses
to delete them), so removing a case past retention is a decision for the archive office, not a job here.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import Invalid
from engine.forms.model import msg
from engine.instances.models import InstanceStatus, ProcessInstance

ENV = "ASSISTFLOW_RETENTION"
FILE = Path(__file__).resolve().parents[2] / "processes" / "retention.json"


def _years(key: str, value: object) -> int:
    try:
        years = int(str(value))
    except ValueError:
        years = -1
    if years < 1 or years > 200:
        raise Invalid.on(
            key, msg(f"保存期限应为 1–200 年：{value}", f"retention must be 1-200 years: {value}")
        )
    return years


def periods(env: str | None = None, file: Path | None = None) -> dict[str, int]:
    """Years per process key, ``default`` for the others."""
    source = file or FILE
    found: dict[str, int] = {"default": 30}
    if source.exists():
        found.update({k: _years(k, v) for k, v in json.loads(source.read_text("utf-8")).items()})
    text = os.environ.get(ENV, "") if env is None else env
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise Invalid.on(ENV, msg(f"应为 键=年数：{part}", f"expected key=years: {part}"))
        found[key.strip()] = _years(key.strip(), value.strip())
    return found


def _minus_years(when: dt.datetime, years: int) -> dt.datetime:
    try:
        return when.replace(year=when.year - years)
    except ValueError:  # 29 February
        return when.replace(year=when.year - years, day=28)


@dataclass(frozen=True)
class Due:
    instance_id: int
    process_key: str
    business_key: str | None
    ended_at: dt.datetime
    years: int


def past_retention(session: Session, now: dt.datetime, config: dict[str, int] | None = None) -> list[Due]:
    """Ended cases whose retention period is over at ``now``, oldest end first."""
    config = config or periods()
    rows = session.execute(
        select(
            ProcessInstance.id,
            ProcessInstance.process_key,
            ProcessInstance.business_key,
            ProcessInstance.ended_at,
        )
        .where(
            ProcessInstance.status.in_((InstanceStatus.COMPLETED, InstanceStatus.TERMINATED)),
            ProcessInstance.ended_at.is_not(None),
            # no case ended after the shortest period's bound can be due
            ProcessInstance.ended_at <= _minus_years(now, min(config.values())),
        )
        .order_by(ProcessInstance.ended_at, ProcessInstance.id)
    )
    due = []
    for instance_id, key, business_key, ended_at in rows:
        if ended_at is None:
            continue
        years = config.get(key, config["default"])
        ended = ended_at if ended_at.tzinfo else ended_at.replace(tzinfo=dt.UTC)
        if ended <= _minus_years(now, years):
            due.append(Due(instance_id, key, business_key, ended, years))
    return due
