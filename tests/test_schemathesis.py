"""The OpenAPI description at /api/v1/openapi.json, and schemathesis run against the app.

schemathesis generates requests from the description, valid ones (positive) and ones that
break it (negative), sends them to the Flask app in process (real SQLite, real Redis) and
checks every response: never a 5xx, and the status codes, content types and bodies the
description promises. A few examples per operation keep it to seconds in CI.

(schemathesis' own pytest plugin does not run under pytest 9 yet, so each operation is driven
through its Hypothesis strategy, schemathesis' Python API for that.)
"""
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (content_type_conformance, not_a_server_error,
                                 response_schema_conformance, status_code_conformance)

from fault_support import fleet_payload
from ping_server.intake import accept_ping
from ping_server.openapi import SPEC
from workers import processing

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
EXAMPLES = {GenerationMode.POSITIVE: 12, GenerationMode.NEGATIVE: 8}
# Negative cases need something to break: a parameter or a body.
OPERATIONS = [(method.upper(), path, mode) for path, methods in SPEC["paths"].items()
              for method, operation in methods.items() for mode in EXAMPLES
              if mode is GenerationMode.POSITIVE or "parameters" in operation
              or "requestBody" in operation]


@pytest.fixture
def api_schema(env, monkeypatch, runner_factory, storage, settings):
    """The description as a client gets it: fetched from the app, without a token. Two
    processed pings (one failed), so exports, receipts and the queue picture have rows."""
    monkeypatch.setenv("PINGTALLY_RATE_LIMIT_ADDRESS", "off")  # hundreds of requests a second
    for n in range(2):
        ping_id = accept_ping(storage, None, settings, fleet_payload(n), source="import",
                              received_at=f"2026-10-0{n + 1}T00:00:00Z").ping_id
        processing.process_ping(storage, ping_id, settings)
    failed = accept_ping(storage, None, settings, fleet_payload(9), source="import").ping_id
    storage.mark_attempt_failed(failed, "ValueError: boom", "2026-10-03T00:00:00Z", final=True)
    app, _, _ = runner_factory()
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


@pytest.mark.parametrize("method, path, mode", OPERATIONS,
                         ids=[f"{m} {p} {mode.value}" for m, p, mode in OPERATIONS])
def test_operation_keeps_the_promises_of_the_description(api_schema, auth, method, path, mode):
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES[mode], deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case):
        case.call_and_validate(headers=auth, checks=CHECKS)

    run()


def test_description_is_served_without_a_token_and_covers_every_api_route(app, client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.json["openapi"].startswith("3.")
    described = {path.replace("{", "<").replace("}", ">") for path in SPEC["paths"]}
    routes = {rule.rule.replace("<int:", "<") for rule in app.url_map.iter_rules()
              if rule.rule.startswith(("/api/", "/usage_", "/healthz", "/readyz", "/metrics"))}
    assert routes == described
