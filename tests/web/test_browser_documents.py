"""Printing a notice in a real browser: the officer clicks 打印 on the case page and the PDF that comes
back is read with pdftotext (Chinese text, the masked ID number, the case number)."""

from __future__ import annotations

from engine.crypto import mask_id_number
from tests.documents_pdf import pdf_text
from tests.procedures.helpers import APPLICANT, Case
from tests.web.browser import Staff


def test_officer_prints_the_acceptance_notice(browser, live_server, client, login):
    case = Case(client, login)
    case.do("acceptance", "pt_officer", {"accepted": True})
    number = case.detail()["business_key"] or f"#{case.id}"
    officer = Staff(browser, live_server, "pt_officer").login()
    page = officer.page
    officer.goto(f"/cases/{case.id}")
    button = page.get_by_test_id("print-acceptance_notice")
    assert button.inner_text() == "打印：受理通知书"
    # the form opens the PDF in a new tab: what the browser receives is captured on its way in
    received: list[bytes] = []

    def capture(route) -> None:
        answer = route.fetch()
        if answer.headers.get("content-type") == "application/pdf":
            received.append(answer.body())
        route.fulfill(response=answer)

    officer.context.route("**/documents/acceptance_notice", capture)
    with officer.context.expect_page():
        button.click()
    for _ in range(100):
        if received:
            break
        page.wait_for_timeout(100)
    assert received and received[0].startswith(b"%PDF")
    text = "".join(pdf_text(received[0]).split())
    assert "受理通知书" in text and "予以受理" in text
    assert mask_id_number(APPLICANT) in text and APPLICANT not in text
    assert number in text
    officer.shot("documents-01-case-print")
    assert not officer.errors, officer.errors
    officer.close()
