"""Printing from the case page: the 打印 buttons follow the case's state, the PDF opens inline and a
second print is the same file; the filed notice is listed with the case's materials by its title."""

from __future__ import annotations

import re

from engine.crypto import mask_id_number
from tests.documents_pdf import pdf_text
from tests.procedures.helpers import APPLICANT, Project, Twinning
from tests.web.helpers import ca_form


def _text(response):
    return response.get_data(as_text=True)


def _acceptance_task(instance_id: int) -> int:
    from api.extensions import db
    from engine.tasks import service as tasks

    return next(t.id for t in tasks.open_tasks_of(db.session, instance_id) if t.bpmn_id == "acceptance")


def test_print_button_follows_the_state_and_reprints_the_same_file(web):
    advisor = web("pt_advisor")
    instance_id = advisor.start_ca()  # the form's applicant: APPLICANT
    officer = web("pt_officer")
    page = _text(officer.get(f"/cases/{instance_id}"))
    assert 'data-testid="case-documents"' in page and "当前环节没有可打印的文书" in page
    assert 'data-testid="print-' not in page
    early = officer.post(f"/cases/{instance_id}/documents/acceptance_notice")
    assert early.status_code == 409 and "尚未决定予以受理" in _text(early)
    task_id = _acceptance_task(instance_id)
    officer.get(f"/tasks/{task_id}")
    assert officer.post(f"/tasks/{task_id}/complete", {"accepted": "true"}).status_code == 302
    page = _text(officer.get(f"/cases/{instance_id}"))
    assert 'data-testid="print-acceptance_notice"' in page and "打印：受理通知书" in page
    assert 'data-testid="print-refusal_notice"' not in page
    action = re.search(r'action="([^"]+acceptance_notice)" target="_blank"', page)
    assert action is not None
    first = officer.post(action.group(1))
    assert first.status_code == 200 and first.mimetype == "application/pdf"
    assert first.headers["Content-Disposition"].startswith("inline;")
    text = "".join(pdf_text(first.data).split())
    assert "受理通知书" in text and "予以受理" in text
    assert ca_form()["applicant_id_number"] == APPLICANT
    assert mask_id_number(APPLICANT) in text and APPLICANT not in text
    head = web("pt_head")
    head.get(f"/cases/{instance_id}")
    assert head.post(action.group(1)).data == first.data
    page = _text(officer.get(f"/cases/{instance_id}"))
    assert "受理通知书-" in page and "document:" not in page  # filed with the materials, by its title
    no_token = officer.client.post(action.group(1))
    assert no_token.status_code == 400


def test_plan_and_agreement_buttons_on_their_case_pages(web, client, login, june):
    household = Project(client, login, households=1).confirm()[0]
    worker = web("pt_agency_worker")
    assert 'data-testid="print-household_plan"' not in _text(worker.get(f"/cases/{household.id}"))
    household.assess_and_plan()
    page = _text(worker.get(f"/cases/{household.id}"))
    assert 'data-testid="print-household_plan"' in page and "打印：一户一策帮扶计划" in page
    printed = worker.post(f"/cases/{household.id}/documents/household_plan")
    assert printed.status_code == 200 and printed.mimetype == "application/pdf"
    assert "一户一策帮扶计划" in pdf_text(printed.data)
    twinning = Twinning(client, login, "TW05")
    twinning.select_and_sign()
    page = _text(web("city").get(f"/cases/{twinning.id}"))
    assert 'data-testid="print-twinning_agreement"' in page and "打印：牵手计划四方协议" in page
