"""The materials checklist of a step: its form's ``file`` fields, each required, required if a condition
holds (``required_if`` over the case data and the submission), or optional.

On completion (kernel event ``task_completing``) every required material must have at least one file
uploaded for the task, otherwise the completion is refused with a 422 naming what is missing; ids a
client submits for a file field must be files uploaded for that task and field. The record of the step
then lists the ids of its files (``data[field]``), and the files are linked to the case's household.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from engine import expressions
from engine.attachments import service
from engine.attachments.models import Attachment
from engine.errors import Invalid
from engine.forms.model import FieldDef, FormDefinition, _text, msg
from engine.tasks import service as tasks
from engine.tasks.models import HumanTask


@dataclass
class Item:
    field: FieldDef
    required: bool
    files: list[Attachment] = dataclasses.field(default_factory=list)

    @property
    def done(self) -> bool:
        return bool(self.files)

    @property
    def missing(self) -> bool:
        return self.required and not self.files

    def label(self, locale: str = "zh") -> str:
        return _text(self.field.label, locale) or self.field.name


def is_required(f: FieldDef, names: dict[str, Any]) -> bool:
    if f.required:
        return True
    if not f.required_if:
        return False
    try:
        return bool(expressions.evaluate(f.required_if, names))
    except expressions.ExpressionError:
        return False  # a name it reads is absent: the condition does not hold


def checklist(form: FormDefinition | None, files: list[Attachment], names: dict[str, Any]) -> list[Item]:
    if form is None:
        return []
    by_field: dict[str, list[Attachment]] = {}
    for attachment in files:
        by_field.setdefault(attachment.field, []).append(attachment)
    return [Item(f, is_required(f, names), by_field.get(f.name, [])) for f in form.file_fields]


def of_task(session: Session, row: HumanTask, names: dict[str, Any] | None = None) -> list[Item]:
    """The checklist of a task with what has been uploaded for it so far."""
    return checklist(tasks.form_of(row), service.of_task(session, row.id), names or {})


def on_completing(
    session: Session,
    *,
    row: HumanTask,
    instance: Any,
    data: dict[str, Any],
    context: dict[str, Any],
    **_: Any,
) -> None:
    form = tasks.form_of(row)
    if form is None or not form.file_fields:
        return
    files = service.of_task(session, row.id)
    items = checklist(form, files, {**(context or {}), **data})
    errors: dict[str, list[str]] = {}
    for item in items:
        ids = [a.id for a in item.files]
        submitted = data.get(item.field.name)
        stray = sorted(set(submitted or []) - set(ids))
        if stray:
            errors[item.field.name] = [
                msg(f"文件 {stray} 不是为此项上传的", f"Files {stray} were not uploaded for this item")
            ]
        elif item.missing:
            errors[item.field.name] = [
                msg(f"缺少必需材料：{item.label('zh')}", f"Required material missing: {item.label('en')}")
            ]
        if ids or item.field.name in data:  # the record lists the step's files (nothing when none)
            data[item.field.name] = ids
    if errors:
        missing = [i for i in items if i.missing]
        if missing:
            message = msg(
                "缺少必需材料：" + "、".join(i.label("zh") for i in missing),
                "Required materials missing: " + ", ".join(i.label("en") for i in missing),
            )
        else:
            message = next(iter(errors.values()))[0]
        raise Invalid(message, errors)
    household = service._household_of(session, row.instance_id)
    if household is not None:
        for attachment in files:
            attachment.household_id = attachment.household_id or household
