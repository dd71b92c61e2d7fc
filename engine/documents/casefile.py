"""The case file (一户一档): one PDF of a closed case — the summary, every step's record in order
(labelled from the form version it was entered with, ID and phone numbers masked), the materials list
(name, kind, size, SHA-256, who filed it when) and the audit trail (every event of the case in staff
words, with its hash-chain link when sealed).

Anyone who sees the case may print it once the case has ended (completed or terminated). The first
print is stored as an attachment of the case (no step: field ``document:case_file``), audited as
``document.generated``; a reprint returns that file. The archive package (``engine.archive``) takes it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.attachments import service as attachments
from engine.attachments.models import Attachment
from engine.audit.models import AuditEvent, AuditSeal
from engine.db import SHANGHAI
from engine.documents import render
from engine.forms.model import _text
from engine.households.links import parties
from engine.households.people import UNKNOWN_NAME
from engine.instances import outcome
from engine.instances.models import InstanceStatus
from engine.privacy import masked
from engine.records import service as records
from engine.records.models import StepRecord
from engine.users.models import User

NAME = "case_file"
TEMPLATE = "case_file.html"
TITLE = {"zh": "一户一档（案件档案）", "en": "Case file"}

OUTCOMES = {
    "running": "办理中",
    "suspended": "已挂起",
    "closed": "已办结",
    "not_accepted": "不予受理",
    "not_approved": "不予批准",
    "withdrawn": "已撤回",
    "terminated": "已终止",
}

EVENTS = {
    "instance.started": "新建案件",
    "instance.completed": "案件结束",
    "instance.suspended": "挂起案件",
    "instance.resumed": "恢复办理",
    "instance.terminated": "终止案件",
    "instance.moved_back": "退回至前序环节",
    "instance.data_edited": "更正案件数据",
    "instance.migrated": "迁移版本",
    "case.transferred": "案件移交",
    "case.household_linked": "关联家庭",
    "task.created": "新待办",
    "task.claimed": "认领",
    "task.unclaimed": "放回待认领",
    "task.sent_back": "退回补正",
    "task.assigned": "指派",
    "task.reassigned": "改派",
    "task.completed": "提交",
    "task.cancelled": "待办取消",
    "task.draft_saved": "保存草稿",
    "task.deadline_changed": "调整办理期限",
    "task.deadline_recomputed": "重新计算办理期限",
    "task.reminded": "即将到期提醒",
    "task.overdue": "已逾期",
    "task.escalated": "已升级",
    "timer.fired": "系统自动处理",
    "personal_data.read": "查看完整证件号",
    "attachment.uploaded": "上传材料",
    "attachment.downloaded": "下载材料",
    "attachment.removed": "移除材料",
    "document.generated": "生成文书",
    "archive.exported": "导出电子档案",
    "incident.opened": "自动环节出错",
    "incident.retried": "重试自动环节",
    "incident.resolved": "自动环节已恢复",
    "incident.skipped": "跳过自动环节",
}

KIND_NAMES = {"image": "图片", "pdf": "PDF", "office": "办公文档"}


def closed(instance: Any) -> bool:
    return instance.status in (InstanceStatus.COMPLETED, InstanceStatus.TERMINATED)


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MB"
    return f"{max(1, round(n / 1024))} KB"


def _material_name(session: Session, attachment: Attachment) -> str:
    """The material as the step's form names it (e.g. 身份证明), else its stored field name."""
    found = attachments.field_def(session, attachment)
    return (_text(found.label, "zh") if found is not None else None) or attachment.field


def _when(value: dt.datetime | None) -> str:
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    local = value.astimezone(SHANGHAI)
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"


