from __future__ import annotations

from typing import Any

from flask import jsonify, request
from flask_smorest import Blueprint

from api.extensions import db
from api.schemas import View
from api.security import BEARER, current_user, login_required
from api.tasks.schemas import (
    AssignArgs,
    CompleteArgs,
    CompletedTaskSchema,
    DeadlineArgs,
    TaskDetailSchema,
    TaskListArgs,
    TaskPageSchema,
    TaskSchema,
)
from engine import privacy
from engine.bpmn.dmn_task import PINS_KEY
from engine.errors import Conflict
from engine.expressions import PARAMS_KEY
from engine.forms import form_to_client
from engine.idempotency import service as idempotency
from engine.incidents.service import IncidentOpened
from engine.tasks import service as tasks

blp = Blueprint("tasks", __name__, url_prefix="/api/v1/tasks", description="任务 / human tasks")


@blp.route("", methods=["GET"])
@blp.arguments(TaskListArgs, location="query")
@blp.response(200, TaskPageSchema)
@blp.doc(security=[BEARER])
@login_required
def list_tasks(args: dict[str, Any]) -> Any:
    """Inbox: my tasks, tasks I may claim, or all I can see (open ones unless a state is given)."""
    page, per_page = args.pop("page"), args.pop("per_page")
    org_unit = args.pop("org_unit", None)
    rows, total = tasks.inbox(
        db.session(), current_user(), org_unit_code=org_unit, page=page, per_page=per_page, **args
    )
    return {"items": rows, "meta": {"page": page, "per_page": per_page, "total": total}}


@blp.route("/<int:task_id>", methods=["GET"])
@blp.response(200, TaskDetailSchema)
@blp.doc(security=[BEARER])
@login_required
def get_task(task_id: int) -> Any:
    """One task with its form definition and the case data it starts from."""
    session = db.session()
    row = tasks.get_visible(session, current_user(), task_id)
    form = tasks.form_of(row)
    return View(
        row,
        form=form_to_client(form, current_user().locale) if form else None,
        data={  # what the form starts from: the case's copy of its policy parameters is not form data
            k: v
            for k, v in privacy.for_viewer(current_user(), tasks.current_data(session, row)).items()
            if k not in (PARAMS_KEY, PINS_KEY)
        },
    )


@blp.route("/<int:task_id>/claim", methods=["POST"])
@blp.response(200, TaskSchema)
@blp.doc(security=[BEARER])
@login_required
def claim(task_id: int) -> Any:
    """Claim a ready task (409 if someone else has it)."""
    return tasks.claim(db.session(), current_user(), task_id)


@blp.route("/<int:task_id>/unclaim", methods=["POST"])
@blp.response(200, TaskSchema)
@blp.doc(security=[BEARER])
@login_required
def unclaim(task_id: int) -> Any:
    """Give a claimed task back to the group."""
    return tasks.unclaim(db.session(), current_user(), task_id)


IDEMPOTENCY_PARAMETER = {
    "in": "header",
    "name": idempotency.HEADER,
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": idempotency.MAX_KEY, "pattern": "^[!-~]+$"},
    "description": "retries with the same key and body get the first answer; another body → 422",
}


def _completed(row: Any, open_after: list[Any]) -> View:
    return View(row, next_tasks=open_after)


@blp.route("/<int:task_id>/complete", methods=["POST"])
@blp.arguments(CompleteArgs)
@blp.response(200, CompletedTaskSchema)
@blp.doc(security=[BEARER], parameters=[IDEMPOTENCY_PARAMETER])
@login_required
def complete(args: dict[str, Any], task_id: int) -> Any:
    """Complete a task with its form data (422 per field; 409 if stale).

    With an ``Idempotency-Key`` header a retried request (same key, same body) gets the first
    answer again (200, header ``Idempotent-Replayed: true``) instead of a 409, and nothing is applied
    twice — also when the retry races the original.
    """
    session, user = db.session(), current_user()
    key = request.headers.get(idempotency.HEADER)
    if key is None:
        return _completed(*tasks.complete_step(session, user, task_id, args["data"]))
    idempotency.check_key(key)
    target, digest = f"POST /api/v1/tasks/{task_id}/complete", idempotency.fingerprint(args)
    user_id = user.id
    stored = idempotency.replay(session, user_id, key, target, digest)
    if stored is None:
        try:
            done = _completed(*tasks.complete_step(session, user, task_id, args["data"]))
        except IncidentOpened as err:  # the completion is kept with its incident: a retry gets this answer
            body = {"error": err.code, "message": err.message, "fields": err.fields}
            idempotency.remember(session, user_id, key, target, digest, 409, body)
            raise
        except Conflict:
            # The original may have just committed while this retry waited on the instance lock.
            session.rollback()
            stored = idempotency.replay(session, user_id, key, target, digest)
            if stored is None:
                raise
        else:
            idempotency.remember(session, user_id, key, target, digest, 200, CompletedTaskSchema().dump(done))
            return done
    response = jsonify(stored.response)
    response.status_code = stored.status
    response.headers["Idempotent-Replayed"] = "true"
    return response


@blp.route("/<int:task_id>/assign", methods=["POST"])
@blp.arguments(AssignArgs)
@blp.response(200, TaskSchema)
@blp.doc(security=[BEARER])
@login_required
def assign(args: dict[str, Any], task_id: int) -> Any:
    """Supervisors: assign a task to a user who holds its role."""
    return tasks.assign(db.session(), current_user(), task_id, args["username"])


@blp.route("/<int:task_id>/deadline", methods=["POST"])
@blp.arguments(DeadlineArgs)
@blp.response(200, TaskSchema)
@blp.doc(security=[BEARER])
@login_required
def change_deadline(args: dict[str, Any], task_id: int) -> Any:
    """Supervisors: set a new due time or extend it, with a reason (audited)."""
    return tasks.change_deadline(
        db.session(),
        current_user(),
        task_id,
        reason=args["reason"],
        due_at=args.get("due_at"),
        extend_by=args.get("extend_by"),
    )
