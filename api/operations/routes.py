"""Administrative operations on instances (admins; district heads within their district), each with a
reason and audited: suspend / resume / terminate, move back, edit data, reassign, migrate."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from api.extensions import db
from api.operations.schemas import (
    BatchMigrateArgs,
    EditDataArgs,
    MigrateArgs,
    MigrationResultSchema,
    MoveBackArgs,
    OperatedSchema,
    ReasonArgs,
    ReassignArgs,
)
from api.security import BEARER, current_user, login_required
from api.tasks.schemas import TaskSchema
from engine.instances import operations as ops
from engine.instances.models import ProcessInstance

blp = Blueprint(
    "operations",
    __name__,
    url_prefix="/api/v1",
    description="流程实例管理操作 / instance operations (admins, district heads)",
)


def _fresh(instance: ProcessInstance) -> ProcessInstance:
    db.session().flush()
    db.session().refresh(instance)
    return instance


@blp.route("/process-instances/<int:instance_id>/suspend", methods=["POST"])
@blp.arguments(ReasonArgs)
@blp.response(200, OperatedSchema)
@blp.doc(security=[BEARER])
@login_required
def suspend(args: dict[str, Any], instance_id: int) -> Any:
    """Suspend a running instance: no claim, completion, timer or SLA level until resumed."""
    return _fresh(ops.suspend(db.session(), current_user(), instance_id, args["reason"]))


@blp.route("/process-instances/<int:instance_id>/resume", methods=["POST"])
@blp.arguments(ReasonArgs)
@blp.response(200, OperatedSchema)
@blp.doc(security=[BEARER])
@login_required
def resume(args: dict[str, Any], instance_id: int) -> Any:
    """Resume a suspended instance."""
    return _fresh(ops.resume(db.session(), current_user(), instance_id, args["reason"]))


@blp.route("/process-instances/<int:instance_id>/terminate", methods=["POST"])
@blp.arguments(ReasonArgs)
@blp.response(200, OperatedSchema)
@blp.doc(security=[BEARER])
@login_required
def terminate(args: dict[str, Any], instance_id: int) -> Any:
    """Terminate an instance; its open tasks are cancelled."""
    return _fresh(ops.terminate(db.session(), current_user(), instance_id, args["reason"]))


@blp.route("/process-instances/<int:instance_id>/move-back", methods=["POST"])
@blp.arguments(MoveBackArgs)
@blp.response(200, OperatedSchema)
@blp.doc(security=[BEARER])
@login_required
def move_back(args: dict[str, Any], instance_id: int) -> Any:
    """Cancel the current tasks and make an earlier, completed user task ready again."""
    instance = ops.move_back(
        db.session(), current_user(), instance_id, args["task_element_id"], args["reason"]
    )
    return _fresh(instance)


@blp.route("/process-instances/<int:instance_id>/data", methods=["PATCH"])
@blp.arguments(EditDataArgs)
@blp.response(200, OperatedSchema)
@blp.doc(security=[BEARER])
@login_required
def edit_data(args: dict[str, Any], instance_id: int) -> Any:
    """Set and remove process data fields (JSON values); later steps see the change."""
    instance = ops.edit_data(
        db.session(), current_user(), instance_id, args["set"], args["unset"], args["reason"]
    )
    return _fresh(instance)


@blp.route("/process-instances/<int:instance_id>/migrate", methods=["POST"])
@blp.arguments(MigrateArgs)
@blp.response(200, MigrationResultSchema)
@blp.doc(security=[BEARER])
@login_required
def migrate(args: dict[str, Any], instance_id: int) -> Any:
    """Migrate one instance to another version of its procedure; ``dry_run`` only says whether it can."""
    return ops.migrate(
        db.session(),
        current_user(),
        instance_id,
        args["target_version"],
        args["reason"],
        dry_run=args["dry_run"],
    )


@blp.route("/process-definitions/<string:key>/migrate", methods=["POST"])
@blp.arguments(BatchMigrateArgs)
@blp.response(200, MigrationResultSchema(many=True))
@blp.doc(security=[BEARER])
@login_required
def migrate_batch(args: dict[str, Any], key: str) -> Any:
    """Dry run (default) or migrate the running instances of one version (or the listed ones) to another;
    each moves in its own savepoint, the answer lists per instance whether it moved and why not."""
    return ops.migrate_batch(
        db.session(),
        current_user(),
        key,
        args["from_version"],
        args["to_version"],
        args["reason"],
        instance_ids=args["instance_ids"],
        dry_run=args["dry_run"],
    )


@blp.route("/tasks/<int:task_id>/reassign", methods=["POST"])
@blp.arguments(ReassignArgs)
@blp.response(200, TaskSchema)
@blp.doc(security=[BEARER])
@login_required
def reassign(args: dict[str, Any], task_id: int) -> Any:
    """Admins and district heads: give an open task to another user holding its role, with a reason."""
    return ops.reassign(db.session(), current_user(), task_id, args["username"], args["reason"])
