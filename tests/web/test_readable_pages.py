"""Every page of every demo case, read as staff read it: as several users, in both languages, no raw key,
``None``, JSON, unlabelled value or the other language's words; final statuses told apart; the timeline
paged; error pages HTML for browsers and JSON for the API."""

from __future__ import annotations

import datetime as dt
import io
import re
from html.parser import HTMLParser

import pytest
import time_machine
from openpyxl import load_workbook
from sqlalchemy import select

from api import demo_materials
from api.demo import DEMO_PASSWORD, load_demo
from api.extensions import db
from engine.instances import operations
from engine.instances.models import ProcessInstance
from engine.tasks import service as tasks
from engine.tasks.models import HumanTask
from engine.users import service as users
from engine.users.models import User
from tests.conftest import PASSWORD, ROOT, SHANGHAI_TZ, USERS

# (username, what they stand for): a street officer (verifies identity), a district officer, the Bridge
# Plan's social worker and the city officer who sees every case and the dashboards.
READERS = ("pt_officer", "pt_district", "agency_worker", "city_officer")
TERMINATION_REASON = "申请人已迁出本市，终止办理"

# Words that may stand in Latin letters on a Chinese page: the language switch, file formats.
# file extensions of uploaded materials' names (user content, not words)
LATIN_ALLOWED = {"English", "CSV", "Excel", "pdf", "jpg", "png", "heic", "docx", "xlsx"}
SNAKE_KEY = re.compile(r"\b[a-z][a-z0-9]*_[a-z0-9_]+\b")
JSON_BITS = re.compile(r'\{"|":\s|\[\{|\}\]|\{\'|\': ')
ISO_DURATION = re.compile(r"\b(?:R\d+/|P\d+[DWMY]\b)")
CJK = re.compile(r"[\u3400-\u9fff]")


class _Page(HTMLParser):
    """The text a reader meets: text nodes (no scripts or styles) and the labels screen readers read;
    and the case summary's labels and values, pair by pair, and every table's header and row widths."""

    SKIP = {"script", "style", "template", "textarea"}
    SPOKEN = ("aria-label", "title", "placeholder", "alt")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self.labels: list[str] = []  # dt, th, caption, label texts
        self.pairs: list[tuple[str, str]] = []  # (dt, dd) in a description list
        self.tables: list[tuple[int, list[int]]] = []  # (header cells, cells per body row)
        self._stack: list[str] = []
        self._skip = 0
        self._buffer: dict[str, list[str]] = {}
        self._last_dt: str | None = None
        self._table: list[list[int]] = []
        self._row_cells = 0
        self._head = False

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self._skip += 1
        for name, value in attrs:
            if name in self.SPOKEN and value:
                self.texts.append(value)
        if tag in ("dt", "dd", "th", "caption", "label"):
            self._buffer[tag] = []
        if tag == "table":
            self._table.append([-1])
        if tag == "thead":
            self._head = True
        if tag == "tr":
            self._row_cells = 0
        if tag in ("td", "th") and self._table:
            self._row_cells += int(dict(attrs).get("colspan") or 1)

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self._skip = max(0, self._skip - 1)
        if tag in ("dt", "th", "caption", "label") and tag in self._buffer:
            self.labels.append("".join(self._buffer.pop(tag)).strip())
            if tag == "dt":
                self._last_dt = self.labels[-1]
        if tag == "dd" and "dd" in self._buffer:
            self.pairs.append((self._last_dt or "", "".join(self._buffer.pop("dd")).strip()))
            self._last_dt = None
        if tag == "thead":
            self._head = False
        if tag == "tr" and self._table:
            if self._head:
                self._table[-1][0] = self._row_cells
            else:
                self._table[-1].append(self._row_cells)
        if tag == "table" and self._table:
            head, *rows = self._table.pop()
            self.tables.append((head, rows))

    def handle_data(self, data):
        if self._skip:
            return
        self.texts.append(data)
        for parts in self._buffer.values():
            parts.append(data)


