"""The community democratic review 社区民主评议 of comprehensive assistance (notice 002, 三(二)3): the
panel is led by a district or street assistance officer; the record names the chair, each member
present with their vote, and the vouchers checked. The attendance and the votes are counted from the
members' rows (the quorum and the gateway read them), never typed in as figures."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from engine.errors import Invalid, NotFound
from engine.procedures import before_complete
from engine.recusal import service as recusal
from engine.users import service as users

KEY = "comprehensive_assistance"
# Who may chair: the notice's 区、街（镇）救助干部.
CHAIR_ROLES = ("street_officer", "street_head", "district_officer", "district_head")


@before_complete(KEY, "democratic_review")
def count_the_review(session: Session, instance: Any, row: Any, data: dict[str, Any]) -> dict[str, Any]:
    members = data.get("members") or []
    problems: dict[str, list[str]] = {}
    names = [str(m.get("name", "")).strip() for m in members]
    if len(set(names)) != len(names):
        problems["members"] = ["同一成员不能重复登记 / the same member is listed twice"]
    chair_name = str(data.get("chair_username") or "").strip()
    try:
        chair = users.by_username(session, chair_name)
    except NotFound:
        chair = None
    if chair is None or not any(users.holds(session, chair, role, instance) for role in CHAIR_ROLES):
        problems["chair_username"] = [
            "主持人须为本案所属街镇或区的救助干部 / the chair must be a street or district assistance "
            "officer of this case's unit"
        ]
    elif recusal.must_step_aside(session, instance, chair):
        problems["chair_username"] = [
            "近亲属回避：该用户不能主持此案评议 / recusal: this user may not chair this case's review"
        ]
    if problems:
        raise Invalid("民主评议记录无效 / invalid review record", problems)
    votes = [m.get("vote") for m in members]
    return {
        "members_present": len(members),
        "votes_for": votes.count("for"),
        "votes_against": votes.count("against"),
        "votes_abstain": votes.count("abstain"),
    }
