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
        """Start a comprehensive-assistance case: the start form opens the application task (it takes
        documents), whose materials are uploaded through the drop zone's route before it is submitted."""
        response = self.post("/start/comprehensive_assistance", ca_form(**overrides))
        assert response.status_code == 302, response.get_data(as_text=True)[:3000]
        location = response.headers["Location"]
        if "/tasks/" not in location:
            return int(location.rsplit("/", 1)[1])
        task_id = int(location.rsplit("/", 1)[1])
        self.get(location)
        self.supply(task_id)
        done = self.post(f"/tasks/{task_id}/complete", ca_form(**overrides))
        assert done.status_code == 302, done.get_data(as_text=True)[:3000]
        return int(done.headers["Location"].rsplit("/", 1)[1])

    def upload(self, task_id, field, data, name):
        """One file through the task page's drop zone route (multipart, CSRF token in the header)."""
        boundary = "----assistflow-web-test"
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n\r\n'.encode()
            + data
            + f"\r\n--{boundary}--\r\n".encode()
        )
        _fresh_g()
        return self.client.post(
            f"/tasks/{task_id}/attachments?field={field}",
            data=body,
            content_type=f"multipart/form-data; boundary={boundary}",
            headers={"X-CSRFToken": self.token},
        )

    def supply(self, task_id):
        """A sample file for each required material of the task (as the demo data has)."""
        from api.demo_materials import sample_pdf, sample_photo
        from api.extensions import db
        from engine.attachments import service as attachments
        from engine.tasks import service as tasks

        row = tasks.get(db.session(), task_id)
        have = {a.field for a in attachments.of_task(db.session(), task_id)}
        for f in tasks.form_of(row).file_fields:
            if (f.required or f.required_if) and f.name not in have:
                data, name = (sample_pdf(f.name), "m.pdf") if "pdf" in f.kinds else (sample_photo(), "m.jpg")
                response = self.upload(task_id, f.name, data, name)
                assert response.status_code == 201, response.get_data(as_text=True)[:2000]


# --- reading pages -----------------------------------------------------------------------------------


MASKED = APPLICANT[:6] + "********" + APPLICANT[-4:]


def text(response) -> str:
    return response.get_data(as_text=True)
