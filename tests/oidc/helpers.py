"""Single sign-on tests' pieces: the OpenID Connect provider (tests/oidc/provider.mjs, the npm package
oidc-provider under node) on the loopback, and a person going through the provider's pages with requests
while the app is driven with Flask's test client."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import requests

from tests import clock_ahead
from tests.web.helpers import Web

ROOT = Path(__file__).resolve().parent.parent.parent
SCRIPT = Path(__file__).with_name("provider.mjs")
CLIENT_ID = "assistflow-test"
CLIENT_SECRET = "assistflow-test-client-secret-0123456789"
# The app under Flask's test client answers as http://localhost
APP_ORIGIN = "http://localhost"
RULES = {
    "units": {"SH-PT-CHZ": "310107014"},
    "roles": {"jiuzhu-zhuanyuan": "street_officer", "shequ-guwen": "advisor"},
    "ignore_roles": ["oa-user"],
}


def _unavailable() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not (ROOT / "node_modules" / "oidc-provider" / "package.json").is_file():
        return "node_modules/oidc-provider is missing (run npm ci)"
    return None


class Provider:
    """``node tests/oidc/provider.mjs`` on a free loopback port, stopped by :meth:`stop`."""

    def __init__(self) -> None:
        reason = _unavailable()
        if reason:
            if os.environ.get("ASSISTFLOW_REQUIRE_BROWSER") == "1":
                pytest.fail(f"the OIDC provider cannot run: {reason}")
            pytest.skip(f"OIDC tests skipped: {reason}")
        env = {
            **os.environ,
            "OIDC_PORT": "0",
            "OIDC_CLIENT_ID": CLIENT_ID,
            "OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "OIDC_REDIRECT_URI": f"{APP_ORIGIN}/login/oidc/callback",
            "OIDC_POST_LOGOUT_URI": f"{APP_ORIGIN}/login",
            # the provider's clock as far ahead as this process's (tests/clock_ahead.py)
            "ASSISTFLOW_TEST_CLOCK_OFFSET_MS": str(clock_ahead.days() * 86_400_000),
        }
        self.process = subprocess.Popen(
            ["node", str(SCRIPT)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        timer = threading.Timer(30, self.process.kill)
        timer.start()
        try:
            assert self.process.stdout is not None
            line = self.process.stdout.readline()
        finally:
            timer.cancel()
        if not line.startswith("READY "):
            self.stop()
            pytest.fail(f"the OIDC provider did not start: {line!r}")
        self.issuer = line.split()[1]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


class _Forms(HTMLParser):
    """The forms of a page: action, method and the named inputs' values."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attrs.get("action", ""), "fields": {}})
        elif tag == "input" and self.forms and attrs.get("name"):
            self.forms[-1]["fields"][attrs["name"]] = attrs.get("value") or ""


class SsoPerson:
    """One person's browser: the app through Flask's test client (:class:`Web`), the provider through a
    requests session, each page of the provider answered as a person would (log in as ``account``,
    consent, confirm the logout)."""

    def __init__(self, client, account: str) -> None:
        self.web = Web(client)
        self.idp = requests.Session()
        self.account = account
        self.pages_seen: list[str] = []

    def close(self) -> None:
        self.idp.close()

    def at_provider(self, url: str) -> str:
        """Go through the provider from ``url`` until it sends the browser back to the app; that URL."""
        response = self.idp.get(url, allow_redirects=False, timeout=10)
        for _ in range(12):
            if response.is_redirect:
                url = urljoin(response.url, response.headers["Location"])
                if url.startswith(APP_ORIGIN):
                    return url
                response = self.idp.get(url, allow_redirects=False, timeout=10)
                continue
            assert response.status_code == 200, (response.status_code, response.text[:2000])
            parser = _Forms()
            parser.feed(response.text)
            assert parser.forms, response.text[:2000]
            form = parser.forms[0]
            fields = dict(form["fields"])
            if "login" in fields:
                self.pages_seen.append("login")
                fields.update(login=self.account, password="any-password")
            elif fields.get("prompt") == "consent":
                self.pages_seen.append("consent")
            else:
                self.pages_seen.append("logout")
                fields["logout"] = "yes"
            response = self.idp.post(
                urljoin(response.url, form["action"]), data=fields, allow_redirects=False, timeout=10
            )
        raise AssertionError(f"the provider never sent the browser back: {response.status_code}")

    def start(self, next_path: str = "/"):
        """Click 使用统一身份认证登录: the app's redirect to the provider."""
        self.web.get("/login")
        return self.web.get(f"/login/oidc?next={next_path}")

    def login(self, next_path: str = "/"):
        """The whole login; the app's answer to the provider's callback."""
        response = self.start(next_path)
        assert response.status_code == 302, response.get_data(as_text=True)[:2000]
        back = self.at_provider(response.headers["Location"])
        parts = urlsplit(back)
        answer = self.web.get(f"{parts.path}?{parts.query}")
        if answer.status_code == 302:
            self.web.get(answer.headers["Location"])  # the session was renewed at login: read its token
        return answer
