"""ID numbers on staff pages: masked unless the viewer's role verifies identity."""

from __future__ import annotations

from api.extensions import db
from engine import privacy
from tests.conftest import get_user


def test_mask_keeps_area_code_and_last_four():
    assert privacy.mask_id_number("999999198001010011") == "999999********0011"
    assert privacy.mask_id_number("12345") == "*****"


def test_masked_walks_nested_data_and_leaves_other_values():
    data = {
        "applicant_id_number": "999999198001010011",
        "members": [{"id_number": "99999919800101002X", "name": "某甲"}],
        "household_size": 3,
    }
    out = privacy.masked(data, reveal=False)
    assert out["applicant_id_number"] == "999999********0011"
    assert out["members"][0] == {"id_number": "999999********002X", "name": "某甲"}
    assert out["household_size"] == 3
    assert privacy.masked(data, reveal=True) is data


def test_roles_that_see_full_numbers(app_ctx):
    assert privacy.may_see_id_numbers(get_user(db.session, "pt_officer"))
    assert privacy.may_see_id_numbers(get_user(db.session, "pt_district"))
    assert not privacy.may_see_id_numbers(get_user(db.session, "pt_advisor"))
    assert not privacy.may_see_id_numbers(get_user(db.session, "city"))
