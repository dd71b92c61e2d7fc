"""Demo data: reference org units, BPMN, users for every role in two districts, a few cases."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api import demo_materials
from engine.cases import service as case_service
from engine.deadlines.calendar import SHANGHAI
from engine.definitions import service as definitions
from engine.forms import with_check_digit
from engine.households import service as households
from engine.households.models import Household, Person
from engine.instances import service as instances
from engine.instances.models import ProcessInstance
from engine.orgs import service as orgs
from engine.serviceorgs import service as serviceorgs
from engine.serviceorgs.models import ServiceOrganisation
from engine.tasks import service as tasks
from engine.twinning import service as twinning
from engine.users import service as users
from engine.users.models import User

DEMO_PASSWORD = "demo-pass-2026"
# A syntactically valid resident ID in the unallocated area 999999: it cannot belong to anyone.
DEMO_ID_NUMBER = "999999198001010011"

# (username, display name, [(role, org code[, procedures[, bound_to]])])
PUTUO, PUTUO_STREET, PUTUO_COMMITTEE = "310107", "310107014", "310107014001"
PUDONG, PUDONG_STREET = "310115", "310115004"

DEMO_USERS: list[tuple[str, str, list[tuple[Any, ...]]]] = [
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
    ("pt_district_finance", "普陀区 项目经费拨付", [("finance", PUTUO)]),
    ("pd_agency_worker", "浦东 社工机构 社工", [("agency_worker", PUDONG)]),
    ("pd_agency_lead", "浦东 社工机构 负责人", [("agency_lead", PUDONG)]),
    ("gansu_officer", "甘肃省民政厅 联络员", [("gansu_officer", "310000")]),
    ("aided_agency", "受援机构 负责人", [("aided_agency", "310000")]),
    # bound to the Twinning procedure and to the pairing its agency is contracted for (engine.scope)
    ("twinning_agency", "派出机构 负责人（牵手计划）", [("agency_lead", "310000", ["twinning"], ["TW01"])]),
    ("expert", "专家督导团 督导", [("supervisor_expert", "310000")]),
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
            # The password is published: outside the local demo database it must be changed first.
            users.create_user(
                session, username, DEMO_PASSWORD, display_name=name, grants=grants, must_change_password=True
            )
            made += 1
    summary.append(f"users created: {made} (password for all demo users: {DEMO_PASSWORD})")
    summary.append(_service_organisation(session))
    if (session.scalar(select(func.count()).select_from(ProcessInstance)) or 0) == 0:
        summary.extend(_demo_cases(session))
    return summary


# A fictional service organisation for the Pudong 3A referrals, with the Pudong agency users as members.
DEMO_SERVICE_ORG = (
    "PD-SW-DEMO",
    "示例社会工作服务社（浦东）",
    PUDONG,
    ("pd_agency_lead", "pd_agency_worker"),
)


def _service_organisation(session: Session) -> str:
    code, name, district, members = DEMO_SERVICE_ORG
    if session.scalar(select(ServiceOrganisation.id).where(ServiceOrganisation.code == code)) is not None:
        return f"service organisation {code}: unchanged"
    admin = users.by_username(session, "admin")
    serviceorgs.create(session, code=code, name=name, district_code=district, actor_id=admin.id)
    for username in members:
        serviceorgs.add_member(session, code, username, actor_id=admin.id, reason="示例数据 / demo data")
    return f"service organisation {code}: created with {len(members)} members"


def _start_filled(
    session: Session,
    user: User,
    key: str,
    business_key: str,
    first_form: dict,
    household: Household | None = None,
    street: str = PUTUO_STREET,
) -> ProcessInstance:
    """Start a demo case (for ``household``'s head, when given) and complete its first task."""
    head = _head(household) if household else None
    instance = case_service.start_case(
        session,
        user,
        key,
        street,
        household_id=household.id if household else None,
        applicant_person_id=head.id if head else None,
        business_key=business_key,
    )
    first = tasks.open_tasks_of(session, instance.id)[0]
    demo_materials.supply(session, user, first)
    tasks.complete(session, user, first.id, first_form)
    return instance


def _head(household: Household) -> Person:
    return next(m for m in household.members if m.relation.value == "head")


def _demo_household(
    session: Session,
    user: User,
    head_name: str,
    head_id: str,
    others: list[tuple[str, str, str]],
    street: str,
) -> Household:
    """A clearly fictional household (示例居民…; ID numbers in the unallocated area 999999)."""
    household = households.create_household(
        session,
        user,
        {
            "residence_street": street,
            "residence_address": "示例路 100 弄 1 号（演示地址）",
            "registered_street": street,
            "registered_address": "示例路 100 弄 1 号（演示地址）",
            "hardship_category": "dibao_edge",
            "bank_name": "示例银行",
            "bank_account_holder": head_name,
            "bank_account": "999900001111222233",
        },
        [
            {"name": head_name, "relation": "head", "id_number": head_id},
            *({"name": n, "relation": r, "id_number": i} for n, r, i in others),
        ],
    )
    session.refresh(household, ["members"])
    return household


def _demo_cases(session: Session) -> list[str]:
    advisor = users.by_username(session, "pt_advisor")
    officer = users.by_username(session, "pt_officer")
    family = _demo_household(
        session,
        advisor,
        "示例居民甲",
        DEMO_ID_NUMBER,
        [
            ("示例居民乙", "spouse", with_check_digit("99999919820202002")),
            ("示例居民丙", "child", with_check_digit("99999920080808003")),
        ],
        PUTUO_STREET,
    )
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
        household=family,
    )
    pd_advisor = users.by_username(session, "pd_advisor")
    # 3A runs in Pudong only: a Pudong family
    pd_head_id = with_check_digit("99999919900303004")
    pd_family = _demo_household(session, pd_advisor, "示例居民丁", pd_head_id, [], PUDONG_STREET)
    referral = _start_filled(
        session,
        pd_advisor,
        "service_referral_3a",
        "DEMO-3A-0001",
        {
            "discovery_channel": "home_visit",
            "applicant_id_number": pd_head_id,
            "needs_categories": ["employment", "skills"],
            "needs_description": "青年失业在家，希望参加技能培训后就业",
        },
        household=pd_family,
        street=PUDONG_STREET,
    )
    third = instances.start(
        session, pd_advisor, "demo_assistance", PUDONG_STREET, business_key="DEMO-PD-0001"
    )
    return [
        f"demo cases: {first.id}, {second.id}, {third.id}, {case.id}, {referral.id}",
        *_bridge_plan(session),
        *_twinning(session),
        *_putuo_care(session),
    ]


