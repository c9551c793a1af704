"""A bounded property-based run against our own OpenAPI spec: no input gives a 5xx.

Schemathesis generates requests (valid and edge-case) for every documented operation and
sends them to the real app over a real graph; a 500 anywhere fails the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from neo4j import Driver

from app.api import create_app
from app.api.wiring import EXTENSION_KEY
from app.settings import load_settings
from tests.conftest import Neo4jTestServer

EXAMPLES = 30  # per operation: bounded so the suite stays fast


@pytest.fixture(scope="module")
def fuzz_app(driver: Driver, neo4j_server: Neo4jTestServer) -> Iterator[Flask]:
    target = neo4j_server.target
    app = create_app(load_settings(
        neo4j_uri=target.uri, neo4j_password=target.password,
        neo4j_auth=target.password is not None, api_auth=False,
    ))  # fmt: skip
    client = app.test_client()
    client.put("/api/v1/items", json={"item_id": "fz-1", "title": "Seed", "category_path": ["A"]})
    client.post("/api/v1/events", json={"user_id": "fz-u", "item_id": "fz-1", "type": "view"})
    yield app
    app.extensions[EXTENSION_KEY].close()


def _no_server_error(operation: Any, calls: list[int]) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case: schemathesis.Case) -> None:
        response = case.call()
        calls.append(response.status_code)
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
        )

    check()


def test_no_input_makes_the_api_fail(fuzz_app: Flask) -> None:
    # Driven by hypothesis directly (not schemathesis' pytest plugin) to stay independent of
    # the plugin's pytest-version coupling.
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzz_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12
    calls: list[int] = []
    for operation in operations:
        _no_server_error(operation, calls)
    # The run really exercised the API, with both accepted and refused requests.
    assert len(calls) >= 5 * len(operations)
    assert any(code < 300 for code in calls) and any(400 <= code < 500 for code in calls)
