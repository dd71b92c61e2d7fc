from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from api.cases.schemas import CasePageSchema, CaseSearchArgs
from api.extensions import db
from api.security import BEARER, current_user, login_required
from engine.cases import service as cases

blp = Blueprint("cases", __name__, url_prefix="/api/v1/cases", description="案件 / cases: list and search")


@blp.route("", methods=["GET"])
@blp.arguments(CaseSearchArgs, location="query")
@blp.response(200, CasePageSchema)
@blp.doc(security=[BEARER])
@login_required
def search(args: dict[str, Any]) -> Any:
    """Cases of the caller's units (or only theirs, ``mine``), filtered and searched; newest first.
    A search by ID number (or its last digits) is recorded as an audited read."""
    page, per_page = args.pop("page"), args.pop("per_page")
    session = db.session()
    rows, more = cases.search(session, current_user(), cases.Query(**args), page=page, per_page=per_page)
    return {
        "items": cases.rows_view(session, rows),
        "meta": {"page": page, "per_page": per_page, "has_more": more},
    }
