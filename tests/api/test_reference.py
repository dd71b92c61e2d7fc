"""Reference data: the Twinning Plan's eleven pairings, public organisation and county names only."""

from __future__ import annotations

import json
import re

from engine.twinning.service import REFERENCE_FILE
from tests.helpers import assert_error


def test_eleven_pairings_over_eleven_counties(client, login):
    pairings = client.get("/api/v1/reference/twinning-pairings", headers=login("city")).json
    assert len(pairings) == 11
    assert len({p["county"] for p in pairings}) == 11, "one pairing per key county"
    assert all(p["county"].startswith("甘肃省") for p in pairings)
    assert {"code", "dispatching_agency", "county", "aided_agency"} == set(pairings[0])
    assert_error(client.get("/api/v1/reference/twinning-pairings"), 401)


def test_reference_file_holds_no_personal_data():
    text = REFERENCE_FILE.read_text(encoding="utf-8")
    assert not re.search(r"1[3-9]\d{9}", text), "no phone numbers"
    assert "@" not in text, "no e-mail addresses"
    keys = {k for p in json.loads(text)["pairings"] for k in p}
    assert keys == {"code", "dispatching_agency", "county", "aided_agency"}, "no contact people"
