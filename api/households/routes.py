from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from api.extensions import db
from api.households.schemas import (
    HouseholdArgs,
    HouseholdDetailSchema,
    HouseholdPatchArgs,
    HouseholdSchema,
    LookupArgs,
    PersonArgs,
    PersonPatchArgs,
    PersonSchema,
)
from api.schemas import View
from api.security import BEARER, current_user, login_required
from engine.households import service as households

blp = Blueprint(
    "households", __name__, url_prefix="/api/v1/households", description="家庭与人员 / households and people"
)


def _view(household_id: int, *, with_cases: bool = False) -> dict:
    session, user = db.session(), current_user()
    household = households.get(session, user, household_id)
    session.refresh(household, ["members"])
    view = households.household_view(session, household)
    if with_cases:
        found = households.cases_of(session, user, household.id)
        named = households.parties(session, [c.id for c in found])
        view["cases"] = [View(c, applicant_person_id=named[c.id][1]) for c in found]
    return view


@blp.route("", methods=["POST"])
@blp.arguments(HouseholdArgs)
@blp.response(201, HouseholdSchema)
@blp.doc(security=[BEARER])
@login_required
def create(args: dict[str, Any]) -> Any:
    """Register a household in a street of the caller's units, with its members (ID numbers checked,
    a number already registered: 409 naming that household when the caller may see it)."""
    members = args.pop("members")
    household = households.create_household(db.session(), current_user(), args, members)
    return _view(household.id)


@blp.route("/lookup", methods=["POST"])
@blp.arguments(LookupArgs)
@blp.response(200, HouseholdDetailSchema)
@blp.doc(security=[BEARER])
@login_required
def lookup(args: dict[str, Any]) -> Any:
    """The household of the person holding an ID number (inside the caller's units); an audited read.
    POST, so the number never appears in a URL or an access log."""
    person = households.find_by_id_number(db.session(), current_user(), args["id_number"], channel="api")
    return _view(person.household_id, with_cases=True)


@blp.route("/<int:household_id>", methods=["GET"])
@blp.response(200, HouseholdDetailSchema)
@blp.doc(security=[BEARER])
@login_required
def get(household_id: int) -> Any:
    """A household with its members (ID and phone numbers masked) and every case it has, across procedures."""
    return _view(household_id, with_cases=True)


@blp.route("/<int:household_id>", methods=["PATCH"])
@blp.arguments(HouseholdPatchArgs)
@blp.response(200, HouseholdSchema)
@blp.doc(security=[BEARER])
@login_required
def update(args: dict[str, Any], household_id: int) -> Any:
    """Change addresses, hardship category or bank account (audited)."""
    households.update_household(db.session(), current_user(), household_id, args)
    return _view(household_id)


@blp.route("/<int:household_id>/members", methods=["POST"])
@blp.arguments(PersonArgs)
@blp.response(201, PersonSchema)
@blp.doc(security=[BEARER])
@login_required
def add_member(args: dict[str, Any], household_id: int) -> Any:
    """Add a person to a household (audited)."""
    person = households.add_person(db.session(), current_user(), household_id, args)
    return households.person_view(person)


@blp.route("/people/<int:person_id>", methods=["PATCH"])
@blp.arguments(PersonPatchArgs)
@blp.response(200, PersonSchema)
@blp.doc(security=[BEARER])
@login_required
def update_member(args: dict[str, Any], person_id: int) -> Any:
    """Correct a person's name, relation, ID number, phone or birth date (audited)."""
    person = households.update_person(db.session(), current_user(), person_id, args)
    return households.person_view(person)
