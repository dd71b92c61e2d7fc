from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from marshmallow import Schema, fields

from api.extensions import db
from api.security import BEARER, login_required
from engine.twinning import service as twinning

blp = Blueprint(
    "reference", __name__, url_prefix="/api/v1/reference", description="参考数据 / reference data"
)


class PairingSchema(Schema):
    code = fields.String()
    dispatching_agency = fields.String()
    county = fields.String()
    aided_agency = fields.String()


@blp.route("/twinning-pairings", methods=["GET"])
@blp.response(200, PairingSchema(many=True))
@blp.doc(security=[BEARER])
@login_required
def twinning_pairings() -> Any:
    """The Twinning Plan's one-to-one pairings (dispatching agency → county → aided agency)."""
    return twinning.pairings(db.session())


class TargetSchema(Schema):
    key = fields.String()
    label = fields.Dict(keys=fields.String(), values=fields.String())
    target = fields.Integer()
    achieved = fields.Integer()
    met = fields.Boolean()


@blp.route("/twinning-targets", methods=["GET"])
@blp.response(200, TargetSchema(many=True))
@blp.doc(security=[BEARER])
@login_required
def twinning_targets() -> Any:
    """The plan's targets (areas, beneficiaries, stations, …) against what the annual evaluations reported."""
    return twinning.targets_progress(db.session())
