"""Filing a near relative: an unknown staff user is a field error, a database outage is not "user not found"."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from api.extensions import db
from engine.errors import Invalid
from engine.forms import with_check_digit
from engine.recusal import service as recusal
from engine.users import service as users

API = "/api/v1"
RELATIVE = with_check_digit("31010119800101123")


def _outage(*_args, **_kwargs):
    raise OperationalError("SELECT app_user", {}, Exception("server closed the connection unexpectedly"))


def test_an_unknown_staff_user_is_a_field_error(client, login):
    pt_head = users.by_username(db.session(), "pt_head")
    with pytest.raises(Invalid) as caught:
        recusal.file(db.session(), pt_head, "nobody_here", RELATIVE, "spouse")
    assert "staff_username" in caught.value.fields


def test_a_database_outage_while_looking_up_the_staff_user_propagates(client, login, monkeypatch):
    pt_head = users.by_username(db.session(), "pt_head")
    monkeypatch.setattr(recusal.users, "by_username", _outage)
    with pytest.raises(OperationalError):
        recusal.file(db.session(), pt_head, "pt_officer", RELATIVE, "spouse")


def test_the_api_answers_a_database_outage_with_503_not_a_field_error(client, login, monkeypatch):
    headers = login("pt_head")
    monkeypatch.setattr(recusal.users, "by_username", _outage)
    body = {"staff_username": "pt_officer", "relative_id_number": RELATIVE, "relation": "spouse"}
    response = client.post(f"{API}/near-relatives", json=body, headers=headers)
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.json["error"] == "service_unavailable" and "staff_username" not in response.json["fields"]
    assert response.headers["Retry-After"]