def _putuo_care(session: Session) -> list[str]:
    """A special-care household in its first week of visits and a yellow street warning being handled."""
    advisor = users.by_username(session, "pt_advisor")
    officer = users.by_username(session, "pt_officer")
    care = _start_filled(
        session,
        advisor,
        "special_care_visits",
        "DEMO-SC-0001",
        {
            "person_id_number": with_check_digit("99999919400101004"),
            "care_category": "elderly_alone",
            "care_reason": "独居高龄，行动不便（演示）",
            "address_note": "示例路 100 弄 2 号（演示地址）",
        },
    )
    street = _start_filled(
        session,
        officer,
        "street_response",
        "DEMO-SR-0001",
        {
            "found_on": "2026-11-20",
            "location": "示例路公交站（演示地址）",
            "source": "patrol",
            "danger_to_life": False,
            "extreme_weather": False,
            "vulnerable": [],
            "description": "一名男子在公交站过夜（演示）",
        },
    )
    return [f"Putuo care cases: {care.id} (special-care visits), {street.id} (street warning, yellow)"]


def _do(
    session: Session,
    instance: ProcessInstance,
    bpmn_id: str,
    username: str,
    data: dict,
    *,
    role: str | None = None,
) -> None:
    """Complete the open task ``bpmn_id`` of a demo case as ``username`` (of a multi-instance step: the
    instance for ``role``)."""
    row = next(
        t
        for t in tasks.open_tasks_of(session, instance.id)
        if t.bpmn_id == bpmn_id and role in (None, t.candidate_role)
    )
    user = users.by_username(session, username)
    demo_materials.supply(session, user, row)
    tasks.complete(session, user, row.id, data)


YOUTH = {
    "youth_age": 18,
    "youth_education": "secondary_vocational",
    "youth_intention": "work",
}  # the family's young person (桥计划: 中职以上、有升学或就业意愿)


def _household(n: int, street: str) -> dict:
    # Resident IDs in the unallocated area 999999: syntactically valid, nobody's number.
    return {
        "household_ref": f"DEMO-{n:03d}",
        "head_id_number": with_check_digit(f"99999120000101{n:03d}"),
        "street": street,
    }


