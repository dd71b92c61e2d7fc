"""Builders of procedure cases shared by test modules (comprehensive assistance, Bridge Plan, Twinning,
households): data and small drivers over the REST API, no tests. Test modules import from here, never
from each other (``tests/test_layout.py``)."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from api.extensions import db
from engine.deadlines import service as deadlines
from engine.forms import with_check_digit
from engine.instances.models import ProcessInstance
from tests import factories
from tests.conftest import ROOT
from tests.procedures.cases import ApiCase

# --- comprehensive assistance 市民综合帮扶 -----------------------------------------------------------------


STREET = "310107014"


KEY = "comprehensive_assistance"


id_number = with_check_digit


APPLICANT = id_number("99999919800101001")  # area code 999999 is not allocated: nobody's number


def application(**overrides):
    data = {
        "channel": "street_office",
        "applicant_id_number": APPLICANT,
        "household_size": 3,
        "assistance_form": "individual",
        "aid_types": ["money"],
        "hardship_category": "other",
        "still_in_difficulty": True,
        "amount_requested": "5000.00",
        "reason": "家庭成员突发重病，医疗支出较大",
        "credit_commitment_signed": True,
        "fast_track_help_first": False,
    }
    data.update(overrides)
    return data


class Case(ApiCase):
    """One application, entered by the advisor, moved on by whoever holds each task's role."""

    def __init__(self, client, login, **data):
        super().__init__(client, login, KEY, STREET, viewer="pt_head")
        self.do("application", "pt_advisor", application(**data))


def review(votes_for=6, votes_against=1, abstain=0, **overrides):
    data = {
        "review_date": "2026-11-19",
        "chair_username": "pt_officer",
        "members": panel(votes_for, votes_against, abstain),
        "vouchers_checked": ["income_proof", "investigation_record"],
        "review_opinion": "情况属实，同意帮扶",
    }
    data.update(overrides)
    return data


def assess(amount="3000.00", **overrides):
    data = {"assessment_opinion": "符合帮扶条件", "assessment_decision": "approve", "proposed_amount": amount}
    data.update(overrides)
    return data


def approve(amount="3000.00", **overrides):
    data = {"approval_decision": "approve", "approved_amount": amount, "approval_opinion": "同意"}
    data.update(overrides)
    return data


def pay(amount="3000.00"):
    return {"amount_paid": amount, "paid_on": "2026-11-20", "payment_method": "bank_transfer"}


def to_review(case):
    case.do("acceptance", "pt_officer", {"accepted": True})
    case.do(
        "home_investigation",
        "pt_advisor",
        {
            "visit_date": "2026-11-18",
            "findings": "入户核实，家庭情况属实",
            "household_verified": True,
        },
    )
    case.do("assessment", "pt_officer", assess())


# --- Bridge Plan 桥计划: a district project and its households ------------------------------------------


SH = dt.timezone(dt.timedelta(hours=8))


PUTUO = {
    "district": "310107",
    "street": "310107014",
    "officer": "pt_district",
    "lead": "pt_agency_lead",
    "worker": "pt_agency_worker",
}


def household(n: int, street: str, prefix: str = "PT") -> dict:
    serial = n + (500 if prefix == "PD" else 0)  # area code 999999 is not allocated: nobody's number
    return {
        "household_ref": f"{prefix}-{n:03d}",
        "head_id_number": id_number(f"99999919900101{serial:03d}"),
        "street": street,
    }


def staff(qualified: int = 3, unqualified: int = 0) -> list[dict]:
    rows = [{"staff_ref": f"S{i}", "qualification": "social_worker"} for i in range(qualified)]
    return rows + [{"staff_ref": f"U{i}", "qualification": "none"} for i in range(unqualified)]


def lines(*amounts: str, payee: str = "agency") -> list[dict]:
    return [
        {"category": "comprehensive_services", "purpose": "个案服务", "payee": payee, "amount": a}
        for a in amounts
    ]


