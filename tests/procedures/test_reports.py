"""Reports in the notices' layout, as Excel and PDF, filled from the step records: the Bridge Plan's
monthly, mid-term and final reports, the Twinning yearly evaluation and the monthly fund report."""

from __future__ import annotations

import datetime as dt
import io

import time_machine
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from api.extensions import db
from engine.audit.models import AuditEvent
from engine.deadlines import service as deadlines
from tests.documents_pdf import pdf_text
from tests.helpers import assert_error
from tests.procedures.cases import fresh_token
from tests.procedures.helpers import (
    GROUPS_DONE,
    PUDONG,
    SH,
    WORKERS,
    Case,
    Project,
    Twinning,
    approve,
    evaluation_data,
    final_report,
    lines,
    pay,
    reports,
    review,
    run_scheduler,
    to_review,
)
from tests.web.helpers import Web

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def sheet(body: bytes):
    return load_workbook(io.BytesIO(body)).active


def cells(ws) -> list[list]:
    return [[c.value for c in row] for row in ws.iter_rows()]


def row_after(ws, label: str) -> list:
    """The values of the row that follows the heading row holding ``label`` (a table's first row)."""
    rows = cells(ws)
    index = next(i for i, r in enumerate(rows) if label in r)
    return rows[index + 1]


def heading(ws) -> dict:
    """The label: value lines under the title (up to the first blank row)."""
    out = {}
    for row in cells(ws)[2:]:
        if row[0] is None:
            break
        out[row[0]] = row[1]
    return out


def exported(instance_id: int) -> list[dict]:
    rows = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.instance_id == instance_id, AuditEvent.action == "report.exported")
        .order_by(AuditEvent.id)
    )
    return [e.details for e in rows]


def bridge_project_to_final(client, login, june) -> Project:
    project = Project(client, login)
    cases = project.confirm()
    june.move_to(dt.datetime(2026, 7, 1, 9, 5, tzinfo=SH))
    run_scheduler()
    monthly = {
        "report_month": 6,
        "households_served": 2,
        "visits": 4,
        "group_activities": 1,
        "spent_to_date": "1000.00",
        "progress": '=HYPERLINK("http://evil.example")已完成需求评估',
    }
    project.do("monthly_report", "pt_agency_worker", monthly)
    project.do(
        "midterm_report",
        "pt_agency_lead",
        {"summary": "中期进展顺利，服务按计划推进", "spent_to_date": "3000.00"},
    )
    group = {"group_action": "group", "group_ref": "G1", "group_name": "就业技能小组"}
    project.do(
        "group_work",
        "pt_agency_worker",
        {**group, "members": [{"household_ref": "PT-001"}, {"household_ref": "PT-002"}]},
    )
    for n in range(4):
        activity = {"group_action": "activity", "group_ref": "G1", "happened_on": f"2026-{7 + n:02d}-10"}
        project.do("group_work", "pt_agency_worker", {**activity, "topic": "求职技能", "attendance": 2})
    project.do("group_work", "pt_agency_worker", GROUPS_DONE)
    for case, visits in zip(cases, (5, 6), strict=True):
        case.assess_and_plan()
        for _ in range(visits):
            case.record()
        case.record("close")
        case.do("closure", "pt_agency_lead", {"post_test_score": 75, "summary": "目标达成，予以结案"})
    report = final_report()
    report["spending_lines"] = lines("6000.00") + [
        {"category": "needs_assessment", "purpose": "需求评估问卷", "payee": "vendor", "amount": "2000.00"}
    ]
    project.do("final_report", "pt_agency_lead", report)
    return project


def test_bridge_plan_reports_as_excel_and_pdf_from_the_records(client, login, june):
    project = bridge_project_to_final(client, login, june)
    district = login("pt_district")
    listed = client.get(f"/api/v1/process-instances/{project.id}/reports", headers=district)
    assert listed.status_code == 200, listed.json
    items = {(i["kind"], i["period"]): i for i in listed.json["items"]}
    assert set(items) == {("bridge_monthly", "6"), ("bridge_midterm", None), ("bridge_final", None)}
    assert items[("bridge_monthly", "6")]["title"] == "月度进度报告（6月）"

    final = client.get(items[("bridge_final", None)]["xlsx_url"], headers=district)
    assert final.status_code == 200 and final.mimetype == XLSX
    ws = sheet(final.data)
    assert ws["A1"].value == "桥计划项目总结报告"
    top = heading(ws)
    assert top["服务家庭户数"] == 2 and top["实际支出合计（元）"] == 8000.0
    assert top["满意率"] == 1.0 and top["户均走访次数（不少于5次）"] == "5.5"
    spending = row_after(ws, "支出类别")
    assert spending[:4] == ["综合服务", "个案服务", "社工机构", 6000.0]
    money_cell = next(c for row in ws.iter_rows() for c in row if c.value == 6000.0)
    assert money_cell.number_format == "#,##0.00"
    households = row_after(ws, "累计走访次数")
    assert households[2:4] == ["已结案", 5]
    totals = next(r for r in cells(ws) if r[0] == "合计" and r[3] == 11)
    assert totals[3] == 11  # 5 + 6 visits over both households

    pdf = client.get(items[("bridge_final", None)]["pdf_url"], headers=district)
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    text = pdf_text(pdf.data)
    for expected in ("桥计划项目总结报告", "8,000.00 元", "需求评估问卷", "典型案例", "区民政局验收意见"):
        assert expected in text, expected

    monthly = client.get(items[("bridge_monthly", "6")]["xlsx_url"], headers=district)
    ws = sheet(monthly.data)
    assert row_after(ws, "本月服务户数")[:4] == [2, 4, 1, 1000.0]
    progress = next(r[1] for r in cells(ws) if r[0] == "进展与问题")
    assert progress.startswith("'=HYPERLINK"), "user text never becomes a formula"
    midterm = client.get(items[("bridge_midterm", None)]["pdf_url"], headers=district)
    assert "中期进展顺利" in pdf_text(midterm.data) and "6月" in pdf_text(midterm.data)

    assert [(e["report"], e["format"]) for e in exported(project.id)] == [
        ("bridge_final", "xlsx"),
        ("bridge_final", "pdf"),
        ("bridge_monthly", "xlsx"),
        ("bridge_midterm", "pdf"),
    ]


