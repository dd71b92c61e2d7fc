"""Project assistance 项目帮扶 (notice 002, 二(二)): an application for project assistance is not handled
as an individual case; it goes to the city's mutual-aid foundation, which researches it and files it in
a project plan (procedure ``ca_project_assistance``, a sub-case of the application)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from engine.definitions import service as definitions
from engine.errors import Invalid
from engine.instances import newcase
from engine.policy import service as policy
from engine.procedures import before_complete

KEY = "comprehensive_assistance"
PROJECT = "ca_project_assistance"
# What the foundation reads from the application (the sub-case's own data).
CARRIED = (
    "applicant_id_number",
    "household_size",
    "aid_types",
    "hardship_category",
    "amount_requested",
    "goods_description",
    "services_description",
    "reason",
)


@before_complete(KEY, "application")
def refer_project_assistance(
    session: Session, instance: Any, row: Any, data: dict[str, Any]
) -> dict[str, Any]:
    if data.get("assistance_form") != "project":
        return {}
    # worked out now, written with the step (engine.instances.newcase)
    case_id = newcase.start(
        session,
        newcase.prepare(
            session,
            definitions.get_version(session, PROJECT),
            instance.org_unit,
            actor_id=row.assignee_id,
            data={k: data[k] for k in CARRIED if data.get(k) not in (None, "")},
            origin=f"{KEY}:{instance.id}",
            parent_id=instance.id,
        ),
    )
    return {"project_case_id": case_id}


@before_complete("foundation_fee_check", "fee_check")
def fee_within_the_rate(session: Session, instance: Any, row: Any, data: dict[str, Any]) -> None:
    """The foundation's management fee may not exceed the rate (``max_fee_rate``, 2.5 %) of the year's
    lottery-fund project spending: a policy parameter of the case."""
    rate = Decimal(str(policy.case_value(session, instance, "max_fee_rate")))
    spending, fee = Decimal(str(data["lottery_project_spending"])), Decimal(str(data["management_fee"]))
    if fee > spending * rate:
        shown = f"{(rate * 100).normalize():f}"
        raise Invalid.on(
            "management_fee",
            f"管理费不得超过当年彩票公益金项目支出的{shown}% / the management fee may not exceed {shown} % of "
            "the year's lottery-fund project spending",
        )