class Project(ApiCase):
    """One district's project for 2026, driven to its annual list by the roles of that district."""

    def __init__(self, client, login, where=PUTUO, households=2, prefix="PT", rows=None):
        super().__init__(
            client, login, "bridge_plan_project", where["district"], starter="city", viewer="city"
        )
        self.where = where
        self.households = rows or [household(i, where["street"], prefix) for i in range(1, households + 1)]
        self.do("city_plan", "city", {"project_year": 2026, "district_allocation": "100000.00"})
        self.do(
            "candidate_list",
            where["officer"],
            {
                "candidates": [
                    {**h, "hardship": "dibao", "source": "big_data", **YOUTH} for h in self.households
                ]
            },
        )
        self.do("agency_contract", where["officer"], contract())
        self.do("agreement_filing", "city", FILING)
        self.do(
            "willingness_calls",
            where["worker"],
            {
                "calls": [
                    {"household_ref": h["household_ref"], "called_on": "2026-06-05", "willing": True}
                    for h in self.households
                ]
            },
        )

    def annual_list(self, **overrides):
        data = {"households": self.households, "budget_lines": lines(str(4000 * len(self.households)))}
        if len(self.households) < 20:
            data["fewer_reason"] = "本区符合条件且有意愿的家庭不足20户"
        data.update(overrides)
        return data

    def confirm(self):
        self.do("annual_list", self.where["lead"], self.annual_list())
        self.do("district_confirmation", self.where["officer"], {"decision": "approve", "opinion": "同意"})
        return [Household(self, case_id) for case_id in self.detail()["data"]["household_case_ids"]]


def contract(**overrides):
    data = {
        "agency_name": "示范社会工作服务社",
        "agency_rating": "4A",
        "contract_signed_on": "2026-05-20",
        "staff": staff(),
    }
    data.update(overrides)
    return data


class Household(ApiCase):
    def __init__(self, project: Project, case_id: int):  # an existing case opened by the project
        self.client, self.login, self.viewer, self.id = project.client, project.login, "city", case_id
        self.where = project.where

    def assess_and_plan(self):
        self.do("needs_assessment", self.where["worker"], needs())
        self.do(
            "household_plan",
            self.where["worker"],
            {"goals": "完成学业并顺利就业", "methods": ["policy", "resources"], "planned_visits": 6},
        )

    def record(self, action="visit", **extra):
        return self.do(
            "case_work",
            self.where["worker"],
            {"action": action, "happened_on": "2026-06-20", "content": "入户走访，了解近况", **extra},
        )


def needs(**overrides):
    data = {
        "family_withdraws": False,
        "need_economic": "high",
        "need_psychological": "medium",
        "need_medical": "low",
        "need_education": "high",
        "need_employment": "medium",
        "pre_test_score": 40,
    }
    data.update(overrides)
    return data


def run_scheduler():
    deadlines.run_due(sessionmaker(bind=db.engine, expire_on_commit=False))


# --- Twinning 结对帮扶: a pairing, its signers and workers -----------------------------------------------


# The four parties of the agreement: one instance of the multi-instance step ``sign_agreement`` each,
# in the inbox of the party's role (role -> the user who signs).
SIGNERS = {
    "city_officer": "city",
    "gansu_officer": "gansu",
    "agency_lead": "tw_agency_lead",
    "aided_agency": "aided",
}


WORKERS = [
    {"worker_ref": "W1", "national_certificate": True, "direct_service_years": "3.5"},
    {"worker_ref": "W2", "national_certificate": True, "direct_service_years": "2.0"},
]