def _bridge_project(
    session: Session, district: str, street: str, who: dict, households: int, stage: str
) -> Any:
    year = dt.datetime.now(SHANGHAI).year
    city = users.by_username(session, "city_officer")
    project = instances.start(
        session, city, "bridge_plan_project", district, business_key=f"BP-{year}-{district}"
    )
    rows = [_household(n + (100 if district == PUDONG else 0), street) for n in range(1, households + 1)]
    _do(
        session,
        project,
        "city_plan",
        "city_officer",
        {"project_year": year, "district_allocation": "150000.00"},
    )
    _do(
        session,
        project,
        "candidate_list",
        who["officer"],
        {"candidates": [{**h, "hardship": "dibao", "source": "door_to_door", **YOUTH} for h in rows]},
    )
    _do(
        session,
        project,
        "agency_contract",
        who["officer"],
        {
            "agency_name": "示范社会工作服务社",
            "agency_rating": "4A",
            "contract_signed_on": f"{year}-05-20",
            "staff": [{"staff_ref": f"S{i}", "qualification": "social_worker"} for i in range(1, 4)],
        },
    )
    filing = {"agreement_ref": f"BP-{year}-{district}-01", "signed_copy_received": True}
    filing |= {"agreement_signed_on": f"{year}-05-20", "filed_on": f"{year}-05-27"}
    _do(session, project, "agreement_filing", "city_officer", filing)
    if stage == "willingness":
        return project, []
    calls = [
        {"household_ref": h["household_ref"], "called_on": f"{year}-06-02", "willing": True} for h in rows
    ]
    _do(session, project, "willingness_calls", who["worker"], {"calls": calls})
    budget = [
        {"category": "needs_assessment", "purpose": "需求评估", "payee": "agency", "amount": "3000.00"},
        {
            "category": "comprehensive_services",
            "purpose": "个案与小组服务",
            "payee": "agency",
            "amount": "9000.00",
        },
    ]
    _do(
        session,
        project,
        "annual_list",
        who["lead"],
        {"households": rows, "budget_lines": budget, "fewer_reason": "演示数据：仅列出少量家庭"},
    )
    _do(session, project, "district_confirmation", who["officer"], {"decision": "approve", "opinion": "同意"})
    cases = [session.get(ProcessInstance, i) for i in project.data["household_case_ids"]]
    return project, cases


def _bridge_plan(session: Session) -> list[str]:
    putuo = {"officer": "pt_district", "lead": "agency_lead", "worker": "agency_worker"}
    pudong = {"officer": "pd_district", "lead": "pd_agency_lead", "worker": "pd_agency_worker"}
    project, cases = _bridge_project(session, PUTUO, PUTUO_STREET, putuo, 3, "confirmed")
    district = users.by_username(session, "pt_district")
    for number, case in enumerate(cases, start=1):
        home = _demo_household(
            session, district, f"桥计划示例户{number}户主", case.data["head_id_number"], [], PUTUO_STREET
        )
        households.link_case(session, district, case, home.id, _head(home).id)
    needs = {
        "family_withdraws": False,
        "need_economic": "high",
        "need_psychological": "medium",
        "need_medical": "low",
    }
    needs |= {"need_education": "high", "need_employment": "medium", "pre_test_score": 45}
    plan = {
        "goals": "完成职业教育并顺利就业",
        "methods": ["policy", "resources", "capability"],
        "planned_visits": 6,
    }
    for case in cases[:2]:
        _do(session, case, "needs_assessment", "agency_worker", needs)
        _do(session, case, "household_plan", "agency_worker", plan)
    today = dt.datetime.now(SHANGHAI).date().isoformat()
    for content in ("入户走访，了解学业情况", "链接就业见习岗位", "入户走访，心理疏导"):
        visit = {"action": "visit", "happened_on": today, "content": content}
        _do(session, cases[0], "case_work", "agency_worker", visit)
    other, _ = _bridge_project(session, PUDONG, PUDONG_STREET, pudong, 2, "willingness")
    return [
        f"Bridge Plan projects: {project.id} (households {', '.join(str(c.id) for c in cases)}), {other.id}"
    ]


def _twinning(session: Session) -> list[str]:
    city = users.by_username(session, "city_officer")
    signing = instances.start(session, city, "twinning", "310000", business_key="TW01")
    needs = {"needs_summary": "儿童关爱与社工站建设", "confirmed_with_gansu": True}
    _do(session, signing, "needs_assessment", "city_officer", {"pairing_code": "TW01", **needs})
    selection: dict[str, Any] = {
        "political_stance": True,
        "sound_management": True,
        "professional_service": True,
        "public_recognition": True,
    }
    selection["selection_note"] = "机构管理规范，服务专业，社会认可度高"
    _do(session, signing, "agency_selection", "city_officer", selection)
    signature = {"signed": True, "signed_on": "2021-03-15", "signatory_title": "负责人"}
    _do(session, signing, "sign_agreement", "city_officer", signature, role="city_officer")
    _do(session, signing, "sign_agreement", "gansu_officer", signature, role="gansu_officer")
    return [f"Twinning cases: {signing.id} (two of four parties signed)"]