def _shown(field: records.Field, files: dict[int, str]) -> Any:
    """One labelled value as a reader sees it (tables as rows of such values)."""
    value = field.value
    if value is None or value == "":
        return "—"
    if field.type == "file":
        ids = value if isinstance(value, list) else [value]
        return "、".join(files.get(int(i), f"材料 {i}") for i in ids if str(i).isdigit()) or "—"
    if field.type == "choice":
        return field.choices.get(value, "—")
    if field.type == "multi_choice" and isinstance(value, list):
        return "、".join(field.choices.get(v, "—") for v in value) or "—"
    if field.type == "money":
        return render.money(value)
    if field.type == "date":
        return render.cn_date(value)
    if field.type == "table" and isinstance(value, list):
        rows = []
        for row in value:
            cells = row if isinstance(row, dict) else {}
            rows.append(
                [
                    _shown(records.Field(c.name, c.label, c.type, cells.get(c.name), c.choices), files)
                    for c in field.columns
                ]
            )
        return {"columns": [c.label for c in field.columns], "rows": rows}
    if isinstance(value, Decimal):
        return str(value)
    return render.text(value)


def values(session: Session, instance: Any) -> dict[str, Any]:
    rows = list(
        session.scalars(
            select(StepRecord).where(StepRecord.instance_id == instance.id).order_by(StepRecord.id)
        )
    )
    materials = list(
        session.scalars(
            select(Attachment).where(Attachment.instance_id == instance.id).order_by(Attachment.id)
        )
    )
    files = {a.id: a.filename for a in materials}
    cache: dict[Any, Any] = {}
    steps = []
    for record in rows:
        shown = records.fields(session, record, masked(dict(record.data or {}), False), described_forms=cache)
        steps.append(
            {
                "name": record.name,
                "iteration": record.iteration,
                "by": record.actor.display_name if record.actor is not None else "—",
                "at": _when(record.completed_at),
                "fields": [(f.label, _shown(f, files)) for f in shown if f.type != "unknown"],
            }
        )
    events = session.execute(
        select(
            AuditEvent.id,
            AuditEvent.at,
            AuditEvent.action,
            AuditEvent.actor_id,
            AuditSeal.seq,
            AuditSeal.hash,
        )
        .outerjoin(AuditSeal, AuditSeal.event_id == AuditEvent.id)
        .where(AuditEvent.instance_id == instance.id)
        .order_by(AuditEvent.id)
    ).all()
    actors = {a.id for a in materials if a.uploaded_by_id} | {e.actor_id for e in events if e.actor_id}
    names = {u.id: u.display_name for u in session.scalars(select(User).where(User.id.in_(actors)))}
    named = parties(session, [instance.id]).get(instance.id)
    data = instance.data or {}
    return {
        "title": TITLE["zh"],
        "case_number": instance.business_key or f"#{instance.id}",
        "procedure": instance.definition.name or instance.process_key,
        "version": instance.definition.version,
        "org": instance.org_unit.name("zh"),
        "applicant": named[2] if named and named[2] and named[2] != UNKNOWN_NAME else "—",
        "status": OUTCOMES.get(outcome.outcome_of(instance.status, data).value, "—"),
        "started_at": _when(instance.started_at),
        "ended_at": _when(instance.ended_at),
        "started_by": instance.started_by.display_name if instance.started_by is not None else "—",
        "steps": steps,
        "materials": [
            {
                "name": _material_name(session, a),
                "file": a.filename,
                "kind": KIND_NAMES.get(a.kind, a.kind),
                "size": _size(a.size),
                "sha256": a.sha256,
                "by": names.get(a.uploaded_by_id or 0, "—"),
                "at": _when(a.uploaded_at),
            }
            for a in materials
        ],
        "events": [
            {
                "at": _when(e.at),
                "what": EVENTS.get(e.action, "其他操作"),
                "who": names.get(e.actor_id or 0, "系统"),
                "seq": e.seq,
                "hash": (e.hash or "")[:16] or "待封存",
            }
            for e in events
        ],
    }


def render_pdf(session: Session, instance: Any, source: str | None = None) -> render.Rendered:
    """The case file laid out now (from the template file, or a saved version's ``source``)."""
    return render.render(
        TEMPLATE,
        values(session, instance),
        case_number=instance.business_key or f"#{instance.id}",
        title=TITLE["zh"],
        source=source,
    )
