"""The admin policy-parameter pages: the versions with the one in force today, adding a version
(audited), refusals shown per field with nothing written, admins only."""

from __future__ import annotations

from sqlalchemy import func, select

from api.extensions import db
from engine.audit.models import AuditAction, AuditEvent
from engine.policy.models import PolicyParameterSet


def text(response) -> str:
    return response.get_data(as_text=True)


def _count() -> int:
    return db.session.scalar(select(func.count()).select_from(PolicyParameterSet))


def test_only_admins_reach_the_policy_pages(web):
    browser = web("pt_district")
    assert browser.get("/admin/policy").status_code == 403
    assert browser.get("/admin/policy/twinning").status_code == 403
    before = _count()
    assert browser.post("/admin/policy/twinning", data={"effective_from": "2027-01-01"}).status_code == 403
    assert _count() == before


def test_an_admin_adds_next_years_set(web, june):
    admin = web("admin")
    listed = text(admin.get("/admin/policy"))
    assert "政策参数" in listed and "/admin/policy/bridge_plan_project" in listed
    page = admin.get("/admin/policy/bridge_plan_project")
    assert page.status_code == 200
    html = text(page)
    assert "每户平均预算上限（元）" in html and 'data-testid="in-force"' in html
    assert 'value="5000"' in html and 'value="2027-01-01"' in html  # next 1 January offered
    assert "None" not in html
    form = {
        "effective_from": "2027-01-01",
        "value_per_household_cap": "5500",
        "value_min_households": "20",
        "value_min_qualified_staff": "3",
        "value_min_typical_cases": "5",
        "value_report_months": "7",
        "value_min_avg_visits": "5",
        "value_min_group_activities": "4",
        "value_city_budget": "1900000",
        "note": "2027 年桥计划通知",
    }
    saved = admin.post("/admin/policy/bridge_plan_project", data=form)
    assert saved.status_code == 302
    after = text(admin.get("/admin/policy/bridge_plan_project"))
    assert 'data-version="3"' in after and "5500" in after and "2027 年桥计划通知" in after
    # version 2 (in force from 2024, with the city budget: migration 0029) stays the one in force in June 2026
    assert after.index('data-testid="in-force"') > after.index('data-version="2"')
    event = db.session.scalar(
        select(AuditEvent)
        .where(AuditEvent.action == AuditAction.POLICY_SET_SAVED.value)
        .order_by(AuditEvent.id.desc())
    )
    assert event.details["values"]["per_household_cap"] == 5500


def test_a_bad_value_is_shown_and_nothing_is_written(web):
    admin = web("admin")
    before = _count()
    refused = admin.post(
        "/admin/policy/demo_assistance",
        data={"effective_from": "not a date", "value_district_review_threshold": "1"},
    )
    assert refused.status_code == 422 and "生效日期无效" in text(refused)
    refused = admin.post(
        "/admin/policy/demo_assistance",
        data={"effective_from": "2027-01-01", "value_district_review_threshold": ""},
    )
    assert refused.status_code == 422 and "参数有误" in text(refused)
    assert admin.get("/admin/policy/no_such_procedure").status_code == 404
    assert _count() == before
