"""Driving the staff web app with Flask's test client: log in, read CSRF tokens, post forms."""

from __future__ import annotations

import re

from tests.conftest import PASSWORD
from tests.procedures.helpers import APPLICANT

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def ca_form(**overrides) -> dict:
    """The comprehensive-assistance application as the HTML form posts it."""
    data = {
        "org_unit": "310107014",
        "channel": "street_office",
        "applicant_id_number": APPLICANT,
        "household_size": "3",
        "assistance_form": "individual",
        "aid_types": ["money"],
        "hardship_category": "other",
        "still_in_difficulty": "true",
        "amount_requested": "5000.00",
        "reason": "家庭成员突发重病，医疗支出较大",
        "credit_commitment_signed": "true",
        "fast_track_help_first": "false",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def _fresh_g() -> None:
    """Tests keep one app context around every request, so ``g`` outlives a request there (never in
    the server). Flask-WTF caches the page's CSRF token in ``g``: drop it as a new request would."""
    from flask import g

    g.pop("csrf_token", None)


class Web:
    """One browser-like client: a session cookie and the CSRF token of the page last read."""

    def __init__(self, client):
        self.client = client
        self.token = None

    def get(self, url, **kwargs):
        _fresh_g()
        response = self.client.get(url, **kwargs)
        found = _TOKEN.search(response.get_data(as_text=True)) if response.mimetype == "text/html" else None
        if found:
            self.token = found.group(1)
        return response

    def post(self, url, data=None, **kwargs):
        if self.token is None:
            self.get("/login")
        _fresh_g()
        return self.client.post(url, data={"csrf_token": self.token, **(data or {})}, **kwargs)

    def login(self, username, password=PASSWORD):
        self.get("/login")
        response = self.post("/login", {"username": username, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)
        self.get("/")  # the session was renewed at login: read its token
        return self

    def start_ca(self, **overrides):
        response = self.post("/start/comprehensive_assistance", ca_form(**overrides))
        assert response.status_code == 302, response.get_data(as_text=True)[:3000]
        return int(response.headers["Location"].rsplit("/", 1)[1])


# --- reading pages -----------------------------------------------------------------------------------


MASKED = APPLICANT[:6] + "********" + APPLICANT[-4:]


def text(response) -> str:
    return response.get_data(as_text=True)
