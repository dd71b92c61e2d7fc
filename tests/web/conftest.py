from __future__ import annotations

import pytest

from tests.web.browser import browser, live_server  # noqa: F401  (the browser tests' fixtures)
from tests.web.helpers import Web


@pytest.fixture()
def web(client):
    """web(username) -> a logged-in web client (a fresh cookie jar per user)."""
    made = []

    def _web(username: str | None = None) -> Web:
        one = Web(client.application.test_client())
        made.append(one)
        return one.login(username) if username else one

    return _web
