"""The case summary (side panel of the case and task pages) read from the step records.

Each value comes from the record of the step whose form defines it and is labelled from that form's
version, so a later step's field never shows under an earlier step's label (nor overwrites its value).
A step done more than once (a loop: visits, activities, working years) shows its latest run with the
number of runs; every run is in the case page's 办理记录 table. What no record holds (the start form, a
correction by an operator, procedure figures) is still read from the case data, as before.
"""

from __future__ import annotations

from typing import Any

from api.web import display
from engine import privacy
from engine.formversions import service as formversions
from engine.records import service as records


def summary(
    session: Any,
    viewer: Any,
    instance: Any,
    forms: list[Any],
    fmt: display.Formatter,
    *,
    hidden: frozenset[str],
    latest: list[tuple[Any, int]] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """``{"fields": [...], "other": [...]}`` as :func:`display.case_items` returns, with the step
    records' values (``{"label", "text"|"table", "step", "runs"}``) after what only the case data holds.
    ``latest``: the case's :func:`records.latest_per_step`, if the caller read it already."""
    from_records: list[dict[str, Any]] = []
    covered: set[str] = set()
    steps_of: dict[str, list[tuple[dict[str, Any], Any]]] = {}  # field name -> (item, field) per step
    labels: dict[str, str] = {}  # label -> the step that showed it first
    if latest is None:
        latest = records.latest_per_step(session, instance.id)
    for record, runs in latest:
        if not record.form_key:
            continue
        form = formversions.form_at(session, record.form_key, record.form_version)
        if form is None:
            continue
        data = privacy.for_viewer(viewer, record.data or {})
        for f in form.fields:
            if f.name not in data or f.name in hidden or f.name.startswith("_"):
                continue
            covered.add(f.name)
            label = fmt.label(f)
            if labels.setdefault(label, record.bpmn_id) != record.bpmn_id:
                # two steps ask the same question: say whose answer it is, by the form's title (in the
                # page's language), numbered where several steps share one form
                title = str(form.title.get(fmt.locale) or form.title.get("zh") or record.form_key)
                label = f"{title} · {label}"
                n = 1
                while labels.setdefault(label, record.bpmn_id) != record.bpmn_id:
                    n += 1
                    label = f"{title}（{n}）· {fmt.label(f)}"
            item: dict[str, Any] = {"label": label, "step": record.name, "runs": runs if runs > 1 else 0}
            _show(item, f, data[f.name], fmt)
            steps_of.setdefault(f.name, []).append((item, f))
            from_records.append(item)
    bag = privacy.for_viewer(viewer, instance.data or {})
    for name, asked in steps_of.items():
        if len(asked) == 1 and name in bag:
            # one step asked for it: the case's current value, which an operator may have corrected
            # (audited) since; where several steps asked, each keeps its own record's answer
            item, f = asked[0]
            _show(item, f, bag[name], fmt)
    from_records = [i for i in from_records if "text" in i or i.get("table", {}).get("rows")]
    rest = display.case_items(bag, forms, fmt, hidden=hidden | frozenset(covered))
    return {"fields": [*rest["fields"], *from_records], "other": rest["other"]}


def _show(item: dict[str, Any], f: Any, value: Any, fmt: display.Formatter) -> None:
    item.pop("text", None)
    item.pop("table", None)
    if f.type == "table":
        from api.web.common import _table  # the 办理记录 section shows the same tables: formatted once

        item["table"] = _table(fmt, f, value)
    else:
        item["text"] = fmt.field_value(f, value)
