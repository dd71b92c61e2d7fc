"""Policy parameter sets per procedure: admins add versions (audited), cases read the one in force.

A case takes the set in force on the day it starts (Shanghai time), or on 1 January of its
``project_year`` when its start data names one, and keeps a copy of its values in its data (``_params``,
hidden from pages, out of reach of scripts and forms): a later set applies to new cases only. Diagrams
read a value by name with ``param('per_household_cap')`` in any condition or script
(:mod:`engine.expressions`).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.audit import service as audit
from engine.audit.models import AuditAction
from engine.db import utcnow
from engine.deadlines import calendar
from engine.errors import Conflict, Invalid, NotFound
from engine.policy.models import PolicyParameterSet

DATA_KEY = "_params"  # where a case keeps its copy (a name scripts cannot assign, pages do not show)
MAX_PARAMETERS = 50
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_DECIMAL = re.compile(r"^-?\d{1,12}(\.\d{1,6})?$")
_INTEGER = re.compile(r"^-?\d{1,12}$")


def clean_value(name: str, value: Any) -> int | str:
    """A parameter value as stored: an integer, a decimal as text ("0.025"), or short text."""
    if isinstance(value, bool) or value is None or isinstance(value, list | dict):
        raise Invalid.on(f"values.{name}", f"参数 {name} 的值无效 / parameter {name}: not a number or text")
    if isinstance(value, int):
        if abs(value) >= 10**12:
            raise Invalid.on(f"values.{name}", f"参数 {name} 的值过大 / parameter {name}: too large")
        return value
    if isinstance(value, float | Decimal):
        value = format(Decimal(str(value)), "f")
    text = str(value).strip()
    if _INTEGER.match(text):
        return int(text)
    if _DECIMAL.match(text):
        return text
    if not text or len(text) > 200:
        raise Invalid.on(
            f"values.{name}",
            f"参数 {name} 的值为空或过长 / parameter {name}: empty or longer than 200 characters",
        )
    return text


def clean_values(values: Any) -> dict[str, int | str]:
    if not isinstance(values, dict) or not values:
        raise Invalid.on("values", "至少需要一个参数 / give at least one parameter")
    if len(values) > MAX_PARAMETERS:
        raise Invalid.on(
            "values", f"参数过多（最多 {MAX_PARAMETERS} 个）/ more than {MAX_PARAMETERS} parameters"
        )
    out: dict[str, int | str] = {}
    for name, value in values.items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise Invalid.on(
                "values",
                f"参数名无效：{str(name)[:40]}（小写字母、数字、下划线）/ invalid parameter name "
                f"{str(name)[:40]!r} (lower-case letters, digits, underscores)",
            )
        out[name] = clean_value(name, value)
    return out


def versions(session: Session, process_key: str) -> list[PolicyParameterSet]:
    """Every version of a procedure's parameters, newest first."""
    return list(
        session.scalars(
            select(PolicyParameterSet)
            .where(PolicyParameterSet.process_key == process_key)
            .order_by(PolicyParameterSet.version.desc())
        )
    )


def procedures(session: Session) -> list[tuple[str, int]]:
    """Procedures that have parameters, with their number of versions."""
    rows = session.execute(
        select(PolicyParameterSet.process_key, func.count())
        .group_by(PolicyParameterSet.process_key)
        .order_by(PolicyParameterSet.process_key)
    )
    return [(key, int(n)) for key, n in rows]


def get(session: Session, process_key: str, version: int) -> PolicyParameterSet:
    found = session.scalar(
        select(PolicyParameterSet).where(
            PolicyParameterSet.process_key == process_key, PolicyParameterSet.version == version
        )
    )
    if found is None:
        raise NotFound(f"参数版本不存在 / no parameter set {process_key} version {version}")
    return found


def in_force(session: Session, process_key: str, on: dt.date) -> PolicyParameterSet | None:
    """The set in force on ``on``: the latest effective date not after it (the higher version on a tie)."""
    return session.scalar(
        select(PolicyParameterSet)
        .where(PolicyParameterSet.process_key == process_key, PolicyParameterSet.effective_from <= on)
        .order_by(PolicyParameterSet.effective_from.desc(), PolicyParameterSet.version.desc())
        .limit(1)
    )


