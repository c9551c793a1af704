"""A bounded property-based run against our own OpenAPI document: it says what is accepted.

Schemathesis generates requests for every documented operation, both conforming to the
document (positive) and violating it (negative), and sends them to the real app over a real
graph, with keys on. Every answer is checked: no 5xx; a status, content type and (for errors)
body the document declares; every conforming request accepted and every violating one
refused. Any spec/code mismatch fails the test, naming the operation and the request.

The app's wall clock is pinned, so the document's bound on an event's time ("now" plus the
allowed skew) is the very bound intake applies; with a moving clock a request sent a second
after the document was made could be refused by one and accepted by the other.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from neo4j import Driver
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi import checks as openapi_checks

from app.api import create_app
from app.api.wiring import EXTENSION_KEY, services_of
from app.settings import load_settings
from tests.conftest import Neo4jTestServer

EXAMPLES = 12  # per operation and mode: bounded so the suite stays quick
PINNED_NOW_S = 1_767_225_600.0  # 2026-01-01T00:00:00Z
CHECKS = [
    not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
    openapi_checks.negative_data_rejection,
    openapi_checks.positive_data_acceptance,
    openapi_checks.ignored_auth,
]


@pytest.fixture(scope="module")
def fuzz_app(driver: Driver, neo4j_server: Neo4jTestServer) -> Iterator[tuple[Flask, str]]:
    target = neo4j_server.target
    app = create_app(
        load_settings(
            neo4j_uri=target.uri, neo4j_password=target.password,
            neo4j_auth=target.password is not None, api_auth=True,
            # Smaller batches and texts than the defaults keep the run quick; the document
            # follows the settings, so the contract checked is still exactly the served one.
            max_batch_events=20, max_text_chars=500,
        ),
        wall_clock=lambda: PINNED_NOW_S,
    )  # fmt: skip
    key = services_of(app).store.api_keys.create("fuzz", ["admin"])
    client = app.test_client()
    auth = {"Authorization": f"Bearer {key}"}
    client.put("/api/v1/items", json={"item_id": "fz-1", "title": "Seed", "category_path": ["A"]},
               headers=auth)  # fmt: skip
    client.post("/api/v1/events", json={"user_id": "fz-u", "item_id": "fz-1", "type": "view"},
                headers=auth)  # fmt: skip
    yield app, key
    app.extensions[EXTENSION_KEY].close()


def _fuzz(operation: Any, mode: GenerationMode, key: str, statuses: Counter[int]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
              database=None)  # fmt: skip
    def check(case: schemathesis.Case) -> None:
        response = case.call_and_validate(headers={"Authorization": f"Bearer {key}"}, checks=CHECKS)
        statuses[response.status_code] += 1

    check()


def test_the_document_says_what_the_api_accepts(fuzz_app: tuple[Flask, str]) -> None:
    # Driven by hypothesis directly (not schemathesis' pytest plugin) to stay independent of
    # the plugin's pytest-version coupling.
    app, key = fuzz_app
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    documented = {(m.upper(), p) for p, ms in schema.raw_schema["paths"].items() for m in ms}
    documented -= {("GET", "/api/v1/openapi.json")}  # schemathesis leaves out its source
    assert {(op.method.upper(), op.path) for op in operations} == documented  # every operation
    statuses: Counter[int] = Counter()
    for operation in operations:
        raw = schema.raw_schema["paths"][operation.path][operation.method.lower()]
        violable = bool(raw["parameters"]) or "requestBody" in raw  # else nothing to violate
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)[: 1 + violable]:
            _fuzz(operation, mode, key, statuses)
    # The run really exercised the API, with both accepted and refused requests.
    assert sum(statuses.values()) >= 10 * len(operations)
    assert sum(n for code, n in statuses.items() if code < 300) >= 2 * len(operations)
    assert sum(n for code, n in statuses.items() if 400 <= code < 500) >= 2 * len(operations)
