"""Demo data: reference org units, BPMN, users for every role in two districts, a few cases."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.definitions import service as definitions
from engine.instances import service as instances
from engine.instances.models import ProcessInstance
from engine.orgs import service as orgs
from engine.tasks import service as tasks
from engine.twinning import service as twinning
from engine.users import service as users
from engine.users.models import User

DEMO_PASSWORD = "demo-pass-2026"
# A syntactically valid resident ID in the unallocated area 999999: it cannot belong to anyone.
DEMO_ID_NUMBER = "999999198001010011"

# (username, display name, [(role, org code)])
PUTUO, PUTUO_STREET, PUTUO_COMMITTEE = "310107", "310107014", "310107014001"
PUDONG, PUDONG_STREET = "310115", "310115004"

DEMO_USERS = [
    ("admin", "系统管理员", [("admin", "310000")]),
    ("city_officer", "市民政局 干部", [("city_officer", "310000")]),
    ("pt_advisor", "普陀 救助顾问", [("advisor", PUTUO_STREET)]),
    ("pt_officer", "普陀 街镇救助专员", [("street_officer", PUTUO_STREET)]),
    ("pt_head", "普陀 街镇负责人", [("street_head", PUTUO_STREET)]),
    ("pt_panel", "普陀 评议小组", [("review_panel", PUTUO_STREET)]),
    ("pt_finance", "普陀 资金发放", [("finance", PUTUO_STREET)]),
    ("pt_district", "普陀区 救助科", [("district_officer", PUTUO), ("district_head", PUTUO)]),
    ("pd_advisor", "浦东 救助顾问", [("advisor", PUDONG_STREET)]),
    ("pd_officer", "浦东 街镇救助专员", [("street_officer", PUDONG_STREET)]),
    ("pd_head", "浦东 街镇负责人", [("street_head", PUDONG_STREET)]),
    ("pd_finance", "浦东 资金发放", [("finance", PUDONG_STREET)]),
    ("pd_district", "浦东新区 救助科", [("district_officer", PUDONG), ("district_head", PUDONG)]),
    ("agency_worker", "社工机构 社工", [("agency_worker", PUTUO)]),
    ("agency_lead", "社工机构 负责人", [("agency_lead", PUTUO)]),
    ("foundation", "市帮困互助基金会", [("foundation", "310000")]),
]


def load_demo(session: Session, processes_dir: str) -> list[str]:
    summary = [
        f"org units: {orgs.load_reference(session)}",
        f"twinning pairings: {twinning.load_reference(session)}",
    ]
    for definition, created in definitions.sync_dir(session, processes_dir):
        summary.append(
            f"process {definition.key} v{definition.version} {'deployed' if created else 'unchanged'}"
        )
    made = 0
    for username, name, grants in DEMO_USERS:
        if session.scalar(select(User.id).where(User.username == username)) is None:
            users.create_user(session, username, DEMO_PASSWORD, display_name=name, grants=grants)
            made += 1
    summary.append(f"users created: {made} (password for all demo users: {DEMO_PASSWORD})")
    if (session.scalar(select(func.count()).select_from(ProcessInstance)) or 0) == 0:
        summary.extend(_demo_cases(session))
    return summary


def _start_filled(
    session: Session, user: User, key: str, business_key: str, first_form: dict
) -> ProcessInstance:
    """Start a demo case and complete its first task with ``first_form``."""
    instance = instances.start(session, user, key, PUTUO_STREET, business_key=business_key)
    tasks.complete(session, user, tasks.open_tasks_of(session, instance.id)[0].id, first_form)
    return instance


def _demo_cases(session: Session) -> list[str]:
    advisor = users.by_username(session, "pt_advisor")
    officer = users.by_username(session, "pt_officer")
    first = instances.start(session, advisor, "demo_assistance", PUTUO_STREET, business_key="DEMO-PT-0001")
    second = _start_filled(
        session,
        advisor,
        "demo_assistance",
        "DEMO-PT-0002",
        {
            "household_size": 3,
            "hardship_category": "dibao_edge",
            "aid_types": ["money", "services"],
            "amount_requested": "3000.00",
            "reason": "家庭成员突发重病，医疗支出较大",
            "credit_commitment_signed": True,
        },
    )
    tasks.claim(session, officer, tasks.open_tasks_of(session, second.id)[0].id)
    case = _start_filled(
        session,
        advisor,
        "comprehensive_assistance",
        "DEMO-CA-0001",
        {
            "channel": "active_discovery",
            "applicant_id_number": DEMO_ID_NUMBER,
            "household_size": 4,
            "assistance_form": "individual",
            "aid_types": ["money", "services"],
            "hardship_category": "dibao_edge",
            "still_in_difficulty": True,
            "amount_requested": "8000.00",
            "services_description": "心理疏导、就业指导",
            "reason": "主要劳动力因病失业，子女就学支出大",
            "credit_commitment_signed": True,
            "fast_track_help_first": False,
        },
    )
    referral = _start_filled(
        session,
        advisor,
        "service_referral_3a",
        "DEMO-3A-0001",
        {
            "discovery_channel": "home_visit",
            "applicant_id_number": DEMO_ID_NUMBER,
            "needs_categories": ["employment", "skills"],
            "needs_description": "青年失业在家，希望参加技能培训后就业",
        },
    )
    pd_advisor = users.by_username(session, "pd_advisor")
    third = instances.start(
        session, pd_advisor, "demo_assistance", PUDONG_STREET, business_key="DEMO-PD-0001"
    )
    return [f"demo cases: {first.id}, {second.id}, {third.id}, {case.id}, {referral.id}"]
