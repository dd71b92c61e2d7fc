"""Step records: what each completed step entered, read-only, for anyone who may see the case."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from api.extensions import db
from api.records.schemas import (
    SendBackArgs,
    SendBackTargetSchema,
    StepRecordListArgs,
    StepRecordPageSchema,
    StepRecordSchema,
)
from api.schemas import View
from api.security import BEARER, current_user, login_required
from api.tasks.schemas import TaskSchema
from engine import privacy
from engine.records import service as records
from engine.sendback import service as sendback
from engine.tasks import service as tasks

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
def instance_records(args: dict[str, Any], instance_id: int) -> Any:
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
def task_record(task_id: int) -> Any:
    """A completed task's record (who, when, form version, every field labelled)."""
    _row, _instance, record = records.visible_of_task(db.session(), current_user(), task_id)
    return _view(record)


@blp.route("/tasks/<int:task_id>/send-back", methods=["GET"])
@blp.response(200, SendBackTargetSchema(many=True))
@blp.doc(security=[BEARER])
@login_required
def send_back_targets(task_id: int) -> Any:
    """The earlier steps this task may send the case back to now (declared and done before)."""
    row = tasks.get_visible(db.session(), current_user(), task_id)
    return [{"bpmn_id": b, "name": n} for b, n in sendback.allowed(db.session(), row)]


@blp.route("/tasks/<int:task_id>/send-back", methods=["POST"])
@blp.arguments(SendBackArgs)
@blp.response(200, TaskSchema)
@blp.doc(security=[BEARER])
@login_required
def send_back(args: dict[str, Any], task_id: int) -> Any:
    """退回补正: the holder returns the case to an earlier step with a reason (422 for a step this task
    may not send back to); returns the reopened task, assigned to whoever did it last."""
    return sendback.send_back(db.session(), current_user(), task_id, args["target"], args["reason"])
