"""Case data as staff read it: every value labelled from its form in the user's language, tables as
tables, amounts as money, dates as dates, yes/no as 是/否.

A value nobody labelled (an engine routing variable, a bookkeeping counter) is not shown on staff pages:
administrators read the raw data on the admin pages.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from engine.bpmn import element_names
from engine.deadlines.calendar import SHANGHAI
from engine.forms import FieldDef, FormDefinition
from engine.tasks.names import StepNames, bilingual
from engine.users.models import role_name

# Process variables that no form describes but that staff need to read: name -> (中文, English, kind).
# kind is a field type (money, integer, boolean, date, text, choice) or one of the special kinds below.
VARIABLES: dict[str, tuple[str, str, str]] = {
    # comprehensive assistance
    "review_quorum": ("民主评议法定人数", "Quorum of the democratic review", "integer"),
    "district_threshold": ("需区级审批的金额（元）", "Amount needing district approval", "money"),
    "follow_up_wait": ("回访间隔", "Follow-up after", "duration"),
    "needs_district_review": ("需区级审批", "Needs district approval", "boolean"),
    "notice_to_applicant": ("告知书", "Notice to the applicant", "text"),
    # Bridge Plan project
    "per_household_cap": ("户均经费上限（元）", "Budget cap per household", "money"),
    "min_households": ("服务家庭下限（户）", "Minimum households", "integer"),
    "min_qualified_staff": ("持证社工下限（人）", "Minimum qualified social workers", "integer"),
    "min_typical_cases": ("典型个案下限（个）", "Minimum typical cases", "integer"),
    "report_months": ("月度报告次数", "Monthly reports due", "integer"),
    "household_count": ("服务家庭户数", "Households served", "integer"),
    "budget_total": ("预算合计", "Budget total", "money"),
    "budget_cap": ("预算上限", "Budget cap", "money"),
    "budget_share_per_household": ("每户经费份额", "Budget share per household", "money"),
    "flagged_households": ("已由其他项目服务的家庭", "Households served by other projects", "flagged"),
    "service_phase": ("服务阶段", "Service phase", "phase"),
    "households_total": ("服务家庭户数", "Households held", "integer"),
    "households_open": ("在办家庭个案", "Household cases open", "integer"),
    "households_withdrawn": ("退出家庭", "Households withdrawn", "integer"),
    "visits_total": ("走访总次数", "Visits in all", "integer"),
    "visits_per_household": ("户均走访次数", "Visits per household", "decimal"),
    "spent_total": ("实际支出合计", "Spent in all", "money"),
    "satisfaction_rate": ("满意率（%）", "Satisfaction rate (%)", "decimal"),
    # Bridge Plan household (carried over from the project's list)
    "household_ref": ("家庭编号", "Household ref", "text"),
    "head_id_number": ("户主身份证号", "ID number of the household head", "text"),
    "project_year": ("项目年度", "Project year", "year"),
    "budget_share": ("本户经费份额", "Budget share of the household", "money"),
    "min_visits": ("走访次数下限", "Minimum visits", "integer"),
    "visit_count": ("已走访次数", "Visits made", "integer"),
    "group_count": ("小组活动次数", "Group activities", "integer"),
    "service_count": ("服务记录次数", "Services recorded", "integer"),
    "record_count": ("个案记录总数", "Case records in all", "integer"),
    "served_by_other_projects": ("同时参加的其他项目", "Other projects serving the household", "projects"),
    # twinning
    "first_year": ("首个工作年度", "First working year", "year"),
    "last_year": ("最后工作年度", "Last working year", "year"),
    "working_year": ("当前工作年度", "Current working year", "year"),
    "min_workers": ("派出社工下限（人）", "Minimum social workers", "integer"),
    "min_service_years": ("最短服务年限（年）", "Minimum years of service", "integer"),
    "min_working_days": ("年度工作日下限（天）", "Minimum working days a year", "integer"),
    "annual_subsidy": ("年度补贴", "Annual subsidy", "money"),
    "dispatching_agency": ("派出机构", "Dispatching agency", "text"),
    "aided_agency": ("受援机构", "Aided agency", "text"),
    "county": ("受援县", "Aided county", "text"),
    "agreement_effective": ("四方协议已生效", "Four-party agreement in force", "boolean"),
    "workers_dispatched": ("已派出社工（人）", "Social workers dispatched", "integer"),
    "working_days_total": ("本年度工作日（天）", "Working days this year", "integer"),
    # 3A referral
    "average_score": ("平均得分", "Average score", "decimal"),
    "published": ("已公示", "Published", "boolean"),
    "service_org_name": ("承接服务机构名称", "Service organisation", "text"),
}

# Signatures of the twinning agreement's four parties: "signature_<party>" is one record of the
# signature form.
SIGNATURE_PARTIES: dict[str, tuple[str, str]] = {
    "city_department": ("上海市民政局签署", "Signature of the Shanghai civil affairs bureau"),
    "gansu_department": ("甘肃省民政厅签署", "Signature of the Gansu civil affairs department"),
    "dispatching_agency": ("派出机构签署", "Signature of the dispatching agency"),
    "aided_agency": ("受援机构签署", "Signature of the aided agency"),
}

PHASES = {"running": ("服务中", "In service"), "ended": ("服务期结束", "Service ended")}

_DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?$")


class Formatter:
    """Formats values for one locale; ``yes``/``no``/``yuan`` come from the UI texts."""

    def __init__(self, locale: str, *, unit_names: dict[str, str] | None = None) -> None:
        self.en = locale == "en"
        self.locale = locale
        self.unit_names = unit_names if unit_names is not None else {}

    def word(self, zh: str, en: str) -> str:
        return en if self.en else zh

    # --- scalars -------------------------------------------------------------------------------------

    def money(self, value: Any) -> str:
        amount = to_decimal(value)
        if amount is None:
            return str(value)
        return f"{amount:,.2f} " + self.word("元", "CNY")

    def number(self, value: Any, places: int | None = None) -> str:
        amount = to_decimal(value)
        if amount is None:
            return str(value)
        if places is not None:
            return f"{amount:,.{places}f}"
        return f"{amount:,}" if amount == amount.to_integral_value() and abs(amount) >= 10000 else str(amount)

    def date(self, value: Any) -> str:
        day = _date(value)
        if day is None:
            return str(value)
        return f"{day:%d %b %Y}".lstrip("0") if self.en else f"{day.year}年{day.month}月{day.day}日"

    def datetime(self, value: Any) -> str:
        moment = value if isinstance(value, dt.datetime) else _datetime(value)
        if moment is None:
            return str(value)
        if moment.tzinfo is not None:
            moment = moment.astimezone(SHANGHAI)
        return f"{self.date(moment.date())} {moment:%H:%M}"

    def yes_no(self, value: Any) -> str:
        return self.word("是", "Yes") if value else self.word("否", "No")

    def duration(self, value: Any) -> str:
        found = _DURATION.match(str(value))
        if not found:
            return str(value)
        years, months, weeks, days = (int(g) if g else 0 for g in found.groups())
        parts = [
            (years, "年", "years"),
            (months, "个月", "months"),
            (weeks, "周", "weeks"),
            (days, "天", "days"),
        ]
        return " ".join(
            f"{n}{zh}" if not self.en else f"{n} {en if n != 1 else en[:-1]}" for n, zh, en in parts if n
        ) or self.word("0天", "0 days")

    # --- one field -----------------------------------------------------------------------------------

    def field_value(self, f: FieldDef, value: Any) -> str:
        """One value of a form field as text (a table field goes through :meth:`table`)."""
        return self._value(f, value, None)

    def _choice_labels(self, f: FieldDef) -> dict[str, str]:
        return {c.value: self._label(c.label) for c in f.choices}

    def _value(self, f: FieldDef, value: Any, labels: dict[str, str] | None) -> str:
        if value is None or value == "" or value == []:
            return "—"
        kind = f.type
        if kind == "boolean":
            return self.yes_no(value)
        if kind in ("choice", "multi_choice"):
            if labels is None:
                labels = self._choice_labels(f)
            items = value if isinstance(value, list) else [value]
            return self.word("、", ", ").join(labels.get(str(v), str(v)) for v in items)
        if kind == "money":
            return self.money(value)
        if kind == "decimal":
            return self.number(value, f.places)
        if kind == "integer":
            return str(value)
        if kind == "date":
            return self.date(value)
        if kind == "datetime":
            return self.datetime(value)
        if kind == "table":
            return "—"
        if kind == "file":  # the ids of the step's uploaded files: the case page lists them by name
            count = len(value) if isinstance(value, list) else 1
            return self.word(f"{count} 份材料", f"{count} file{'s' if count != 1 else ''}")
        text = str(value)
        if isinstance(value, str) and _is_street_field(f.name):
            return self.unit_names.get(text, text)
        return text

    def table(self, f: FieldDef, rows: Any) -> dict[str, Any]:
        columns = list(f.columns)
        # each choice column's labels once, not once a row
        labelled = [
            (c, self._choice_labels(c) if c.type in ("choice", "multi_choice") else None) for c in columns
        ]
        # each column: its name, whether its text is the value itself, and the texts of the values seen
        # so far (a column's values repeat down a list: dates, choices, amounts)
        plan: list[tuple[str, bool, FieldDef, dict[str, str] | None, dict[tuple[type, Any], str]]] = [
            (c.name, c.type not in _FORMATTED and not _is_street_field(c.name), c, labels, {})
            for c, labels in labelled
        ]
        body = []
        for row in rows if isinstance(rows, list) else []:
            if not isinstance(row, dict):
                continue
            cells = []
            for name, plain, c, labels, seen in plan:
                value = row.get(name)
                kind = type(value)
                if plain:
                    if kind is str:
                        cells.append(value or "—")
                    else:
                        cells.append("—" if value is None or value == [] else str(value))
                elif kind is str or kind is int or kind is float or kind is bool:
                    text = seen.get((kind, value))
                    if text is None:
                        text = seen[(kind, value)] = self._value(c, value, labels)
                    cells.append(text)
                else:
                    cells.append(self._value(c, value, labels))
            body.append(cells)
        return {"headers": [self._label(c.label) for c in columns], "rows": body}

    def choice_label(self, labels: Any) -> str:
        """A label given in both languages (``{"zh": …, "en": …}``), in this formatter's."""
        return self._label(labels)

    def _label(self, labels: Any) -> str:
        if not labels:
            return ""
        return str(labels.get(self.locale) or labels.get("zh") or next(iter(labels.values())))

    def label(self, f: FieldDef) -> str:
        return self._label(f.label)


