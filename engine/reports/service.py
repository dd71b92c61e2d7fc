"""Which reports a case can export, and each report built from the case's step records.

The notices ask for: the street's and district's monthly business and fund report (市民综合帮扶, seed
002 §四(二)), the Bridge Plan's monthly progress report, mid-term and final (summary) reports (seed 000
§三), and the Twinning Plan's yearly evaluation (seed 003 §三5). Every figure is read from records
(what staff entered and confirmed at the step) and, for the lists under them, from the records of the
cases the report covers; nothing is recomputed from a merged data bag. Labels come from the forms.

Exporting a report is an audited read (``report.exported``) of the case it belongs to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from engine.audit import service as audit
from engine.audit.models import AuditAction
from engine.errors import NotFound
from engine.instances import service as instances
from engine.instances.models import ProcessInstance
from engine.records import service as records
from engine.reports import bridge, ca, twinning
from engine.reports.model import Report
from engine.reports.read import BRIDGE_PROJECT, CA_REPORT_KEY, TWINNING_KEY
from engine.users.models import User


@dataclass(frozen=True)
class ReportKind:
    name: str
    process_key: str
    title: str
    title_en: str
    build: Callable[[Session, ProcessInstance, Any], Report]
    # the report's periods the case can export now (months, years), or [None] for a one-off report
    periods: Callable[[Session, ProcessInstance], list[Any]]
    period_label: str = ""

    def label(self, locale: str = "zh") -> str:
        return self.title_en if locale == "en" else self.title


def _once(step: str) -> Callable[[Session, ProcessInstance], list[Any]]:
    return lambda session, instance: [None] if records.latest(session, instance.id, step) is not None else []


KINDS = {
    k.name: k
    for k in (
        ReportKind(
            "ca_monthly",
            CA_REPORT_KEY,
            "业务及资金使用月报表",
            "Monthly business and fund report",
            ca.ca_monthly,
            _once("review_report"),
        ),
        ReportKind(
            "bridge_monthly",
            BRIDGE_PROJECT,
            "月度进度报告",
            "Monthly progress report",
            bridge.bridge_monthly,
            bridge.bridge_months,
            "月",
        ),
        ReportKind(
            "bridge_midterm",
            BRIDGE_PROJECT,
            "中期报告",
            "Mid-term report",
            bridge.bridge_midterm,
            _once("midterm_report"),
        ),
        ReportKind(
            "bridge_final",
            BRIDGE_PROJECT,
            "总结报告",
            "Final report",
            bridge.bridge_final,
            _once("final_report"),
        ),
        ReportKind(
            "twinning_yearly",
            TWINNING_KEY,
            "年度评估报告",
            "Yearly evaluation report",
            twinning.twinning_yearly,
            twinning.twinning_years,
            "年",
        ),
    )
}


def available(session: Session, instance: ProcessInstance) -> list[tuple[ReportKind, Any]]:
    """(kind, period) pairs the case can export now, in the kinds' order."""
    out: list[tuple[ReportKind, Any]] = []
    for kind in KINDS.values():
        if kind.process_key == instance.process_key:
            out.extend((kind, period) for period in kind.periods(session, instance))
    return out


def build(
    session: Session, user: User, instance_id: int, name: str, period: Any = None, *, fmt: str
) -> Report:
    """The report ``name`` of a case the user may see (404 for a kind of another procedure); audited."""
    instance = instances.get_visible(session, user, instance_id)
    kind = KINDS.get(name)
    if kind is None or kind.process_key != instance.process_key:
        raise NotFound(f"该案件没有此报表 / this case has no report {name!r}"[:200])
    if kind.period_label and period in (None, ""):
        raise NotFound(f"请指定报表的{kind.period_label}份 / give the report's period")
    report = kind.build(session, instance, period)
    audit.record(
        session,
        AuditAction.REPORT_EXPORTED,
        actor_id=user.id,
        instance_id=instance.id,
        details={"report": name, "period": None if period in (None, "") else str(period)[:20], "format": fmt},
    )
    return report
