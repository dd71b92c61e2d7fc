"""Printing a case page: with print media emulated, the menus, buttons and forms are hidden and the
diagram is redrawn to fit its box (no step outside it: nothing cropped)."""

from __future__ import annotations

from tests.procedures.helpers import Case
from tests.web.browser import SHOTS, Staff, wait_until

INSIDE = """() => {
  const box = document.getElementById('diagram').getBoundingClientRect();
  const drawn = document.querySelector('#diagram .djs-container .viewport').getBoundingClientRect();
  return {box: [box.left, box.top, box.right, box.bottom], drawn: [drawn.left, drawn.top, drawn.right, drawn.bottom],
          inside: drawn.left >= box.left - 1 && drawn.top >= box.top - 1 && drawn.right <= box.right + 1
                  && drawn.bottom <= box.bottom + 1 && drawn.width > 0};
}"""


def test_printed_case_page_has_no_menus_and_the_whole_diagram(browser, live_server, client, login):
    case = Case(client, login)
    case.do("acceptance", "pt_officer", {"accepted": True})
    officer = Staff(browser, live_server, "pt_officer", width=1280).login()
    page = officer.page
    officer.goto(f"/cases/{case.id}")
    page.locator('#diagram[data-diagram-ready="1"]').wait_for()
    nav = page.locator("header.top nav")
    assert nav.is_visible() and page.get_by_test_id("print-acceptance_notice").is_visible()
    screen_fit = page.get_attribute("#diagram", "data-diagram-fit")
    page.set_viewport_size({"width": 794, "height": 1123})  # A4 at 96 dpi: the box narrows by a third
    page.emulate_media(media="print")
    wait_until(
        page,
        "prev => document.getElementById('diagram').getAttribute('data-diagram-fit') !== prev",
        screen_fit,
    )
    assert nav.is_hidden()
    assert page.locator("header.top .tools").is_hidden()
    assert page.get_by_test_id("case-documents").is_hidden()  # the 打印 buttons
    assert page.get_by_test_id("print-acceptance_notice").is_hidden()
    assert page.locator("h1").first.is_visible()  # the case itself is printed
    assert page.get_by_text("办理记录").first.is_visible()
    geometry = page.evaluate(INSIDE)
    assert geometry["inside"], geometry
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.pdf(
        path=str(SHOTS / "print-01-case-page.pdf")
    )  # Chromium's own print of the page, kept with the shots
    page.emulate_media(media="screen")
    assert nav.is_visible()
    officer.close()