def read(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def problems(html: str, lang: str, names: frozenset[str] = frozenset()) -> list[str]:
    """What reads wrong on a page (empty when it reads right). ``names`` are people's names, read as
    they are (the test users are named by their usernames)."""
    page = read(html)
    shown = " ".join(" ".join(page.texts).split())
    for name in sorted(names, key=len, reverse=True):
        shown = shown.replace(name, " ")
    found = []
    if re.search(r"\bNone\b", shown):
        found.append("None on the page")
    found += [f"raw key {k!r}" for k in sorted(set(SNAKE_KEY.findall(shown)))]
    found += [f"JSON {m!r}" for m in sorted(set(JSON_BITS.findall(shown)))]
    found += [f"ISO duration {m!r}" for m in sorted(set(ISO_DURATION.findall(shown)))]
    if lang == "zh":
        words = {w for w in re.findall(r"[A-Za-z][A-Za-z0-9-]*", shown) if w.isalpha() and len(w) > 2}
        found += [f"English word {w!r} on the Chinese page" for w in sorted(words - LATIN_ALLOWED)]
    else:
        found += [f"Chinese label {lab!r} on the English page" for lab in page.labels if CJK.search(lab)]
    found += [f"value {value!r} without a label" for label, value in page.pairs if not label]
    for head, rows in page.tables:
        found += [f"table row of {n} cells under {head} headers" for n in rows if head >= 0 and n != head]
    return found


def login(web, username: str):
    return web().login(username, PASSWORD if username in USERS else DEMO_PASSWORD)


def _do(instance: ProcessInstance, bpmn_id: str, username: str, data: dict) -> None:
    session = db.session
    row = next(r for r in tasks.open_tasks_of(session, instance.id) if r.bpmn_id == bpmn_id)
    user = users.by_username(session, username)
    demo_materials.supply(session, user, row)  # the step's required materials, as the demo data has them
    tasks.complete(session, user, row.id, data)


def _case(business_key: str) -> ProcessInstance:
    return db.session.scalar(select(ProcessInstance).where(ProcessInstance.business_key == business_key))


@pytest.fixture()
def demo(app_ctx):
    """The demo data, and demo cases ended each way a case can end, at a fixed moment."""
    moment = dt.datetime(2026, 12, 2, 10, 0, tzinfo=SHANGHAI_TZ)
    with time_machine.travel(moment, tick=True):
        session = db.session
        load_demo(session, str(ROOT / "processes"))
        # 已办结: the demo's help approved, visited and paid
        paid = _case("DEMO-PT-0002")
        review = {"decision": "approve", "amount_approved": "3000.00", "opinion": "情况属实，同意帮扶"}
        _do(paid, "review", "pt_officer", review)
        _do(
            paid,
            "visit",
            "pt_advisor",
            {"visit_date": "2026-12-02", "summary": "入户核实", "more_visits_needed": False},
        )
        _do(paid, "disbursement", "pt_finance", {"amount_paid": "3000.00", "paid_on": "2026-12-02"})
        # 不予批准: the demo application refused at review
        refused = _case("DEMO-PT-0001")
        application = {
            "household_size": 2,
            "hardship_category": "dibao_edge",
            "aid_types": ["money"],
            "amount_requested": "2000.00",
            "reason": "临时生活困难",
            "credit_commitment_signed": True,
        }
        _do(refused, "application", "pt_advisor", application)
        _do(refused, "review", "pt_officer", {"decision": "reject", "opinion": "家庭收入超过标准"})
        # 不予受理: the comprehensive-assistance application not accepted
        not_accepted = _case("DEMO-CA-0001")
        _do(
            not_accepted,
            "acceptance",
            "pt_officer",
            {"accepted": False, "rejection_reason": "户籍不在本街道"},
        )
        # 已终止: ended by an operator with a reason
        operations.terminate(
            session, users.by_username(session, "admin"), _case("DEMO-PD-0001").id, TERMINATION_REASON
        )
        # 已撤回: a Bridge Plan family withdraws at its needs assessment
        household = _case(f"{moment.year}-DEMO-003")
        needs = {
            "family_withdraws": True,
            "need_economic": "high",
            "need_psychological": "medium",
            "need_medical": "low",
            "need_education": "high",
            "need_employment": "medium",
            "pre_test_score": 45,
        }
        _do(household, "needs_assessment", "agency_worker", needs)
        withdrawal = {
            "withdrawn_on": "2026-12-02",
            "reason": "家庭搬离本区",
            "closure_record": "已告知家庭退出后的救助渠道",
            "plan_adjustment": "名额转给候补家庭",
        }
        _do(household, "withdrawal", "agency_lead", withdrawal)
        session.commit()
        yield {
            "closed": paid.id,
            "not_approved": refused.id,
            "not_accepted": not_accepted.id,
            "terminated": _case("DEMO-PD-0001").id,
            "withdrawn": household.id,
        }


def _pages_of(instance_id: int) -> list[str]:
    task_ids = db.session.scalars(select(HumanTask.id).where(HumanTask.instance_id == instance_id)).all()
    return [f"/cases/{instance_id}", *(f"/tasks/{i}" for i in task_ids)]


def people() -> frozenset[str]:
    found = db.session.execute(select(User.username, User.display_name)).all()
    return frozenset(n for row in found for n in row if n)


def test_every_page_of_every_demo_case_reads_right_for_every_reader_in_both_languages(web, demo):
    names = people()
    cases = db.session.scalars(select(ProcessInstance.id).order_by(ProcessInstance.id)).all()
    assert len(cases) >= 11
    walked: set[int] = set()
    failures: list[str] = []
    for username in READERS:
        browser = login(web, username)
        for lang in ("zh", "en"):
            browser.get(f"/lang/{lang}")
            urls = ["/", "/notifications", "/start"]
            if username in ("pt_district", "city_officer"):
                urls.append("/dashboard")
            for instance_id in cases:
                if browser.get(f"/cases/{instance_id}").status_code != 200:
                    continue  # outside this reader's units
                walked.add(instance_id)
                urls += _pages_of(instance_id)
            for url in urls:
                response = browser.get(url)
                # a finished step may still be closed to some readers (403): its error page must read right too
                allowed = (200, 403) if url.startswith("/tasks/") else (200,)
                assert response.status_code in allowed, (username, url, response.status_code)
                failures += [
                    f"{username} {lang} {url}: {p}"
                    for p in problems(response.get_data(as_text=True), lang, names)
                ]
            if username in ("pt_officer", "pt_district"):  # the audited reveal, labelled
                for instance_id in sorted(walked):
                    revealed = browser.post(
                        f"/cases/{instance_id}/personal-data", {}, headers={"HX-Request": "true"}
                    )
                    if revealed.status_code == 200:
                        html = revealed.get_data(as_text=True)
                        failures += [
                            f"{username} {lang} reveal {instance_id}: {p}"
                            for p in problems(html, lang, names)
                        ]
    assert walked == set(cases), "every demo case was read by someone"
    if failures:
        pytest.fail(f"{len(failures)} things read wrong:\n" + "\n".join(failures))


def test_the_checker_catches_what_reads_wrong():
    """The page checks above fail on each defect the issue found (so a clean walk means something)."""
    assert "None on the page" in problems("<p>工作年度 None</p>", "zh")
    assert any("raw key" in p for p in problems("<dl><dt>其他</dt><dd>review_quorum 5</dd></dl>", "zh"))
    assert any("JSON" in p for p in problems('<p>{"household_ref": "DEMO-001"}</p>', "zh"))
    assert any("ISO duration" in p for p in problems("<p>回访间隔 P30D</p>", "zh"))
    assert any("English word" in p for p in problems("<p>资金发放 finance</p>", "zh"))
    assert any("Chinese label" in p for p in problems("<dl><dt>申请金额</dt><dd>1</dd></dl>", "en"))
    assert any("without a label" in p for p in problems("<dl><dt></dt><dd>5</dd></dl>", "zh"))
    table = "<table><thead><tr><th>a</th><th>b</th></tr></thead><tbody><tr><td>1</td></tr></tbody></table>"
    assert any("table row" in p for p in problems(table, "zh"))
    assert (
        problems("<dl><dt>申请金额（元）</dt><dd>6,000.00 元</dd></dl><p>DEMO-CA-0001 导出 CSV</p>", "zh")
        == []
    )


@pytest.mark.parametrize(
    ("which", "zh", "en", "details"),
    [
        ("closed", "已办结", "Closed", []),
        ("not_approved", "不予批准", "Not approved", []),
        ("not_accepted", "不予受理", "Not accepted", ["不予受理告知书", "户籍不在本街道"]),
        ("terminated", "已终止", "Terminated", [TERMINATION_REASON]),
        ("withdrawn", "已撤回", "Withdrawn", []),
    ],
)
def test_the_final_status_tells_how_the_case_ended(web, demo, which, zh, en, details):
    browser = login(web, "city_officer")
    html = browser.get(f"/cases/{demo[which]}").get_data(as_text=True)
    status = re.search(r'data-testid="case-status" data-outcome="([a-z_]+)">([^<]*)<', html)
    assert status.groups() == (which, zh)
    for text in details:
        assert text in html
    assert "已办结" not in html or which == "closed"  # a refusal never reads as approved and closed
    browser.get("/lang/en")
    html = browser.get(f"/cases/{demo[which]}").get_data(as_text=True)
    assert re.search(r'data-testid="case-status" data-outcome="[a-z_]+">([^<]*)<', html).group(1) == en


def test_a_refusal_at_approval_shows_its_reason_and_notice(web, demo):
    html = login(web, "pt_officer").get(f"/cases/{demo['not_approved']}").get_data(as_text=True)
    side = html[html.index('data-testid="case-status"') :]
    assert "不予批准告知书" in side and "不予受理告知书" not in side


def test_the_bridge_plan_project_lists_its_households_and_each_links_back(web, demo):
    browser = login(web, "city_officer")
    project = _case(f"BP-{dt.date(2026, 12, 2).year}-310107")
    html = browser.get(f"/cases/{project.id}").get_data(as_text=True)
    block = html[html.index('data-testid="child-cases"') :]
    block = block[: block.index("</section>")]
    households = db.session.scalars(
        select(ProcessInstance).where(ProcessInstance.parent_id == project.id)
    ).all()
    assert len(households) == 3
    for case in households:
        assert f'href="/cases/{case.id}"' in block and case.data["household_ref"] in block
        back = browser.get(f"/cases/{case.id}").get_data(as_text=True)
        assert f'data-testid="parent-case">{project.business_key}<' in back
    assert "已撤回" in block and "4,000.00 元" in block  # the withdrawn family; each budget share
    assert '{"household_ref"' not in html and "<caption>候选家庭</caption>" in html
    # a project names no applicant: no "申请人 未登记" line in its header; a household case keeps it
    header = html[html.index('data-testid="case-header"') :]
    header = header[: header.index("</section>")]
    assert "header-applicant" not in header and "申请人" not in header and "未登记" not in header
    back_header = back[back.index('data-testid="case-header"') :]
    assert 'data-testid="header-applicant"' in back_header[: back_header.index("</section>")]


def test_the_case_timeline_is_paged(web, demo):
    officer = login(web, "pd_officer")  # the demo's 3A case is in Pudong
    case = db.session.scalar(
        select(ProcessInstance).where(ProcessInstance.process_key == "service_referral_3a")
    )
    row = tasks.open_tasks_of(db.session, case.id)[0]
    holder = users.by_username(db.session, "pd_officer")
    for _ in range(12):  # each claim and put-back is audited: 24 events more
        tasks.claim(db.session, holder, row.id)
        tasks.unclaim(db.session, holder, row.id)
    db.session.commit()

    def rows(html: str) -> int:
        return len(re.findall(r"<tr><td>\d{4}年\d{1,2}月\d{1,2}日 \d\d:\d\d</td>", html))

    first = officer.get(f"/cases/{case.id}").get_data(as_text=True)
    assert 'data-testid="timeline-pager"' in first and rows(first) == 20
    assert "放回待认领" in first  # newest first, in staff words
    total = int(re.search(r"共 (\d+) 条", first).group(1))
    assert total > 24
    last = officer.get(f"/cases/{case.id}?tpage={(total + 19) // 20}").get_data(as_text=True)
    assert rows(last) == total - 20 * ((total - 1) // 20) and "新建案件" in last


def test_error_pages_are_html_for_the_browser_and_json_for_the_api(web, client):
    browser = login(web, "pt_officer")
    page = browser.get("/no/such/page")
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert "页面不存在" in page.get_data(as_text=True) and '{"error"' not in page.get_data(as_text=True)
    assert problems(page.get_data(as_text=True), "zh", people()) == []
    api = client.get("/api/v1/no/such/thing")
    assert api.status_code == 404 and api.mimetype == "application/json" and api.json["error"] == "not_found"
    asked = client.get("/no/such/page", headers={"Accept": "application/json"})
    assert asked.status_code == 404 and asked.json["error"] == "not_found"
    wrong_method = browser.client.delete("/login")
    assert wrong_method.status_code == 405 and wrong_method.mimetype == "text/html"


def test_the_diagram_names_lanes_in_one_language(web, demo):
    browser = login(web, "pt_officer")
    case = _case("DEMO-CA-0001")
    zh = browser.get(f"/cases/{case.id}/diagram.bpmn?lang=zh").get_data(as_text=True)
    assert 'name="资金发放"' in zh and "资金发放 finance" not in zh and 'name="市民综合帮扶"' in zh
    browser.get("/lang/en")
    en = browser.get(f"/cases/{case.id}/diagram.bpmn?lang=en").get_data(as_text=True)
    assert 'name="Finance"' in en and 'name="Citizen comprehensive assistance"' in en
    page = browser.get(f"/cases/{case.id}").get_data(as_text=True)  # the procedure named in English too
    assert (
        '<small class="muted">Citizen comprehensive assistance</small>' in page and "市民综合帮扶" not in page
    )
    # events, gateways, flows and automatic steps by their English names; in Chinese as drawn
    assert (
        'id="gw_accept" name="Accepted?"' in en and 'id="follow_up_wait" name="30 days after payment"' in en
    )
    assert 'name="Not accepted"' in en and 'id="settings" name="Load the settings"' in en
    assert 'id="gw_accept" name="是否受理？"' in zh and 'name="不予受理"' in zh


def test_a_case_on_a_version_without_english_names_takes_the_latest_versions(web):
    from engine.definitions import service as definitions
    from engine.instances import service as instances
    from engine.orgs import service as orgs

    session = db.session()
    admin = users.by_username(session, "admin")
    shipped = (ROOT / "processes" / "comprehensive_assistance.bpmn").read_text(encoding="utf-8")
    unnamed = shipped.replace('<spiffworkflow:property name="nameEn" value="Accepted?"/>', "")
    assert unnamed != shipped
    older, _new = definitions.deploy(session, unnamed, actor_id=admin.id)
    case = instances.create(session, older, orgs.by_code(session, "310107014"), actor_id=admin.id)
    newest, created = definitions.deploy(session, shipped, actor_id=admin.id)
    assert created and newest.version == older.version + 1
    session.commit()
    browser = login(web, "admin")
    browser.get("/lang/en")
    en = browser.get(f"/cases/{case.id}/diagram.bpmn?lang=en").get_data(as_text=True)
    assert 'id="gw_accept" name="Accepted?"' in en and 'id="start" name="Application submitted"' in en


def test_no_element_of_an_english_diagram_keeps_a_chinese_name(web, demo):
    browser = login(web, "admin")
    browser.get("/lang/en")
    shown = set()
    for case in db.session.scalars(select(ProcessInstance).order_by(ProcessInstance.id)):
        if case.definition.key in shown:
            continue
        shown.add(case.definition.key)
        en = browser.get(f"/cases/{case.id}/diagram.bpmn?lang=en").get_data(as_text=True)
        chinese = [
            (kind, name)
            for kind, name in re.findall(r'<bpmn:(\w+)\b[^>]*?(?<![\w:])name="([^"]*)"', en)
            # not drawn: a process's own name (its pool's is) and a data property's label
            if kind not in ("process", "property") and re.search(r"[\u4e00-\u9fff]", name)
        ]
        assert chinese == [], (case.definition.key, chinese)
    assert len(shown) >= 5


def test_dashboards_and_their_exports_show_no_none(web, demo):
    browser = login(web, "city_officer")
    html = browser.get("/dashboard").get_data(as_text=True)
    assert problems(html, "zh", people()) == []
    block = html[html.index('data-table="twinning"') :]
    assert "尚未开始" in block  # the pairing whose signatures are not complete has no working year yet
    book = load_workbook(io.BytesIO(browser.get("/dashboard/twinning.xlsx").data))
    cells = [c.value for row in book.active.iter_rows() for c in row]
    assert None not in cells and "None" not in cells and "尚未开始" in cells
    assert "0.00 元" in html[html.index('data-table="bridge"') :]


def test_an_operator_corrects_one_labelled_item_not_raw_json(web):
    advisor = login(web, "pt_advisor")
    instance_id = advisor.start_ca(business_key="WEB-EDIT-1")
    head = login(web, "pt_district")
    page = head.get(f"/cases/{instance_id}").get_data(as_text=True)
    block = page[page.index('data-testid="op-data"') :]
    block = block[: block.index("</form>")]
    assert '<option value="household_size">家庭人口</option>' in block and "JSON" not in block
    assert "placeholder" not in block and "applicant_id_number" not in block  # ID numbers have their own step
    head.post(
        f"/cases/{instance_id}/operations/data",
        {"field": "household_size", "value": "5", "reason": "更正人口"},
    )
    db.session.expire_all()
    assert db.session.get(ProcessInstance, instance_id).data["household_size"] == 5
    head.post(
        f"/cases/{instance_id}/operations/data", {"field": "review_quorum", "value": "1", "reason": "改"}
    )
    db.session.expire_all()
    assert db.session.get(ProcessInstance, instance_id).data["review_quorum"] == 5  # not a labelled item
    timeline = head.get(f"/cases/{instance_id}").get_data(as_text=True)
    assert "更正案件数据" in timeline and "household_size" not in read(timeline).texts


def test_a_case_not_there_or_not_yours_reads_the_same_in_staff_words(web):
    instance_id = login(web, "pt_advisor").start_ca(business_key="WEB-SCOPE-1")
    other = login(web, "pd_advisor")
    for url, status in ((f"/cases/{instance_id}", 403), ("/cases/999999", 404), ("/tasks/999999", 404)):
        response = other.get(url)
        html = response.get_data(as_text=True)
        assert response.status_code == status and response.mimetype == "text/html"
        assert ("案件不存在或您无权查看" if "/cases/" in url else "待办不存在或您无权查看") in html
        assert "流程实例" not in html and problems(html, "zh", people()) == []


def test_a_fired_timer_reads_as_what_the_system_did(web, demo):
    from engine.audit import service as audit
    from engine.audit.models import AuditAction

    project = _case(f"BP-{dt.date(2026, 12, 2).year}-310107")
    audit.record(
        db.session, AuditAction.TIMER_FIRED, instance_id=project.id, details={"bpmn_id": "b_monthly"}
    )
    db.session.commit()
    browser = login(web, "city_officer")
    html = browser.get(f"/cases/{project.id}").get_data(as_text=True)
    assert "系统自动处理：每月初" in html and "定时器" not in html
    browser.get("/lang/en")  # the timer by its English name (its nameEn property)
    html = browser.get(f"/cases/{project.id}").get_data(as_text=True)
    assert "Handled automatically: Start of each month" in html and "每月初" not in html


# Product and format names an admin page may show in Latin letters (versions, downloads, the API).
ADMIN_LATIN = {
    "XML",
    "DMN",
    "BPMN",
    "API",
    "ISO",
    "SQLite",
    "PostgreSQL",
    "Python",
    "SpiffWorkflow",
    "assistflow",
}


def test_admin_pages_read_in_the_users_language(web, demo):
    """The admin pages added lately (policy parameters, document templates, service organisations, user
    accounts): procedure names not keys, amounts as money, dates as dates, one language."""
    from engine.policy import service as policy

    names = people() | {"ca_approval_authority"}  # a decision's id, shown as such to the admin
    admin = login(web, "admin")
    keys = [key for key, _n in policy.procedures(db.session)]
    assert "bridge_plan_project" in keys
    pages = [
        "/admin/policy",
        *(f"/admin/policy/{k}" for k in keys),
        "/admin/templates",
        "/admin/service-orgs",
    ]
    pages += ["/admin/users", "/admin/decisions/ca_approval_authority/1/editor"]
    failures: list[str] = []
    for lang in ("zh", "en"):
        admin.get(f"/lang/{lang}")
        for url in pages:
            response = admin.get(url)
            assert response.status_code == 200, (url, response.status_code)
            html = response.get_data(as_text=True)
            if url.endswith("/editor"):  # the table's own ids and FEEL live in the dmn-js canvas, not here
                html = html[: html.index('id="d-canvas"')]
            found = problems(html, lang, names)
            failures += [f"{lang} {url}: {p}" for p in found if not any(f"'{w}'" in p for w in ADMIN_LATIN)]
    assert not failures, "\n".join(failures)
    admin.get("/lang/zh")
    page = admin.get("/admin/policy/bridge_plan_project").get_data(as_text=True)
    assert "5,000.00 元" in page and "桥计划项目" in page and "budget cap" not in page
    assert "2021年1月1日" in page  # the effective date as a date
    assert ">bridge_plan_project<" not in admin.get("/admin/policy").get_data(as_text=True)
    editor = admin.get("/admin/decisions/ca_approval_authority/1/editor").get_data(as_text=True)
    assert "部署为新版本" in editor and "Deploy" not in editor and "editor-zh.js" in editor


def test_a_step_record_counts_its_files(web, demo):
    """办理记录 names an uploaded material as "1 份材料", never the attachment's number."""
    officer = login(web, "pt_officer")
    html = officer.get(f"/cases/{demo['not_accepted']}").get_data(as_text=True)
    records = html[html.index('data-testid="step-records"') :]
    pairs = read(records).pairs
    materials = [value for label, value in pairs if label == "帮扶申请书"]
    assert materials and all(value == "1 份材料" for value in materials), materials
