"""schemathesis against ``/api/openapi.json``, in process (WSGI), logged in as the administrator.

Every documented operation is called with generated requests — valid ones and deliberately invalid
ones — and each response must not be a server error and must match the documented response schema.
Bounded by ``MAX_EXAMPLES`` per operation (the whole file runs in well under a minute).

Left out: the two logout operations (they would revoke the token the other operations use; they
are covered by tests/api/test_trust_auth.py).
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance

from tests.conftest import figure

MAX_EXAMPLES = 30
CALLS: dict[str, int] = {}
STATUSES: dict[int, int] = {}
figure(
    "schemathesis",
    lambda: (
        CALLS
        and f"{sum(CALLS.values())} requests over {len(CALLS)} operations; statuses "
        + ", ".join(f"{k}: {v}" for k, v in sorted(STATUSES.items()))
    ),
)


SKIPPED_OPERATIONS = {("DELETE", "/api/v1/auth/token")}


def _operations(app):
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    return [op for op in operations if (op.method.upper(), op.path) not in SKIPPED_OPERATIONS]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_never_errors_and_matches_its_schema(app, client, login, mode):
    """schemathesis's pytest plugin does not run under pytest 9; its strategies drive hypothesis here."""
    headers = login("admin")
    operations = _operations(app)
    assert len(operations) >= 20

    before = dict(CALLS)
    for operation in operations:

        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            derandomize=True,
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case):
            response = case.call(headers=headers)
            CALLS[case.operation.label] = CALLS.get(case.operation.label, 0) + 1
            STATUSES[response.status_code] = STATUSES.get(response.status_code, 0) + 1
            case.validate_response(
                response, checks=[not_a_server_error, response_schema_conformance], headers=headers
            )

        run()
    called = {label for label, n in CALLS.items() if n > before.get(label, 0)}
    assert called == {op.label for op in operations}, "every documented operation was called"