class Twinning(ApiCase):
    def __init__(self, client, login, pairing="TW01"):
        super().__init__(client, login, "twinning", "310000", starter="city", viewer="city")
        self.do(
            "needs_assessment",
            "city",
            {"pairing_code": pairing, "needs_summary": "儿童关爱与社工站建设", "confirmed_with_gansu": True},
        )

    def select_and_sign(self):
        self.do(
            "agency_selection",
            "city",
            {
                "political_stance": True,
                "sound_management": True,
                "professional_service": True,
                "public_recognition": True,
                "selection_note": "机构管理规范，服务专业",
            },
        )
        for role, user in SIGNERS.items():
            self.do("sign_agreement", user, signature(), role=role)

    def plan(self, year, planned_days=45):
        """The dispatching agency drafts and signs the year's plan, the aided agency adds its part and signs."""
        self.do("annual_plan", "tw_agency_lead", plan(year, planned_days))
        self.do("annual_plan_aided", "aided", aided_sign_off(year))

    def year(self, days=(25, 20), evaluation=None):
        lead = "tw_agency_lead"
        year = self.detail()["data"]["working_year"]
        self.plan(year)
        self.do("dispatch_record", lead, {"workers": WORKERS, "dispatched_on": f"{year}-04-01"})
        self.do(
            "service_project",
            lead,
            {
                "project_name": "童伴成长计划",
                "beneficiaries": 150,
                "project_summary": "开展儿童关爱小组与个案服务",
            },
        )
        self.do("working_days", lead, {"day_log": day_log(*days, year=year)})
        supervision = {"supervised_on": f"{year}-10-10", "findings": "服务规范，建议加强记录"}
        self.do("internal_supervision", lead, supervision)
        self.do("external_supervision", "expert", supervision)
        self.do("annual_evaluation", "city", evaluation or evaluation_data())


def signature():
    return {"signed": True, "signed_on": "2021-03-15", "signatory_title": "负责人"}


def day_log(*days, year=2021):
    return [{"worker_ref": f"W{i + 1}", "from_date": f"{year}-04-01", "days": d} for i, d in enumerate(days)]


def evaluation_data(**overrides):
    data = {
        "joint_inspection": True,
        "rating": "good",
        "beneficiaries": 420,
        "stations": 2,
        "agencies": 2,
        "professionals_trained": 6,
        "training_person_times": 65,
        "subsidy_amount": "30000.00",
    }
    data.update(overrides)
    return data


# --- step records: a comprehensive-assistance case to its follow-up ----------------------------------


INVESTIGATION = {"visit_date": "2026-06-08", "findings": "入户核实，家庭情况属实", "household_verified": True}


def _ca_to_follow_up(case: Case, june) -> None:
    case.do("acceptance", "pt_officer", {"accepted": True})
    case.do("home_investigation", "pt_advisor", INVESTIGATION)
    case.do("assessment", "pt_officer", assess())
    case.do("democratic_review", "pt_panel", review())
    case.do("street_approval", "pt_head", approve())
    case.do("disbursement", "pt_finance", pay())
    timers = case.client.get(
        f"/api/v1/process-instances/{case.id}/timers", headers=case.login("pt_head")
    ).json
    june.move_to(dt.datetime.fromisoformat(timers[0]["due_at"]) + dt.timedelta(minutes=1))
    run_scheduler()


# --- a variant of the shipped comprehensive-assistance BPMN (for migrations) -------------------------


CA_XML = (ROOT / "processes" / "comprehensive_assistance.bpmn").read_text(encoding="utf-8")


def ca_variant(*, rename: str | None = None, deadline: str | None = None, drop: str | None = None) -> str:
    """Version 2 of comprehensive assistance by text edits: the acceptance task renamed and/or given
    another deadline; ``drop`` replaces an element's id everywhere (so the old element is gone)."""
    xml = CA_XML
    block = re.search(r'<bpmn:userTask id="acceptance".*?</bpmn:userTask>', xml, re.S)
    assert block is not None
    new_block = block.group(0)
    if rename:
        new_block = new_block.replace('name="受理"', f'name="{rename}"', 1)
    if deadline:
        new_block = new_block.replace('value="3 working days"', f'value="{deadline}"', 1)
    xml = xml.replace(block.group(0), new_block)
    if drop:
        xml = re.sub(rf'(?<=[",>]){drop}(?=["<,])', f"{drop}_v2", xml)  # also in send_back_to lists
    return xml


# --- households through the API ----------------------------------------------------------------------


HEAD_ID = with_check_digit("99999919820202051")


SPOUSE_ID = with_check_digit("99999919830303062")


def register(client, login, username="pt_advisor", head_id=HEAD_ID):
    response = client.post(
        "/api/v1/households",
        headers=login(username),
        json={
            "residence_street": factories.STREET,
            "residence_address": "示例路 8 弄 8 号",
            "hardship_category": "dibao",
            "bank_name": "示例银行",
            "bank_account": "6222 0202 0011 2233 445",
            "members": [
                {"name": "测试居民甲", "relation": "head", "id_number": head_id, "phone": "13900003333"},
                {"name": "测试居民乙", "relation": "spouse", "id_number": SPOUSE_ID},
            ],
        },
    )
    assert response.status_code == 201, response.json
    return response.json


