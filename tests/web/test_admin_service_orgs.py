"""The admin page of service organisations (3A referrals): register one, add and remove members (each
audited), refusals shown with nothing written, admins only."""

from __future__ import annotations

from sqlalchemy import func, select

from api.extensions import db
from engine.audit.models import AuditAction, AuditEvent
from engine.serviceorgs.models import ServiceOrganisation, ServiceOrganisationMember


def text(response) -> str:
    return response.get_data(as_text=True)


def _members(code: str) -> set[str]:
    org = db.session.scalar(select(ServiceOrganisation).where(ServiceOrganisation.code == code))
    db.session.refresh(org)
    return {m.user.username for m in org.members}


def test_only_admins_reach_the_page(web):
    browser = web("pd_district")
    assert browser.get("/admin/service-orgs").status_code == 403
    assert browser.post("/admin/service-orgs", data={"code": "PD-X", "name": "某机构"}).status_code == 403
    assert db.session.scalar(select(func.count()).select_from(ServiceOrganisation)) == 0


def test_an_admin_registers_an_organisation_and_manages_its_members(web):
    admin = web("admin")
    page = text(admin.get("/admin/service-orgs"))
    assert "服务机构" in page and "登记服务机构" in page and "None" not in page
    made = admin.post(
        "/admin/service-orgs", data={"code": "PD-SW-WEB", "name": "示例服务社（网页）", "district": "310115"}
    )
    assert made.status_code == 302
    listed = text(admin.get("/admin/service-orgs"))
    assert 'data-code="PD-SW-WEB"' in listed and "示例服务社（网页）" in listed and "浦东新区" in listed
    assert "尚无成员" in listed
    added = admin.post(
        "/admin/service-orgs/PD-SW-WEB/members", data={"username": "pd_agency_lead", "reason": "签约"}
    )
    assert added.status_code == 302 and _members("PD-SW-WEB") == {"pd_agency_lead"}
    assert 'data-member="pd_agency_lead"' in text(admin.get("/admin/service-orgs"))
    # a refusal comes back as a message on the page; nothing is written
    twice = admin.post("/admin/service-orgs/PD-SW-WEB/members", data={"username": "pd_agency_lead"})
    assert twice.status_code == 302 and "已是本机构成员" in text(admin.get("/admin/service-orgs"))
    bad = admin.post("/admin/service-orgs", data={"code": "坏 编码", "name": "某机构"})
    assert bad.status_code == 302 and "机构编码应为" in text(admin.get("/admin/service-orgs"))
    assert db.session.scalar(select(func.count()).select_from(ServiceOrganisation)) == 1
    removed = admin.post(
        "/admin/service-orgs/PD-SW-WEB/members/pd_agency_lead/remove", data={"reason": "调离"}
    )
    assert removed.status_code == 302 and _members("PD-SW-WEB") == set()
    assert db.session.scalar(select(func.count()).select_from(ServiceOrganisationMember)) == 0
    actions = list(
        db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.action.like("service_org.%")).order_by(AuditEvent.id)
        )
    )
    assert actions == [
        AuditAction.SERVICE_ORG_CREATED.value,
        AuditAction.SERVICE_ORG_MEMBER_ADDED.value,
        AuditAction.SERVICE_ORG_MEMBER_REMOVED.value,
    ]


def test_the_page_reads_in_english(web):
    admin = web("admin")
    admin.post("/admin/service-orgs", data={"code": "PD-SW-EN", "name": "示例服务社", "district": ""})
    admin.get("/lang/en")
    page = text(admin.get("/admin/service-orgs"))
    assert "Service organisations" in page and "Anywhere" in page and "No members yet" in page
    assert "Change the name or district" in page and "Deactivate" in page and "停用" not in page


def test_an_admin_renames_deactivates_and_reactivates_an_organisation(web):
    admin = web("admin")
    admin.post("/admin/service-orgs", data={"code": "PD-SW-EDIT", "name": "示例服务社", "district": "310115"})
    page = text(admin.get("/admin/service-orgs"))
    assert "修改名称或服务区域" in page and "使用中" in page and "停用原因（必填）" in page
    renamed = admin.post(
        "/admin/service-orgs/PD-SW-EDIT", data={"name": "示例服务社（更名）", "district": ""}
    )
    assert renamed.status_code == 302
    page = text(admin.get("/admin/service-orgs"))
    assert "已修改服务机构 PD-SW-EDIT" in page and "示例服务社（更名）" in page
    row = page.split('data-code="PD-SW-EDIT" data-active="1"')[1].split("</tr>")[0]
    assert "不限" in row.split("</details>")[1]  # the district column (after the edit form) says anywhere
    # a deactivation without a reason is refused with the reason shown; nothing written
    admin.post("/admin/service-orgs/PD-SW-EDIT/active", data={"active": "0", "reason": " "})
    assert "停用服务机构须说明原因" in text(admin.get("/admin/service-orgs"))
    assert db.session.scalar(
        select(ServiceOrganisation.active).where(ServiceOrganisation.code == "PD-SW-EDIT")
    )
    admin.post("/admin/service-orgs/PD-SW-EDIT/active", data={"active": "0", "reason": "服务合同到期"})
    page = text(admin.get("/admin/service-orgs"))
    assert "已停用服务机构 PD-SW-EDIT" in page and 'data-code="PD-SW-EDIT" data-active="0"' in page
    assert "新的个案不能匹配本机构" in page and "恢复使用" in page and "None" not in page
    admin.post("/admin/service-orgs/PD-SW-EDIT/active", data={"active": "1"})
    page = text(admin.get("/admin/service-orgs"))
    assert "已恢复服务机构 PD-SW-EDIT" in page and 'data-code="PD-SW-EDIT" data-active="1"' in page
    # saved again unchanged: said so, nothing written
    admin.post("/admin/service-orgs/PD-SW-EDIT", data={"name": "示例服务社（更名）", "district": ""})
    assert "没有需要保存的修改" in text(admin.get("/admin/service-orgs"))
    changes = [
        e.details["changes"]
        for e in db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == AuditAction.SERVICE_ORG_UPDATED.value)
            .order_by(AuditEvent.id)
        )
    ]
    assert changes == [
        {"name": ["示例服务社", "示例服务社（更名）"], "district": ["310115", None]},
        {"active": [True, False]},
        {"active": [False, True]},
    ]