def save(
    session: Session,
    process_key: str,
    *,
    effective_from: dt.date,
    values: Any,
    labels: dict[str, str] | None = None,
    note: str = "",
    actor_id: int | None = None,
) -> PolicyParameterSet:
    """Add the next version of a procedure's parameters (audited). Cases already running keep theirs."""
    if not process_key or len(process_key) > 100:
        raise Invalid.on("process_key", "缺少流程标识 / process key missing or too long")
    if not dt.date(2000, 1, 1) <= effective_from <= dt.date(2100, 12, 31):
        raise Invalid.on("effective_from", "生效日期超出范围 / effective date out of range (2000–2100)")
    clean = clean_values(values)
    previous = versions(session, process_key)
    kept_labels = dict(previous[0].labels) if previous else {}
    kept_labels.update({k: str(v)[:100] for k, v in (labels or {}).items() if k in clean})
    row = PolicyParameterSet(
        process_key=process_key,
        version=(previous[0].version + 1) if previous else 1,
        effective_from=effective_from,
        values=clean,
        labels={k: v for k, v in kept_labels.items() if k in clean},
        note=(note or "")[:500],
        created_at=utcnow(),
        created_by_id=actor_id,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        AuditAction.POLICY_SET_SAVED,
        actor_id=actor_id,
        details={
            "process_key": process_key,
            "version": row.version,
            "effective_from": effective_from.isoformat(),
            "values": clean,
            "previous": previous[0].values if previous else None,
        },
    )
    return row


def snapshot(session: Session, process_key: str, start_data: dict[str, Any]) -> dict[str, Any] | None:
    """The copy of the parameters a new case keeps (``None`` when its procedure has none)."""
    year = start_data.get("project_year")
    on = (
        dt.date(year, 1, 1)
        if isinstance(year, int) and not isinstance(year, bool) and 2000 <= year <= 2100
        else calendar.local_day(utcnow())
    )
    found = in_force(session, process_key, on)
    if found is None:
        return None
    return {
        "process_key": found.process_key,
        "version": found.version,
        "effective_from": found.effective_from.isoformat(),
        "values": dict(found.values),
    }


def of_case(data: dict[str, Any]) -> dict[str, Any] | None:
    """The parameters a case keeps (as :func:`snapshot` made them), if any."""
    kept = data.get(DATA_KEY)
    return kept if isinstance(kept, dict) else None


def read_value(value: Any) -> Any:
    """A stored value as expressions use it: decimals as :class:`Decimal`, integers and text as they are."""
    if isinstance(value, str) and _DECIMAL.match(value):
        try:
            return Decimal(value)
        except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
            return value
    return value


def case_value(session: Session, instance: Any, name: str) -> Any:
    """A parameter as a case reads it: from the copy it keeps; for a name that was not yet a parameter
    when the case took its copy (a case started before it moved out of the code), from the stored
    version it copied, or the set in force on the day it started. Refused (409) when none has it."""
    kept = of_case(instance.data or {})
    values = kept.get("values") if kept else None
    if isinstance(values, dict) and name in values:
        return read_value(values[name])
    found: PolicyParameterSet | None = None
    if kept and isinstance(kept.get("version"), int):
        found = session.scalar(
            select(PolicyParameterSet).where(
                PolicyParameterSet.process_key == kept.get("process_key", instance.process_key),
                PolicyParameterSet.version == kept["version"],
            )
        )
    if found is None or name not in found.values:
        started = instance.started_at or utcnow()
        found = in_force(session, instance.process_key, calendar.local_day(started))
    if found is None or name not in found.values:
        raise Conflict(
            f"政策参数 {name} 未设定（{instance.process_key}）/ policy parameter {name} is not set for "
            f"{instance.process_key}",
            {name: [f"政策参数 {name} 未设定 / policy parameter {name} is not set"]},
        )
    return read_value(found.values[name])


def yearly_value(session: Session, process_key: str, name: str, year: int) -> Any | None:
    """A yearly figure (a city budget): the value in the set in force on 1 January of ``year``; when
    that set lacks it, the latest earlier set that has it (the latest earlier year's figure). None when
    no set in force by then has it."""
    rows = session.scalars(
        select(PolicyParameterSet)
        .where(
            PolicyParameterSet.process_key == process_key,
            PolicyParameterSet.effective_from <= dt.date(year, 1, 1),
        )
        .order_by(PolicyParameterSet.effective_from.desc(), PolicyParameterSet.version.desc())
    )
    for row in rows:
        if name in row.values:
            return read_value(row.values[name])
    return None
