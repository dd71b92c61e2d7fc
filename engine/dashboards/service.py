"""Figures for the district and city dashboards, each limited to the org units the viewer's grants cover.

Every function returns plain rows (dicts) so the web layer only lays them out and exports them.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, null, select
from sqlalchemy.orm import Session

from engine.audit.models import AuditAction, AuditEvent
from engine.db import utcnow
from engine.deadlines.calendar import SHANGHAI
from engine.instances.models import ProcessInstance
from engine.orgs.models import OrgUnit
from engine.procedures import bridge
from engine.reports.read import money as _decimal  # a stored amount as Decimal (0 when empty)
from engine.scope import visible_clause
from engine.tasks.models import HumanTask, TaskStatus, open_clause
from engine.users import service as users
from engine.users.models import SUPERVISOR_ROLES, Role, User

DASHBOARD_ROLES = SUPERVISOR_ROLES | {Role.FOUNDATION}
CA_KEY = "comprehensive_assistance"
PAID_STEPS = ("disbursement", "emergency_disbursement")
TWINNING_KEY = "twinning"
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
        .where(open_clause())
        .group_by(HumanTask.district_id)
    )
    rows = session.execute(_where(stmt, _scoped(session, user, HumanTask))).all()
    names = _unit_names(session, {r[0] for r in rows if r[0] is not None})
    out = [
        {"district": names.get(d, "—") if d else "市级", "open": n, "overdue": int(o or 0)}
        for d, n, o in rows
    ]
    return sorted(out, key=lambda r: (-r["open"], r["district"]))


def sla_counts(session: Session, user: User) -> list[dict[str, Any]]:
    """Open human tasks per SLA colour (green / yellow / orange / red) in the viewer's org units.

    One pass, one row: a task counts under the first colour whose threshold it has passed — red
    (escalate_at), then orange (due_at), then yellow (warn_at) — and green when none. The open-task index
    on (due_at, warn_at, escalate_at, state) holds every column this reads, so a whole city's open tasks
    are counted from that index, never from the table rows; one row of counts spares grouping every task.
    """
    now = utcnow()
    red, orange, yellow = HumanTask.escalate_at <= now, HumanTask.due_at <= now, HumanTask.warn_at <= now
    counts = (
        func.count(case((red, 1))),
        func.count(case((red, null()), (orange, 1))),
        func.count(case((red, null()), (orange, null()), (yellow, 1))),
        func.count(),
    )
    stmt = select(*counts).where(open_clause())
    n_red, n_orange, n_yellow, n_open = session.execute(_where(stmt, _scoped(session, user, HumanTask))).one()
    n_green = n_open - n_red - n_orange - n_yellow
    return [
        {"sla": c, "count": int(n)}
        for c, n in (("green", n_green), ("yellow", n_yellow), ("orange", n_orange), ("red", n_red))
    ]


def open_by_step(session: Session, user: User) -> list[dict[str, Any]]:
    """Open and overdue human tasks per procedure step (with the step's element and form, by which a
    page names it in its language)."""
    now = utcnow()
    overdue = func.sum(case((HumanTask.due_at <= now, 1), else_=0))
    stmt = (
        select(
            HumanTask.process_key,
            HumanTask.bpmn_id,
            func.min(HumanTask.name),
            func.min(HumanTask.form_key),
            func.count(),
            overdue,
        )
        .where(open_clause())
        .group_by(HumanTask.process_key, HumanTask.bpmn_id)
    )
    rows = session.execute(_where(stmt, _scoped(session, user, HumanTask))).all()
    out = [
        {"process_key": k, "bpmn_id": b, "step": name, "form_key": form, "open": n, "overdue": int(o or 0)}
        for k, b, name, form, n, o in rows
    ]
    return sorted(out, key=lambda r: (-r["open"], r["process_key"], r["step"]))


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


# --- Bridge Plan and Twinning ----------------------------------------------------------------------


def _instances(session: Session, user: User, key: str) -> list[ProcessInstance]:
    stmt = select(ProcessInstance).where(ProcessInstance.process_key == key)
    return list(session.scalars(_where(stmt, _scoped(session, user, ProcessInstance))))


def bridge_indicators(session: Session, user: User) -> list[dict[str, Any]]:
    """Per district project and year: households held, home visits per household (goal ≥ 5), money used
    per household (≤ 5,000): the final report's spending, else the latest monthly report's figure."""
    out = []
    projects = _instances(session, user, bridge.PROJECT)
    names = _unit_names(session, {p.district_id for p in projects if p.district_id is not None})
    for project in projects:
        data = project.data or {}
        figures = bridge.project_figures(session, project.id, data.get("per_household_cap", 5000))
        n = figures["households_total"]
        used = _decimal(data.get("spent_total", data.get("spent_to_date")))
        per_household = used / n if n else Decimal("0")
        out.append(
            {
                "district": names.get(project.district_id, "—") if project.district_id else "市级",
                "year": data.get("project_year"),
                "households": n,
                "visits_per_household": f"{figures['visits_per_household']:.1f}",
                "budget_used": f"{used:.2f}",
                "budget_per_household": f"{per_household:.2f}",
                "within_budget": per_household <= BRIDGE_BUDGET_PER_HOUSEHOLD,
            }
        )
    return sorted(out, key=lambda r: (r["district"], str(r["year"])))


def twinning_indicators(session: Session, user: User) -> list[dict[str, Any]]:
    """Per pairing, for its current working year: workers dispatched (goal ≥ 2), working days (≥ 40)."""
    out = []
    for row in _instances(session, user, TWINNING_KEY):
        data = row.data or {}
        workers, days = int(data.get("workers_dispatched", 0)), int(data.get("working_days_total", 0))
        out.append(
            {
                "pairing": f"{data.get('pairing_code', row.business_key or row.id)} {data.get('county', '')}".strip(),
                "year": data.get("working_year"),
                "workers": workers,
                "working_days": days,
                "workers_ok": workers >= TWINNING_MIN_WORKERS,
                "days_ok": days >= TWINNING_MIN_DAYS,
            }
        )
    return sorted(out, key=lambda r: r["pairing"])


TABLES = {
    "sla": sla_counts,
    "by_district": open_by_district,
    "by_step": open_by_step,
    "ca_disbursements": ca_disbursements_by_month,
    "bridge": bridge_indicators,
    "twinning": twinning_indicators,
}


def table(session: Session, user: User, name: str) -> list[dict[str, Any]]:
    return TABLES[name](session, user)