# the kinds :meth:`Formatter.field_value` writes other than as their text
_FORMATTED = frozenset(
    {"boolean", "choice", "multi_choice", "money", "decimal", "integer", "date", "datetime", "table"}
)


def _is_street_field(name: str) -> bool:
    return name == "street" or name.endswith("_street")


def to_decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _datetime(value: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None


# --- the whole case -------------------------------------------------------------------------------------


def field_index(forms: list[FormDefinition]) -> dict[str, FieldDef]:
    """Field name → its definition, across the case's forms (the first form that names it wins)."""
    out: dict[str, FieldDef] = {}
    for form in forms:
        for f in form.fields:
            out.setdefault(f.name, f)
    return out


def case_items(
    data: dict[str, Any],
    forms: list[FormDefinition],
    fmt: Formatter,
    *,
    hidden: frozenset[str] = frozenset(),
) -> dict[str, list[dict[str, Any]]]:
    """The case's data as items ``{"label", "text"}`` or ``{"label", "table": {"headers", "rows"}}``:
    form fields under ``fields``, labelled process variables under ``other``; unlabelled keys left out."""
    fields = field_index(forms)
    out: dict[str, list[dict[str, Any]]] = {"fields": [], "other": []}
    for key, value in data.items():
        if key in hidden or key.startswith("_"):
            continue
        f = fields.get(key)
        if f is not None:
            if f.type == "table":
                table = fmt.table(f, value)
                if table["rows"]:
                    out["fields"].append({"label": fmt.label(f), "table": table})
            else:
                out["fields"].append({"label": fmt.label(f), "text": fmt.field_value(f, value)})
            continue
        item = variable_item(key, value, fields, fmt)
        if item is not None:
            out["other"].append(item)
    return out


def variable_item(key: str, value: Any, fields: dict[str, FieldDef], fmt: Formatter) -> dict[str, Any] | None:
    """A labelled process variable as an item, or None for a variable staff need not read."""
    if key.startswith("signature_") and isinstance(value, dict):
        party = key.removeprefix("signature_")
        zh, en = SIGNATURE_PARTIES.get(party, ("协议签署", "Signature"))
        parts = [
            f"{fmt.label(fields[k])}：{fmt.field_value(fields[k], v)}"
            for k, v in value.items()
            if k in fields and fields[k].type != "table"
        ]
        return {"label": fmt.word(zh, en), "text": fmt.word("；", "; ").join(parts) or "—"}
    known = VARIABLES.get(key)
    if known is None:
        return None
    zh, en, kind = known
    label = fmt.word(zh, en)
    if kind == "flagged":
        rows = [
            [str(r.get("household_ref", "—")), fmt.word("、", ", ").join(map(str, r.get("projects", [])))]
            for r in value or []
            if isinstance(r, dict)
        ]
        if not rows:
            return {"label": label, "text": fmt.word("无", "none")}
        headers = [fmt.word("家庭编号", "Household ref"), fmt.word("其他项目", "Other projects")]
        return {"label": label, "table": {"headers": headers, "rows": rows}}
    if kind == "projects":
        items = [str(p) for p in value or []]
        return {"label": label, "text": fmt.word("、", ", ").join(items) if items else fmt.word("无", "none")}
    if value is None or value == "":
        return {"label": label, "text": "—"}
    text: str
    if kind == "money":
        text = fmt.money(value)
    elif kind == "boolean":
        text = fmt.yes_no(value)
    elif kind == "duration":
        text = fmt.duration(value)
    elif kind == "decimal":
        text = fmt.number(value)
    elif kind == "phase":
        text = fmt.word(*PHASES.get(str(value), (str(value), str(value))))
    elif kind in ("integer", "year", "text"):
        text = str(value)
    else:  # pragma: no cover - every kind above is handled
        text = str(value)
    if isinstance(value, list | dict):
        return None
    return {"label": label, "text": text}


_PATH_PART = re.compile(r"([^.\[\]]+)(?:\[(\d+)\])?")


def path_label(path: str, fields: dict[str, FieldDef], fmt: Formatter) -> str:
    """A personal-data path (``members[0].id_number``) as its labels: ``家庭成员 第1行 · 身份证号``."""
    parts: list[str] = []
    current = fields
    for name, index in _PATH_PART.findall(path):
        f = current.get(name)
        if f is None:
            known = VARIABLES.get(name)
            parts.append(fmt.word(known[0], known[1]) if known else fmt.word("证件号码", "ID number"))
        else:
            parts.append(fmt.label(f))
            current = {c.name: c for c in f.columns} if f.columns else current
        if index:
            parts.append(fmt.word(f"第{int(index) + 1}行", f"row {int(index) + 1}"))
    return " · ".join(parts)


# --- the case diagram ---------------------------------------------------------------------------------

_NAMED = re.compile(r'(<bpmn:(?:lane|participant)\b[^>]*?\bname=")([^"]*)(")')


_STEP = re.compile(r"<bpmn:(userTask|manualTask)\b([^>]*?)(?:/>|>(.*?)</bpmn:\1>)", re.S)
_ATTR = {k: re.compile(rf'\b{k}="([^"]*)"') for k in ("id", "name", "camunda:formKey")}
_FORM_KEY = re.compile(r'name="formKey"\s+value="([^"]*)"')


_ELEMENT = re.compile(r"<bpmn:(\w+)\b([^>]*?)(/?>)")
_ELEMENT_NAME = re.compile(r'(?<![\w:])name="([^"]*)"')


def _renamed(tag: re.Match[str], name: re.Match[str], shown: str) -> str:
    """The start tag ``tag`` with the value of its name attribute (``name``, found in the tag's
    attributes, group 2) replaced by ``shown``."""
    start = tag.start(2) - tag.start(0)
    text = tag.group(0)
    return text[: start + name.start(1)] + html.escape(shown, quote=True) + text[start + name.end(1) :]


def localize_diagram(
    xml: str,
    locale: str,
    step_name: Callable[[str, str | None, str], str] | None = None,
    english: Mapping[str, str] | None = None,
) -> str:
    """A diagram's names in one language. Pool, lane and step names written "中文 english": the Chinese
    half, or in English the English half (a lane's role key read as the role's English name). With
    ``step_name(name, form_key, bpmn_id)`` (a :class:`StepNames` for the procedure), every user or
    manual task is named as the page names its step; without it, by its name alone. In English, every
    other element with an English name in ``english`` (id -> ``nameEn``: :func:`element_english`)
    shows it: events, gateways, flows, automatic steps."""
    by_name = StepNames(lambda _key: None, locale)
    name_of = step_name or (lambda name, _form_key, _bpmn_id: by_name(name))

    def one(found: re.Match[str]) -> str:
        halves = bilingual(found.group(2))
        if halves is None:
            return found.group(0)
        zh, en = halves
        text = role_name(en, "en") if locale == "en" else zh
        return found.group(1) + text + found.group(3)

    def step(found: re.Match[str]) -> str:
        attrs, body = found.group(2), found.group(3) or ""
        name, bpmn_id = _ATTR["name"].search(attrs), _ATTR["id"].search(attrs)
        if name is None or bpmn_id is None:
            return found.group(0)
        form = _FORM_KEY.search(body) or _ATTR["camunda:formKey"].search(attrs)
        text = html.unescape(name.group(1))
        shown = name_of(text, html.unescape(form.group(1)) if form else None, bpmn_id.group(1))
        return _renamed(found, name, shown)

    def element(found: re.Match[str]) -> str:
        if found.group(1) in ("userTask", "manualTask", "lane", "participant"):
            return found.group(0)
        attrs = found.group(2)
        bpmn_id, name = _ATTR["id"].search(attrs), _ELEMENT_NAME.search(attrs)
        shown = english.get(bpmn_id.group(1)) if english and bpmn_id else None
        return found.group(0) if shown is None or name is None else _renamed(found, name, shown)

    named = _NAMED.sub(one, xml)
    if locale == "en" and english:
        named = _ELEMENT.sub(element, named)
    return _STEP.sub(step, named)


# --- correcting one item of case data (the operations panel) ---------------------------------------------

EDITABLE_TYPES = frozenset({"string", "text", "integer", "decimal", "money", "boolean", "date", "choice"})


class EditableField:
    """One labelled item of case data an operator may correct, and how typed text becomes its value."""

    def __init__(self, f: FieldDef, label: str) -> None:
        self.field, self.label = f, label

    def convert(self, raw: str) -> Any:
        kind = self.field.type
        if kind == "integer":
            try:
                return int(raw)
            except ValueError:
                return raw  # stored as typed; the step's own validation reads it again
        if kind == "boolean":
            return raw.strip() in ("是", "true", "True", "1", "yes", "Yes")
        if kind == "choice":
            by_label = {str(label): c.value for c in self.field.choices for label in c.label.values()}
            return by_label.get(raw, raw)
        return raw


def editable_fields(
    forms: list[FormDefinition], data: dict[str, Any], fmt: Formatter
) -> dict[str, EditableField]:
    """The case's items an operator may correct on the page: plain form fields the case holds (no tables,
    no ID or phone numbers, which are corrected through their own step)."""
    fields = field_index(forms)
    return {
        name: EditableField(f, fmt.label(f))
        for name, f in fields.items()
        if name in data and f.type in EDITABLE_TYPES
    }


_POOL_NAME = re.compile(r'<bpmn:participant\b[^>]*?\bname="([^"]*)"')
_ENGLISH_NAMES: dict[str, str | None] = {}


_ELEMENT_ENGLISH: dict[str, dict[str, str]] = {}


def element_english(sha256: str, xml: Callable[[], str]) -> dict[str, str]:
    """A procedure version's elements' English names (id -> ``nameEn``: engine/bpmn/element_names.py),
    read once per version's content (``sha256``)."""
    if sha256 not in _ELEMENT_ENGLISH:
        _ELEMENT_ENGLISH[sha256] = element_names.english_names(xml())
    return _ELEMENT_ENGLISH[sha256]


def english_name(sha256: str, xml: Callable[[], str]) -> str | None:
    """A procedure's English name: the English half of its pool's "中文 English" name (per version's
    content, ``sha256``; the XML is read once per version)."""
    if sha256 not in _ENGLISH_NAMES:
        pool = _POOL_NAME.search(xml())
        halves = bilingual(pool.group(1)) if pool else None
        _ENGLISH_NAMES[sha256] = halves[1] if halves else None
    return _ENGLISH_NAMES[sha256]
