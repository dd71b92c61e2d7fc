"""Figures for the district and city dashboards, each limited to the org units the viewer's grants cover.

Every function returns plain rows (dicts) so the web layer only lays them out and exports them.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from engine.audit.models import AuditAction, AuditEvent
from engine.db import utcnow
from engine.deadlines.calendar import SHANGHAI
from engine.instances.models import ProcessInstance
from engine.orgs.models import OrgUnit
from engine.scope import visible_clause
from engine.tasks.models import OPEN_STATUSES, HumanTask, TaskStatus
from engine.users import service as users
from engine.users.models import SUPERVISOR_ROLES, Role, User

DASHBOARD_ROLES = SUPERVISOR_ROLES | {Role.FOUNDATION}
CA_KEY = "comprehensive_assistance"
PAID_STEPS = ("disbursement", "emergency_disbursement")
BRIDGE_KEYS = ("bridge_plan_household",)
TWINNING_KEYS = ("twinning",)
BRIDGE_BUDGET_PER_HOUSEHOLD = Decimal("5000")
TWINNING_MIN_WORKERS = 2
TWINNING_MIN_DAYS = 40


def may_view(user: User) -> bool:
    return any(g.role in DASHBOARD_ROLES for g in user.grants)


def _scoped(session: Session, user: User, model: Any) -> Any:
    return None if users.is_admin(user) else visible_clause(session, user, model)


def _where(stmt: Any, clause: Any) -> Any:
    return stmt if clause is None else stmt.where(clause)


def _unit_names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(session.execute(select(OrgUnit.id, OrgUnit.name_zh).where(OrgUnit.id.in_(ids))).all())


def open_by_district(session: Session, user: User) -> list[dict[str, Any]]:
    """Open and overdue human tasks per district."""
    now = utcnow()
    overdue = func.sum(case((HumanTask.due_at <= now, 1), else_=0))
    stmt = (
        select(HumanTask.district_id, func.count(), overdue)
        .where(HumanTask.state.in_(OPEN_STATUSES))
        .group_by(HumanTask.district_id)
    )
    rows = session.execute(_where(stmt, _scoped(session, user, HumanTask))).all()
    names = _unit_names(session, {r[0] for r in rows if r[0] is not None})
    out = [
        {"district": names.get(d, "—") if d else "市级", "open": n, "overdue": int(o or 0)}
        for d, n, o in rows
    ]
    return sorted(out, key=lambda r: (-r["open"], r["district"]))


def open_by_step(session: Session, user: User) -> list[dict[str, Any]]:
    """Open and overdue human tasks per procedure step."""
    now = utcnow()
    overdue = func.sum(case((HumanTask.due_at <= now, 1), else_=0))
    stmt = (
        select(HumanTask.process_key, HumanTask.bpmn_id, func.min(HumanTask.name), func.count(), overdue)
        .where(HumanTask.state.in_(OPEN_STATUSES))
        .group_by(HumanTask.process_key, HumanTask.bpmn_id)
    )
    rows = session.execute(_where(stmt, _scoped(session, user, HumanTask))).all()
    out = [{"process_key": k, "step": name, "open": n, "overdue": int(o or 0)} for k, _b, name, n, o in rows]
    return sorted(out, key=lambda r: (-r["open"], r["process_key"], r["step"]))


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal("0")
    except InvalidOperation:
        return Decimal("0")


def ca_disbursements_by_month(session: Session, user: User) -> list[dict[str, Any]]:
    """Comprehensive-assistance payments (ordinary and fast-track) per month, Shanghai time."""
    stmt = (
        select(AuditEvent.at, AuditEvent.details)
        .join(HumanTask, HumanTask.id == AuditEvent.task_id)
        .where(
            HumanTask.process_key == CA_KEY,
            HumanTask.bpmn_id.in_(PAID_STEPS),
            HumanTask.state == TaskStatus.COMPLETED,
            AuditEvent.action == AuditAction.TASK_COMPLETED.value,
        )
    )
    months: dict[str, list[Any]] = defaultdict(lambda: [0, Decimal("0")])
    for at, details in session.execute(_where(stmt, _scoped(session, user, HumanTask))):
        month = at.astimezone(SHANGHAI).strftime("%Y-%m")
        months[month][0] += 1
        months[month][1] += _decimal(((details or {}).get("data") or {}).get("amount_paid"))
    return [{"month": m, "count": c, "total": f"{t:.2f}"} for m, (c, t) in sorted(months.items())]


# --- Bridge Plan and Twinning: read generically from instance data, tolerant of missing keys -------


def _first(data: dict[str, Any], *keys: str) -> Any:
    return next((data[k] for k in keys if data.get(k) not in (None, "")), None)


def _count(value: Any) -> int:
    if isinstance(value, list | tuple):
        return len(value)
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _instances(session: Session, user: User, keys: tuple[str, ...]) -> list[ProcessInstance]:
    stmt = select(ProcessInstance).where(ProcessInstance.process_key.in_(keys))
    return list(session.scalars(_where(stmt, _scoped(session, user, ProcessInstance))))


def bridge_indicators(session: Session, user: User) -> list[dict[str, Any]]:
    """Per district: households, home visits per household (goal ≥ 5), budget used per household (≤ 5,000)."""
    rows = _instances(session, user, BRIDGE_KEYS)
    visits_by_instance: dict[int, int] = {}
    if rows:
        visit_rows = session.execute(
            select(HumanTask.instance_id, func.count())
            .where(
                HumanTask.instance_id.in_([r.id for r in rows]),
                HumanTask.state == TaskStatus.COMPLETED,
                HumanTask.bpmn_id.contains("visit"),
            )
            .group_by(HumanTask.instance_id)
        )
        visits_by_instance = {i: n for i, n in visit_rows}
    per: dict[int | None, dict[str, Any]] = defaultdict(
        lambda: {"households": 0, "visits": 0, "budget": Decimal("0")}
    )
    for row in rows:
        data = row.data or {}
        agg = per[row.district_id]
        agg["households"] += 1
        agg["visits"] += max(
            visits_by_instance.get(row.id, 0), _count(_first(data, "visit_count", "visits", "home_visits"))
        )
        agg["budget"] += _decimal(_first(data, "budget_used", "amount_spent", "spent"))
    names = _unit_names(session, {d for d in per if d is not None})
    out = []
    for district, agg in per.items():
        n = agg["households"]
        per_household = agg["budget"] / n if n else Decimal("0")
        out.append(
            {
                "district": names.get(district, "—") if district else "市级",
                "households": n,
                "visits_per_household": f"{(Decimal(agg['visits']) / n if n else 0):.1f}",
                "budget_used": f"{agg['budget']:.2f}",
                "budget_per_household": f"{per_household:.2f}",
                "within_budget": per_household <= BRIDGE_BUDGET_PER_HOUSEHOLD,
            }
        )
    return sorted(out, key=lambda r: r["district"])


def twinning_indicators(session: Session, user: User) -> list[dict[str, Any]]:
    """Per pairing: social workers dispatched (goal ≥ 2) and working days (goal ≥ 40)."""
    out = []
    for row in _instances(session, user, TWINNING_KEYS):
        data = row.data or {}
        workers = _count(_first(data, "workers", "social_workers", "dispatched_workers", "worker_count"))
        days = _decimal(_first(data, "working_days", "total_working_days", "days_worked"))
        out.append(
            {
                "pairing": str(
                    _first(data, "pairing", "pairing_code", "county") or row.business_key or row.id
                ),
                "workers": workers,
                "working_days": f"{days.normalize():f}",
                "workers_ok": workers >= TWINNING_MIN_WORKERS,
                "days_ok": days >= TWINNING_MIN_DAYS,
            }
        )
    return sorted(out, key=lambda r: r["pairing"])


TABLES = {
    "by_district": open_by_district,
    "by_step": open_by_step,
    "ca_disbursements": ca_disbursements_by_month,
    "bridge": bridge_indicators,
    "twinning": twinning_indicators,
}


def table(session: Session, user: User, name: str) -> list[dict[str, Any]]:
    return TABLES[name](session, user)
