"""Bridge Plan 桥计划: professional groups as records of their own (沪民救发〔2024〕9号 二、（四）3:
"开展专业小组服务，每个小组组织活动不少于4次").

A project's ``group_work`` step repeats during the service period: one record sets up a group (its ref,
name and members — households the project holds), one record per activity of a group, and a last one ends
the group work, refused while a group has fewer than four activities. The final report counts again
from the records (never from a counter in the case data) and keeps the figures per group.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import Invalid
from engine.instances.models import ProcessInstance
from engine.policy import service as policy
from engine.procedures import (
    before_complete,
    bridge_rules,  # noqa: F401  (its rules on the same steps run first)
)
from engine.procedures.bridge import HOUSEHOLD, PROJECT
from engine.records import service as records


def groups_of(session: Session, project_id: int) -> dict[str, dict[str, Any]]:
    """The project's groups from its ``group_work`` records: ref -> name, members, activities."""
    groups: dict[str, dict[str, Any]] = {}
    for record in records.all_of_step(session, project_id, "group_work"):
        data = record.data or {}
        if data.get("group_action") == "group":
            groups[data["group_ref"]] = {
                "name": data.get("group_name"),
                "members": [m["household_ref"] for m in data.get("members", [])],
                "activities": 0,
            }
        elif data.get("group_action") == "activity" and data.get("group_ref") in groups:
            groups[data["group_ref"]]["activities"] += 1
    return groups


def _held(session: Session, project_id: int) -> set[str]:
    rows = session.scalars(
        select(ProcessInstance).where(
            ProcessInstance.parent_id == project_id, ProcessInstance.process_key == HOUSEHOLD
        )
    )
    return {str(c.data["household_ref"]) for c in rows if c.data.get("household_ref")}


def _refuse_short(session: Session, instance: Any, field: str, groups: dict[str, dict[str, Any]]) -> None:
    """二、（四）3 每个小组组织活动不少于4次: the policy parameter ``min_group_activities`` of the case."""
    minimum = int(policy.case_value(session, instance, "min_group_activities"))
    short = [f"{ref}（{g['activities']}次）" for ref, g in groups.items() if g["activities"] < minimum]
    if short:
        raise Invalid.on(
            field,
            f"每个小组活动不少于{minimum}次，以下小组不足：{'、'.join(short)} / every "
            f"group needs at least {minimum} activities: {', '.join(short)}",
        )


@before_complete(PROJECT, "group_work")
def group_work(session: Session, instance: Any, row: Any, data: dict[str, Any]) -> dict[str, Any]:
    groups = groups_of(session, instance.id)
    action = data["group_action"]
    if action == "group":
        ref = data["group_ref"]
        if ref in groups:
            raise Invalid.on("group_ref", f"小组 {ref} 已建立 / group {ref} already exists")
        held, seen = _held(session, instance.id), set()
        for number, member in enumerate(data["members"], start=1):
            household = member["household_ref"]
            if household not in held:
                raise Invalid.on(
                    "members",
                    f"第{number}行：家庭 {household} 不是本项目的服务家庭 / row {number}: household "
                    f"{household} is not served by this project",
                )
            if household in seen:
                raise Invalid.on(
                    "members", f"第{number}行：家庭 {household} 重复 / row {number}: {household} twice"
                )
            seen.add(household)
    elif action == "activity":
        ref = data["group_ref"]
        if ref not in groups:
            raise Invalid.on("group_ref", f"小组 {ref} 尚未建立 / no group {ref}: set it up first")
        if data["attendance"] > len(groups[ref]["members"]):
            raise Invalid.on(
                "attendance",
                f"参加人数多于小组成员（{len(groups[ref]['members'])}户）/ more attending than the group's members",
            )
    else:  # done
        _refuse_short(session, instance, "group_action", groups)
    return {"group_count": len(groups) + (1 if action == "group" else 0)}


@before_complete(PROJECT, "final_report")
def groups_at_the_final_report(
    session: Session, instance: Any, row: Any, data: dict[str, Any]
) -> dict[str, Any]:
    groups = groups_of(session, instance.id)
    _refuse_short(session, instance, "_form", groups)
    return {
        "groups": [
            {"group_ref": ref, "name": g["name"], "members": len(g["members"]), "activities": g["activities"]}
            for ref, g in groups.items()
        ]
    }
