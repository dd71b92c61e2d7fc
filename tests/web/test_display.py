"""Case values as staff read them: money, dates, durations, choices, tables, labelled paths, diagram lanes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from api.web.display import Formatter, case_items, localize_diagram, path_label
from engine.forms import parse_form

FORM = parse_form(
    {
        "key": "t_form",
        "title": {"zh": "表", "en": "Form"},
        "fields": [
            {"name": "amount", "type": "money", "label": {"zh": "金额", "en": "Amount"}},
            {"name": "on", "type": "date", "label": {"zh": "日期", "en": "Date"}},
            {"name": "ok", "type": "boolean", "label": {"zh": "同意", "en": "Agreed"}},
            {
                "name": "kind",
                "type": "choice",
                "label": {"zh": "类别", "en": "Kind"},
                "choices": [{"value": "dibao", "label": {"zh": "低保", "en": "Subsistence"}}],
            },
            {
                "name": "rows",
                "type": "table",
                "label": {"zh": "名单", "en": "List"},
                "columns": [
                    {"name": "ref", "type": "string", "label": {"zh": "编号", "en": "Ref"}},
                    {"name": "head_id_number", "type": "id_number", "label": {"zh": "身份证号", "en": "ID"}},
                    {"name": "street", "type": "string", "label": {"zh": "街镇", "en": "Street"}},
                ],
            },
        ],
    }
)


def test_values_in_each_language():
    zh, en = Formatter("zh"), Formatter("en")
    assert zh.money("6000") == "6,000.00 元" and en.money(Decimal("1234.5")) == "1,234.50 CNY"
    assert zh.date("2026-12-03") == "2026年12月3日" and en.date(dt.date(2026, 12, 3)) == "3 Dec 2026"
    assert (
        zh.duration("P30D") == "30天" and en.duration("P1M") == "1 month" and en.duration("P2W") == "2 weeks"
    )
    assert zh.yes_no(True) == "是" and en.yes_no(False) == "No"
    assert zh.datetime(dt.datetime(2026, 12, 3, 1, 30, tzinfo=dt.UTC)) == "2026年12月3日 09:30"


def test_case_items_label_everything_and_leave_out_unlabelled_variables():
    data = {
        "amount": "6000.00",
        "on": "2026-12-03",
        "ok": False,
        "kind": "dibao",
        "rows": [{"ref": "H1", "head_id_number": "999999********0011", "street": "310107014"}],
        "review_quorum": 5,
        "follow_up_wait": "P30D",
        "secret_routing_flag": True,
        "_internal": 1,
    }
    items = case_items(data, [FORM], Formatter("zh", unit_names={"310107014": "长风新村街道"}))
    fields = {i["label"]: i.get("text", i.get("table")) for i in items["fields"]}
    assert fields["金额"] == "6,000.00 元" and fields["日期"] == "2026年12月3日"
    assert fields["同意"] == "否" and fields["类别"] == "低保"
    assert fields["名单"] == {
        "headers": ["编号", "身份证号", "街镇"],
        "rows": [["H1", "999999********0011", "长风新村街道"]],
    }
    other = {i["label"]: i["text"] for i in items["other"]}
    assert other == {"民主评议法定人数": "5", "回访间隔": "30天"}  # the unlabelled flag is left out


def test_personal_data_paths_read_as_labels():
    fields = {f.name: f for f in FORM.fields}
    assert path_label("rows[1].head_id_number", fields, Formatter("zh")) == "名单 · 第2行 · 身份证号"
    assert path_label("rows[0].head_id_number", fields, Formatter("en")) == "List · row 1 · ID"


def test_diagram_lanes_in_one_language():
    xml = (
        '<bpmn:participant id="p" name="市民综合帮扶 Citizen comprehensive assistance" processRef="x"/>'
        '<bpmn:lane id="l" name="资金发放 finance"><bpmn:flowNodeRef>a</bpmn:flowNodeRef></bpmn:lane>'
        '<bpmn:userTask id="a" name="资金发放 Disbursement"/>'
        '<bpmn:exclusiveGateway id="g" name="是否批准 Approved?"/>'
    )
    zh = localize_diagram(xml, "zh")
    assert 'name="市民综合帮扶"' in zh and '<bpmn:lane id="l" name="资金发放">' in zh
    assert '<bpmn:userTask id="a" name="资金发放"/>' in zh
    assert 'name="是否批准 Approved?"' in zh  # other elements keep their names
    en = localize_diagram(xml, "en")
    assert 'name="Citizen comprehensive assistance"' in en and 'name="Finance"' in en
    assert '<bpmn:userTask id="a" name="Disbursement"/>' in en


def test_diagram_steps_named_as_the_page_names_them():
    xml = (
        '<bpmn:userTask id="approve" name="街镇审批">'
        "<bpmn:extensionElements><spiffworkflow:properties>"
        '<spiffworkflow:property name="formKey" value="ca_approval"/>'
        "</spiffworkflow:properties></bpmn:extensionElements></bpmn:userTask>"
        '<bpmn:userTask id="pay" name="资金&amp;发放" camunda:formKey="pay_form"/>'
        '<bpmn:manualTask id="call" name="电话回访"/>'
        '<bpmn:scriptTask id="calc" name="计算"/>'
    )
    seen = []

    def step_name(name, form_key, bpmn_id):
        seen.append((name, form_key, bpmn_id))
        return {"approve": "Street approval", "pay": 'Pay "now" & <file>'}.get(bpmn_id, name)

    en = localize_diagram(xml, "en", step_name)
    assert seen == [
        ("街镇审批", "ca_approval", "approve"),
        ("资金&发放", "pay_form", "pay"),
        ("电话回访", None, "call"),
    ]
    assert '<bpmn:userTask id="approve" name="Street approval">' in en
    assert 'name="Pay &quot;now&quot; &amp; &lt;file&gt;" camunda:formKey="pay_form"/>' in en
    assert 'name="电话回访"' in en and '<bpmn:scriptTask id="calc" name="计算"/>' in en


def test_diagram_events_gateways_and_flows_by_their_english_names():
    xml = (
        '<bpmn:startEvent id="start" name="提出申请"/>'
        '<bpmn:exclusiveGateway id="gw" name="是否受理？" default="f2">'
        "<bpmn:extensionElements><spiffworkflow:properties>"
        '<spiffworkflow:property name="nameEn" value="Accepted?"/>'
        "</spiffworkflow:properties></bpmn:extensionElements></bpmn:exclusiveGateway>"
        '<bpmn:sequenceFlow id="f1" name="不予受理" sourceRef="gw" targetRef="end"/>'
        '<bpmn:scriptTask id="calc" name="计算"/>'
        '<bpmn:userTask id="approve" name="街镇审批"/>'
        '<bpmn:lane id="l" name="资金发放 finance"/>'
    )
    english = {"gw": "Accepted?", "f1": 'Not "accepted" & <closed>', "approve": "Approval", "l": "Lane"}
    en = localize_diagram(xml, "en", english=english)
    assert '<bpmn:exclusiveGateway id="gw" name="Accepted?" default="f2">' in en
    assert '<bpmn:sequenceFlow id="f1" name="Not &quot;accepted&quot; &amp; &lt;closed&gt;" sourceRef=' in en
    # no English name: as drawn; a user task and a lane keep their own rules
    assert '<bpmn:startEvent id="start" name="提出申请"/>' in en and 'name="计算"' in en
    assert 'id="approve" name="街镇审批"' in en and 'name="Finance"' in en
    # Chinese pages: every element as drawn
    zh = localize_diagram(xml, "zh", english=english)
    assert '<bpmn:exclusiveGateway id="gw" name="是否受理？"' in zh and 'id="f1" name="不予受理"' in zh


def test_table_rows_write_what_a_cell_loop_writes():
    """The one-pass body of a table is the HTML the template's loop over the cells wrote."""
    from jinja2 import Environment
    from markupsafe import Markup

    from api.web.common import _table_rows

    loop = Environment(autoescape=True).from_string(
        "{% for row in rows %}<tr>{% for cell in row %}<td>{{ cell }}</td>{% endfor %}</tr>{% endfor %}"
    )
    cases = [
        [],
        [[]],
        [["a", "b"], ["c", "d"]],
        [["<b>&'\"", 5, None], ["x\x00y", "z", "—"]],  # the separator inside a value
        [[Markup("<i>safe</i>"), "<i>not</i>"]],
        [["6,000.00 元", "2026年6月8日"]] * 3,
    ]
    for rows in cases:
        assert str(_table_rows(rows)) == loop.render(rows=rows), rows
