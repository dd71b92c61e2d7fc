"""Reports from the case page: a 报表 section lists each report the case can export now, as Excel and
PDF, in staff words; a case of a procedure without reports shows no such section."""

from __future__ import annotations

import io
import re

from flask import g
from openpyxl import load_workbook

from tests.documents_pdf import pdf_text
from tests.procedures.helpers import Twinning


def test_twinning_case_page_lists_each_years_report(client, login, spring, web):
    case = Twinning(client, login, "TW05")
    case.select_and_sign()
    case.year()
    # the API calls above left their token user on the test's app context (flask.g); a browser's request
    # has none, and the export must work from the web session alone
    g.pop("current_user", None)
    city = web("city")
    page = city.get(f"/cases/{case.id}").get_data(as_text=True)
    assert 'data-testid="case-reports"' in page and 'data-testid="report-twinning_yearly-2021"' in page
    assert "2021年年度评估报告" in page and "twinning_yearly" not in re.sub(
        r'(data-testid|href)="[^"]*"', "", page
    )
    links = re.findall(r'href="(/cases/\d+/reports/twinning_yearly\.(?:xlsx|pdf)\?period=2021)"', page)
    assert len(links) == 2
    xlsx = city.get(links[0].replace("&amp;", "&"))
    assert xlsx.status_code == 200 and xlsx.headers["Content-Disposition"].startswith("attachment;")
    ws = load_workbook(io.BytesIO(xlsx.data)).active
    assert ws["A1"].value == "牵手计划年度评估报告"
    pdf = city.get(links[1])
    assert pdf.status_code == 200 and pdf.headers["Content-Disposition"].startswith("inline;")
    assert "牵手计划年度评估报告" in pdf_text(pdf.data)
    wrong = city.get(f"/cases/{case.id}/reports/twinning_yearly.pdf?period=2030")
    assert wrong.status_code == 404 and wrong.mimetype == "text/html"
    odd = city.get(f"/cases/{case.id}/reports/twinning_yearly.pdf?period=20x")
    assert odd.status_code == 404


def test_a_case_without_reports_has_no_report_section(web):
    advisor = web("pt_advisor")
    instance_id = advisor.start_ca()
    page = advisor.get(f"/cases/{instance_id}").get_data(as_text=True)
    assert 'data-testid="case-documents"' in page and 'data-testid="case-reports"' not in page
    assert advisor.get(f"/cases/{instance_id}/reports/bridge_final.pdf").status_code == 404  # not its kind
    assert web("pd_advisor").get(f"/cases/{instance_id}/reports/bridge_final.pdf").status_code == 403
