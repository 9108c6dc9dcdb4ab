"""Schemathesis fuzzes every operation of the served OpenAPI spec: no input may produce a 5xx."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error


def test_no_operation_answers_with_a_server_error(server_factory, tmp_path) -> None:
    # Its own server: with an admin key the fuzzer reaches restores and rollbacks, which must not touch
    # the state other API tests share.
    server = server_factory(tmp_path / "home")
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    # An admin key reaches every operation's validation and logic, not just the 401 gate.
    headers = {"Authorization": f"Bearer {server.keys['admin']}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 5
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck), database=None,
                  phases=(Phase.explicit, Phase.generate))  # no shrinking: a failure prints its case
        def fuzz(case) -> None:
            response = case.call(headers=headers, timeout=30)
            case.validate_response(response, checks=[not_a_server_error])

        fuzz()