def start(client, login, household, username="pt_advisor", business_key="CA-2026-310107-0777"):
    head = next(m for m in household["members"] if m["relation"] == "head")
    response = client.post(
        "/api/v1/process-instances",
        headers=login(username),
        json={
            "process_key": "demo_assistance",
            "org_unit": factories.STREET,
            "household_id": household["id"],
            "applicant_person_id": head["id"],
            "business_key": business_key,
        },
    )
    assert response.status_code == 201, response.json
    return response.json


YOUTH = {"youth_age": 18, "youth_education": "secondary_vocational", "youth_intention": "work"}


FILING = {
    "agreement_ref": "BP-AGR-01",
    "agreement_signed_on": "2026-05-20",
    "filed_on": "2026-05-27",
    "signed_copy_received": True,
}


def plan(year, planned_days=45):
    return {
        "goals": "建设社工站，开展儿童关爱服务",
        "planned_days": planned_days,
        "signed_on": f"{year}-03-20",
        "signatory_title": "负责人",
    }


def aided_sign_off(year):
    return {
        "aided_goals": "受援机构负责社工站日常运营与本地资源对接",
        "plan_agreed": True,
        "signed_on": f"{year}-03-25",
        "signatory_title": "负责人",
    }


PUDONG = {
    "district": "310115",
    "street": "310115004",
    "officer": "pd_district_officer",
    "lead": "pd_agency_lead",
    "worker": "pd_agency_worker",
}


GROUPS_DONE = {"group_action": "done"}


def final_report(spent="8000.00", refs=("PT-001", "PT-002")):
    return {
        "summary": "全年服务完成，家庭状况改善",
        "surveyed": 2,
        "satisfied": 2,
        "typical_cases": [
            {"title": f"案例{i}", "household_ref": ref, "summary": "帮助学生完成学业并就业"}
            for i, ref in enumerate(refs)
        ],
        "spending_lines": lines(spent),
    }


def transfer_accepted(case):
    """The city coordinates the transfer and Pudong, the district of residence, accepts it."""
    assert case.open() == ["transfer_coordination"] and case.detail()["org_unit"] == "310107014"
    case.do(
        "transfer_coordination", "city", {"coordination_decision": "coordinate", "opinion": "请浦东新区接收"}
    )
    assert case.open() == ["transfer_acceptance"] and case.detail()["org_unit"] == "310107014"
    decision = {"receiving_decision": "accept", "opinion": "同意接收"}
    assert case.submit("transfer_acceptance", "pt_district", decision).status_code == 403  # not theirs
    case.do("transfer_acceptance", "pd_district_officer", decision)


def panel(votes_for=6, votes_against=1, abstain=0):
    """The members present (placeholder names, no real people), each with a vote."""
    votes = ["for"] * votes_for + ["against"] * votes_against + ["abstain"] * abstain
    roles = ["committee_cadre", "building_leader", "volunteer", "resident_rep"]
    return [
        {"name": f"评议成员{i + 1}", "member_role": roles[i % len(roles)], "vote": vote}
        for i, vote in enumerate(votes)
    ]


def reports(session):
    session.expire_all()
    rows = session.scalars(
        select(ProcessInstance)
        .where(ProcessInstance.process_key == "ca_monthly_fund_report")
        .order_by(ProcessInstance.id)
    )
    return {r.org_unit.code: r for r in rows}


# --- Pudong 3A 服务救助: service organisations ----------------------------------------------------------


def service_org(client, login, code, members, district="310115", name=None):
    """Register a service organisation through the API (as the admin) with ``members`` as its users."""
    admin = login("admin")
    made = client.post(
        "/api/v1/service-organisations",
        json={"code": code, "name": name or f"服务机构 {code}", "district": district},
        headers=admin,
    )
    assert made.status_code == 201, made.json
    for username in members:
        added = client.post(
            f"/api/v1/service-organisations/{code}/members", json={"username": username}, headers=admin
        )
        assert added.status_code == 201, added.json
    return made.json
