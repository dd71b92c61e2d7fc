"""Sample values of each document kind: what an edited template is checked against before it is saved
(every value a kind's real filling provides, with made-up contents; a test fills each template file
with its sample, so a sample never lacks a value its kind provides)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

_DAY = dt.date(2026, 6, 8)


def _section(name: str) -> dict[str, Any]:
    return {
        "done": True,
        "name": name,
        "by": "经办人",
        "on": _DAY,
        "field": lambda key: "示例",
        "votes": {"for": 5, "against": 0, "abstain": 0},
        "present": 5,
    }


def _common(title: str) -> dict[str, Any]:
    return {"title": title, "case_number": "CA-2026-000000-0001"}


def sample(kind: str, title: str) -> dict[str, Any]:
    if kind == "household_plan":
        return {
            **_common(title),
            "household_ref": "PT-001",
            "head": "户主",
            "id_number": "999999********0011",
            "org": "示例街道",
            "project": "BP-2026-000000",
            "project_year": 2026,
            "agency": "示例社会工作服务社",
            "budget_share": Decimal("5000.00"),
            "needs": [("经济", "重度"), ("心理", "中度")],
            "needs_note": "示例",
            "pre_test_score": 40,
            "assessed_by": "社工",
            "assessed_on": _DAY,
            "goals": "示例目标",
            "methods": "政策信息",
            "planned_visits": 6,
            "planned_by": "社工",
            "planned_on": _DAY,
        }
    if kind == "twinning_agreement":
        return {
            **_common(title),
            "pairing_code": "TW01",
            "county": "示例县",
            "dispatching_agency": "派出机构",
            "aided_agency": "受援机构",
            "needs_summary": "示例",
            "selection_note": "示例",
            "selected_on": _DAY,
            "min_workers": 2,
            "min_service_years": 2,
            "min_working_days": 40,
            "annual_subsidy": Decimal("30000"),
            "parties": [("甲方", "上海市民政局"), ("乙方", "甘肃省民政厅")],
        }
    if kind == "case_file":
        return {
            **_common(title),
            "procedure": "示例流程",
            "version": 1,
            "org": "示例街道",
            "applicant": "申请人",
            "status": "已办结",
            "started_at": "2026年6月1日 09:00",
            "ended_at": "2026年6月8日 17:00",
            "started_by": "经办人",
            "steps": [
                {
                    "name": "提出申请",
                    "iteration": 1,
                    "by": "经办人",
                    "at": "2026年6月1日 09:00",
                    "fields": [
                        ("申请金额", "5,000.00 元"),
                        ("成员", {"columns": ["姓名"], "rows": [["甲"]]}),
                    ],
                }
            ],
            "materials": [
                {
                    "name": "帮扶申请书",
                    "file": "申请书.pdf",
                    "kind": "PDF",
                    "size": "12 KB",
                    "sha256": "0" * 64,
                    "by": "经办人",
                    "at": "—",
                }
            ],
            "events": [{"at": "—", "what": "新建案件", "who": "经办人", "seq": 1, "hash": "0" * 16}],
        }
    return {  # the comprehensive-assistance notices and the approval form
        **_common(title),
        "applicant": "申请人",
        "id_number": "999999********0011",
        "applied_on": _DAY,
        "assistance_form": "个案帮扶",
        "aid_types": "资金",
        "amount_requested": Decimal("5000.00"),
        "household_size": 3,
        "org": "示例街道",
        "officer": "经办人",
        "decided_on": _DAY,
        "reason": "示例理由",
        "approver_org": "示例街道",
        "hardship_category": "低保",
        "application_reason": "示例",
        "investigation": _section("入户调查"),
        "assessment": _section("评估审核"),
        "review": _section("社区民主评议"),
        "approval": _section("街镇审批"),
    }
