"""Service organisations 服务机构 (the agencies a 3A case is referred to) and their member users: listed
for staff, registered and their members added or removed by admins (each change audited). A referral
lands only in the matched organisation's members' inboxes."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from api.extensions import db
from api.schemas import ErrorSchema
from api.security import BEARER, current_user, login_required
from api.serviceorgs.schemas import (
    MemberArgs,
    MemberSchema,
    RemoveMemberArgs,
    ServiceOrgArgs,
    ServiceOrgListSchema,
    ServiceOrgSchema,
    ServiceOrgUpdateArgs,
)
from engine.errors import Forbidden
from engine.serviceorgs import service as serviceorgs
from engine.users import service as users

blp = Blueprint(
    "service_organisations",
    __name__,
    url_prefix="/api/v1/service-organisations",
    description="服务机构及其成员 / service organisations and their members",
)


def _admin_only() -> Any:
    user = current_user()
    if not users.is_admin(user):
        raise Forbidden("只有管理员可以管理服务机构 / only admins may manage service organisations")
    return user


@blp.route("", methods=["GET"])
@blp.response(200, ServiceOrgListSchema)
@blp.doc(security=[BEARER])
@login_required
def list_organisations() -> Any:
    """Every service organisation with its members (the codes the 3A matching step names)."""
    return {"items": serviceorgs.list_all(db.session())}


@blp.route("", methods=["POST"])
@blp.arguments(ServiceOrgArgs)
@blp.response(201, ServiceOrgSchema)
@blp.alt_response(409, schema=ErrorSchema, description="the code is taken")
@blp.doc(security=[BEARER])
@login_required
def create_organisation(args: dict[str, Any]) -> Any:
    """Register an organisation (admins; audited ``service_org.created``)."""
    user = _admin_only()
    return serviceorgs.create(
        db.session(), code=args["code"], name=args["name"], district_code=args["district"], actor_id=user.id
    )


@blp.route("/<string:code>", methods=["GET"])
@blp.response(200, ServiceOrgSchema)
@blp.doc(security=[BEARER])
@login_required
def get_organisation(code: str) -> Any:
    return serviceorgs.by_code(db.session(), code)


@blp.route("/<string:code>", methods=["PATCH"])
@blp.arguments(ServiceOrgUpdateArgs)
@blp.response(200, ServiceOrgSchema)
@blp.doc(security=[BEARER])
@login_required
def update_organisation(args: dict[str, Any], code: str) -> Any:
    """Rename an organisation, change the district it serves, deactivate it (with a reason: no new case
    can be matched with it) or reactivate it (admins; audited ``service_org.updated``)."""
    user = _admin_only()
    organisation, _changes = serviceorgs.update(
        db.session(),
        code,
        name=args.get("name"),
        district_code=args.get("district", serviceorgs.UNCHANGED),
        active=args.get("active"),
        reason=args["reason"],
        actor_id=user.id,
    )
    return organisation


@blp.route("/<string:code>/members", methods=["POST"])
@blp.arguments(MemberArgs)
@blp.response(201, MemberSchema)
@blp.alt_response(409, schema=ErrorSchema, description="already a member")
@blp.doc(security=[BEARER])
@login_required
def add_member(args: dict[str, Any], code: str) -> Any:
    """Add a member user (admins; audited ``service_org.member_added``)."""
    user = _admin_only()
    return serviceorgs.add_member(
        db.session(), code, args["username"], actor_id=user.id, reason=args["reason"]
    )


@blp.route("/<string:code>/members/<string:username>", methods=["DELETE"])
@blp.arguments(RemoveMemberArgs, location="query")
@blp.response(204)
@blp.alt_response(409, schema=ErrorSchema, description="the member holds a claimed task of the organisation")
@blp.doc(security=[BEARER])
@login_required
def remove_member(args: dict[str, Any], code: str, username: str) -> None:
    """Remove a member (admins; audited ``service_org.member_removed``)."""
    user = _admin_only()
    serviceorgs.remove_member(db.session(), code, username, actor_id=user.id, reason=args["reason"])
