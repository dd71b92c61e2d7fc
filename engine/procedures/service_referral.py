"""Pudong 3A service assistance 浦东“3A”服务救助 (浦东新区民政局 2023年9月25日 指导意见): rules that need the
database. The match names a registered service organisation, whose members alone receive the referral;
the delivered service counts in the cross-project ledger; only Pudong units run the procedure;
the project's results are published as a step of its own (what, where, when)."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.orm import Session

from engine.errors import Invalid
from engine.orgs.models import OrgUnit
from engine.procedures import before_complete, counting, on_start
from engine.serviceorgs import service as serviceorgs

KEY = "service_referral_3a"
PUDONG_DISTRICT = "310115"  # 浦东新区: the guidance is the Pudong civil-affairs bureau's, for Pudong only
# an ID number (18 characters) or a mobile number (11 digits) inside published text
_PERSONAL = re.compile(r"(?<![0-9])(?:[0-9]{17}[0-9Xx]|1[3-9][0-9]{9})(?![0-9])")


@on_start(KEY)
def pudong_only(session: Session, unit: Any, data: dict[str, Any]) -> None:
    district = session.get(OrgUnit, unit.district_id) if unit.district_id else None
    if district is None or district.code != PUDONG_DISTRICT:
        raise Invalid.on(
            "org_unit",
            "浦东“3A”服务救助仅限浦东新区的单位办理 / Pudong 3A service assistance runs in Pudong units only",
        )


@before_complete(KEY, "matching")
def matched_organisation(session: Session, instance: Any, row: Any, data: dict[str, Any]) -> dict[str, Any]:
    """The match names a registered service organisation serving the district, with member users: the
    referral and service steps go to its members only (BPMN ``service_org_field``, engine.serviceorgs)."""
    found = serviceorgs.check_match(session, data["service_org"], instance, "service_org")
    return {"service_org_name": found.name}


@before_complete(KEY, "service_delivery")
def count_service(session: Session, instance: Any, row: Any, data: dict[str, Any]) -> None:
    counting.count_for_case(session, instance, row, kind="service", id_field="applicant_id_number")


@before_complete(KEY, "publication")
def publication(session: Session, instance: Any, row: Any, data: dict[str, Any]) -> dict[str, Any]:
    """公开项目政策细则、项目进度、项目成果: what is published is kept; no personal numbers in it."""
    if _PERSONAL.search(data["published_text"]):
        raise Invalid.on(
            "published_text",
            "公示内容不得包含身份证号或手机号 / published text may not contain ID or phone numbers",
        )
    return {"published": True, "outcome": "closed"}
