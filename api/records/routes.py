"""Step records: what each completed step entered, read-only, for anyone who may see the case."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from api.extensions import db
from api.records.schemas import StepRecordListArgs, StepRecordPageSchema, StepRecordSchema
from api.schemas import View
from api.security import BEARER, current_user, login_required
from engine import privacy
from engine.records import service as records

blp = Blueprint("step_records", __name__, url_prefix="/api/v1", description="办理记录 / step records")


def _view(record: Any) -> View:
    user = current_user()
    data = privacy.for_viewer(user, record.data or {})
    labelled = records.fields(db.session(), record, data, user.locale)
    return View(
        record,
        data=data,
        derived=privacy.for_viewer(user, record.derived) if record.derived else None,
        fields=[{"name": f.name, "label": f.label, "type": f.type, "value": f.value} for f in labelled],
    )


@blp.route("/process-instances/<int:instance_id>/records", methods=["GET"])
@blp.arguments(StepRecordListArgs, location="query")
@blp.response(200, StepRecordPageSchema)
@blp.doc(security=[BEARER])
@login_required
def instance_records(args, instance_id: int):
    """Every completed step's record of a case, in the order the steps were done (loops: every run)."""
    _instance, rows, total = records.visible_of_instance(
        db.session(), current_user(), instance_id, page=args["page"], per_page=args["per_page"]
    )
    return {
        "items": [_view(r) for r in rows],
        "meta": {"page": args["page"], "per_page": args["per_page"], "total": total},
    }


@blp.route("/tasks/<int:task_id>/record", methods=["GET"])
@blp.response(200, StepRecordSchema)
@blp.doc(security=[BEARER])
@login_required
def task_record(task_id: int):
    """A completed task's record (who, when, form version, every field labelled)."""
    _row, _instance, record = records.visible_of_task(db.session(), current_user(), task_id)
    return _view(record)
