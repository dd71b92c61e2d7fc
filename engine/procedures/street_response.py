"""Three-colour warning and three-level response for people in difficulty on the street
(三色预警、三级响应; Putuo work points 2024, (十) 街面流浪救助分级响应机制).

The warning level is set by the situation recorded at the report, not chosen: red when a life is in
danger or in extreme weather, orange when the person belongs to a vulnerable group, yellow otherwise.
Each level has its lead (BPMN lane), deadline and the responders who must be on the spot (policy
parameters of the case). The notice names the mechanism, not its contents: all of this is our default, and
it has nothing to do with the SLA colours of tasks (时限状态)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from engine.errors import Invalid
from engine.policy import service as policy
from engine.procedures import before_complete

KEY = "street_response"
# warning colour -> response level (一级 is the highest)
LEVELS = {"red": 1, "orange": 2, "yellow": 3}
STEP_LEVEL = {"level1_response": 1, "level2_response": 2, "level3_response": 3}
COLOUR_OF = {level: colour for colour, level in LEVELS.items()}
# 区街联动、部门联勤: who must respond at each level is the policy parameter ``level<n>_responders`` of the
# case (comma-separated keys of RESPONDER_NAMES; our default, seeded by migration 0029), as each level's
# deadline is ``level<n>_deadline`` (read by the BPMN's 载入参数 script, the task's ``deadline_field``).
RESPONDER_NAMES = {
    "district_civil_affairs": "区民政局",
    "street_office": "街镇救助所",
    "committee": "居（村）委会",
    "police": "公安",
    "medical": "医疗急救",
}


def required_responders(session: Session, instance: Any, level: int) -> list[str]:
    """The responders a level needs, from the case's policy parameters."""
    text = str(policy.case_value(session, instance, f"level{level}_responders"))
    return [r.strip() for r in text.split(",") if r.strip()]


def warning_level(data: dict[str, Any]) -> str:
    if data.get("danger_to_life") or data.get("extreme_weather"):
        return "red"
    if data.get("vulnerable"):
        return "orange"
    return "yellow"


@before_complete(KEY, "report")
def set_the_warning(session: Session, instance: Any, row: Any, data: dict[str, Any]) -> dict[str, Any]:
    colour = warning_level(data)
    return {"warning_level": colour, "response_level": LEVELS[colour]}


def _check_response(session: Session, instance: Any, row: Any, data: dict[str, Any]) -> dict[str, Any]:
    level = STEP_LEVEL[row.bpmn_id]
    problems: dict[str, list[str]] = {}
    missing = [
        r for r in required_responders(session, instance, level) if r not in (data.get("responders") or [])
    ]
    if missing:
        names = "、".join(RESPONDER_NAMES.get(r, r) for r in missing)
        problems["responders"] = [
            f"{level}级响应须有{names}参与 / a level-{level} response needs: {', '.join(missing)}"
        ]
    if level == 1 and data.get("needs_higher_level"):
        problems["needs_higher_level"] = ["一级响应已是最高等级 / level 1 is the highest response"]
    if problems:
        raise Invalid("响应处置不符合分级响应要求 / the response does not meet its level", problems)
    if data.get("needs_higher_level"):
        return {"response_level": level - 1, "warning_level": COLOUR_OF[level - 1]}
    return {}


for _step in STEP_LEVEL:
    before_complete(KEY, _step)(_check_response)
