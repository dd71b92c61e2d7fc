"""The case summary side panel reads the step records: each value under the label of the step whose form
asked for it (a later step's field never shows under an earlier step's label); a loop shows its latest run
and how many runs there were, linked to the 办理记录 table."""

from __future__ import annotations

from tests.procedures.helpers import Case, Project, _ca_to_follow_up
from tests.web.helpers import text


def _side(html: str) -> str:
    side = html.split('id="summary-h"', 1)[1]
    return side.split("</section>", 1)[0]


def test_each_value_under_the_label_of_the_step_that_asked_for_it(client, login, web, june):
    case = Case(client, login)
    _ca_to_follow_up(case, june)
    follow_up = {"visit_date": "2026-07-12", "situation": "病情稳定，生活基本正常", "still_needs_help": False}
    case.do("follow_up_visit", "pt_advisor", follow_up)
    for path in (f"/cases/{case.id}",):
        side = _side(text(web("pt_head").get(path)))
        assert "<dt>调查日期</dt><dd>2026年6月8日</dd>" in side
        assert "<dt>回访日期</dt><dd>2026年7月12日</dd>" in side  # the follow-up's own date, under its label
        assert "<dt>家庭近况</dt><dd>病情稳定，生活基本正常</dd>" in side  # only its record holds it
        assert "<dt>仍需帮扶</dt><dd>否</dd>" in side
        assert side.count("<dt>调查日期</dt>") == 1
    reader = web("pt_head")
    reader.get("/lang/en")
    english = _side(text(reader.get(f"/cases/{case.id}")))
    # both forms call the field "Visit date": each answer is told apart by its form's title
    first = english.split("<dt>Visit date</dt><dd>", 1)[1].split("</dd>", 1)[0]
    later = english.split("<dt>Follow-up visit · Visit date</dt><dd>", 1)[1].split("</dd>", 1)[0]
    assert "8" in first and "12" in later and first != later


def test_a_loop_shows_its_latest_run_and_how_many(client, login, web, june):
    project = Project(client, login, households=1)
    household = project.confirm()[0]
    household.assess_and_plan()
    for n in range(1, 4):
        household.record("visit", content=f"第{n}次入户走访")
    html = text(web("pt_agency_lead").get(f"/cases/{household.id}"))
    side = _side(html)
    assert "第3次入户走访" in side and "第1次入户走访" not in side and "第2次入户走访" not in side
    assert "最近一次，共 3 次" in side and f'href="/cases/{household.id}#records-h"' in side
    assert "<dt>前测得分</dt><dd>40</dd>" in side  # a step done once: no count


def test_a_value_an_operator_corrected_shows_corrected(client, login, web, june):
    from api.extensions import db
    from engine.instances import operations
    from engine.users import service as users
    from tests.procedures.helpers import INVESTIGATION

    case = Case(client, login)
    case.do("acceptance", "pt_officer", {"accepted": True})
    case.do("home_investigation", "pt_advisor", INVESTIGATION)
    admin = users.by_username(db.session, "admin")
    operations.edit_data(db.session, admin, case.id, {"findings": "入户核实，家庭收入已复核"}, [], "更正笔误")
    db.session.commit()
    side = _side(text(web("pt_head").get(f"/cases/{case.id}")))
    assert "<dt>核实情况</dt><dd>入户核实，家庭收入已复核</dd>" in side
    assert side.count("<dt>核实情况</dt>") == 1