def test_report_refusals(client, login, june):
    project = Project(client, login, households=1)
    project.confirm()
    city = login("city")
    base = f"/api/v1/process-instances/{project.id}/reports"
    assert client.get(base, headers=city).json["items"] == []
    assert_error(client.get(f"{base}/bridge_final.xlsx", headers=city), 409)
    assert_error(client.get(f"{base}/bridge_monthly.xlsx?period=7", headers=city), 404)
    assert_error(client.get(f"{base}/bridge_monthly.xlsx", headers=city), 404)
    assert (
        "period"
        in assert_error(client.get(f"{base}/bridge_monthly.xlsx?period=x7", headers=city), 422)["fields"]
    )
    assert_error(client.get(f"{base}/twinning_yearly.pdf?period=2021", headers=city), 404)
    assert_error(client.get(f"{base}/bridge_final.docx", headers=city), 404)
    assert_error(client.get(f"{base}/bridge_final.xlsx", headers=login(PUDONG["officer"])), 403)
    assert exported(project.id) == []


def test_twinning_yearly_evaluation_counts_that_years_workers_and_days(client, login, spring):
    case = Twinning(client, login, "TW03")
    case.select_and_sign()
    case.year()
    case.year(days=(30, 20), evaluation=evaluation_data(rating="excellent", beneficiaries=500))
    city = login("city")
    items = client.get(f"/api/v1/process-instances/{case.id}/reports", headers=city).json["items"]
    assert [(i["kind"], i["period"], i["title"]) for i in items] == [
        ("twinning_yearly", "2021", "2021年年度评估报告"),
        ("twinning_yearly", "2022", "2022年年度评估报告"),
    ]
    ws = sheet(client.get(items[1]["xlsx_url"], headers=city).data)
    top = heading(ws)
    assert top["工作年度"] == "2022年" and top["评估等级"] == "优秀"
    assert row_after(ws, "受益人数")[0] == 500
    workers = [r for r in cells(ws) if r[0] in {w["worker_ref"] for w in WORKERS}]
    # the year's own rows: the second run of the working-days step keeps what was entered that year
    # (SpiffWorkflow's join merged last year's rows into the submission itself before the fix)
    assert [(r[0], r[1], r[4]) for r in workers] == [("W1", "是", 30), ("W2", "是", 20)]
    text = pdf_text(client.get(items[0]["pdf_url"], headers=city).data)
    assert "2021年" in text and "派驻工作日" in text and "甘肃省民政厅" in text


def test_monthly_fund_report_lists_the_months_payments(client, login):
    with time_machine.travel(dt.datetime(2026, 11, 20, 10, 0, tzinfo=SH), tick=False):
        case = Case(client, lambda username: fresh_token(client, username))
        to_review(case)
        case.do("democratic_review", "pt_panel", review())
        case.do("street_approval", "pt_head", approve("3000.00"))
        case.do("disbursement", "pt_finance", pay("2999.50"))
    with time_machine.travel(dt.datetime(2026, 12, 1, 9, 1, tzinfo=SH), tick=False):
        deadlines.run_due(sessionmaker(bind=db.engine, expire_on_commit=False))
        mine = reports(db.session())["310107014"]
        finance = fresh_token(client, "pt_finance")
        base = f"/api/v1/process-instances/{mine.id}/reports"
        assert client.get(base, headers=finance).json["items"] == []  # not reviewed yet
        assert_error(client.get(f"{base}/ca_monthly.xlsx", headers=finance), 409)
        task = client.get(f"/api/v1/process-instances/{mine.id}", headers=finance).json["open_tasks"][0]
        # the review page shows the report's figures in its read-only fields, not empty inputs
        staff = Web(client.application.test_client()).login("pt_finance")
        page = staff.get(f"/tasks/{task['id']}").get_data(as_text=True)
        assert 'name="report_period" type="text" value="2026-11"' in page
        assert 'name="disbursement_count" type="number" value="1"' in page
        done = client.post(
            f"/api/v1/tasks/{task['id']}/complete", headers=finance, json={"data": {"confirmed": True}}
        )
        assert done.status_code == 200
        ws = sheet(client.get(f"{base}/ca_monthly.xlsx", headers=finance).data)
        assert ws["A1"].value == "市民综合帮扶业务及资金使用月报表"
        assert row_after(ws, "发放笔数") == [1, 2999.5, None, None, None]
        payment = row_after(ws, "发放环节")
        detail = case.detail()
        assert payment[0] == (detail["business_key"] or f"#{detail['id']}") and payment[4] == 2999.5
        assert isinstance(payment[3], dt.datetime) and payment[3].date() == dt.date(2026, 11, 20)
        text = pdf_text(client.get(f"{base}/ca_monthly.pdf", headers=finance).data)
        assert "2026年11月" in text and "2,999.50 元" in text and "单位负责人" in text
