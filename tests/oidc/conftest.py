"""The OpenID Connect provider for the single sign-on tests, one per module, and the app configured for it."""

from __future__ import annotations

import json

import pytest

from tests.oidc.helpers import CLIENT_ID, CLIENT_SECRET, RULES, Provider


@pytest.fixture(scope="module")
def provider():
    running = Provider()
    yield running
    running.stop()


@pytest.fixture()
def sso_app(app, provider, monkeypatch):
    """The session's app with single sign-on on, pointed at the provider (back off after the test)."""
    for key, value in {
        "OIDC_ISSUER": provider.issuer,
        "OIDC_CLIENT_ID": CLIENT_ID,
        "OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "OIDC_SCOPES": "openid profile assistflow",
        "OIDC_RULES": json.dumps(RULES),
    }.items():
        monkeypatch.setitem(app.config, key, value)
    return app
