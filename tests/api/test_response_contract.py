"""Every operation's real answer matches the response schema the OpenAPI document gives it.

Over a small trained shop (so recommendations are personal, with reasons, and similar items
and model versions exist), each documented operation is called once with valid input and
its body validated against the document's schema for that status, with the validator
schemathesis itself uses. The unit tests at the end show the check fails on a wrong body.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import jsonschema_rs
import pytest
from flask import Flask
from flask.testing import FlaskClient
from neo4j import Driver
from werkzeug.test import TestResponse

from app.api import create_app
from app.api.wiring import EXTENSION_KEY
from app.ingest.importer import import_events, import_items
from app.ingest.sources.demo import demo_stream
from app.ingest.validation import IntakeLimits
from app.settings import Settings, load_settings
from app.training.pipeline import run_training, train_config_from
from app.training.text_index import embed_item_texts
from graphdb.fold import FoldConfig
from graphdb.store import GraphStore
from tests.conftest import CLEAN_DATA, Neo4jTestServer

NOW = datetime(2024, 6, 1, tzinfo=UTC)
Spec = dict[str, Any]


def response_schema(spec: Spec, path: str, method: str, status: int) -> Any:
    """The document's schema of one answer, resolvable on its own (components alongside)."""
    answer = spec["paths"][path][method]["responses"][str(status)]
    content = answer["content"]["application/json"]
    return {**content["schema"], "components": spec["components"]}


def problems(spec: Spec, path: str, method: str, response: TestResponse) -> list[str]:
    """What is wrong with a real answer by the document: [] when it conforms."""
    answers = spec["paths"][path][method]["responses"]
    if str(response.status_code) not in answers:
        return [f"status {response.status_code} undocumented"]
    content = answers[str(response.status_code)].get("content", {})
    if response.mimetype not in content:
        return [f"media type {response.mimetype} undocumented"]
    if response.mimetype != "application/json":
        return []
    schema = response_schema(spec, path, method, response.status_code)
    validator = jsonschema_rs.Draft202012Validator(schema)
    return [str(error) for error in validator.iter_errors(response.get_json())]


@pytest.fixture(scope="module")
def shop_settings(
    neo4j_server: Neo4jTestServer, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    models = tmp_path_factory.mktemp("contract-models")
    return neo4j_server.settings(model_dir=models, train_epochs=3)


@pytest.fixture(scope="module")
def shop(driver: Driver, shop_settings: Settings) -> Iterator[Flask]:
    """A trained shop with text vectors, behind the app."""
    driver.execute_query(CLEAN_DATA)
    store = GraphStore(driver)
    stream = demo_stream(n_users=60, n_items=40, n_events=2500, seed=5, now=NOW)
    import_items(store, stream.items(), progress=False)
    import_events(store, stream.events(), FoldConfig(), IntakeLimits(), progress=False)
    run_training(store, shop_settings, train_config_from(shop_settings))
    embed_item_texts(store)
    app = create_app(shop_settings)
    yield app
    app.extensions[EXTENSION_KEY].close()


def _busiest(driver: Driver, label: str, key: str) -> str:
    rows = driver.execute_query(
        f"MATCH (n:{label})-[r:INTERACTED]-() RETURN n.{key} AS id, count(r) AS n "
        "ORDER BY n DESC, id LIMIT 1"
    ).records
    return str(rows[0]["id"])


def _explained_user(client: FlaskClient, driver: Driver, spec: Spec) -> str:
    """A busy user whose list carries reasons, validated here so that the reasons' branch of
    the schema is checked too (which user has them varies with the trained model)."""
    rows = driver.execute_query(
        "MATCH (u:User)-[r:INTERACTED]->() RETURN u.user_id AS id, count(r) AS n "
        "ORDER BY n DESC, id LIMIT 10"
    ).records
    for row in rows:
        response = client.get(f"/api/v1/users/{row['id']}/recommendations")
        body = response.get_json()
        if body["fallback"] is None and any(i["reasons"] for i in body["items"]):
            path = "/api/v1/users/{user_id}/recommendations"
            assert problems(spec, path, "get", response) == []
            return str(row["id"])
    raise AssertionError("none of the 10 busiest users has a list with reasons")


def _calls(user: str, item: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, document path, request) for every operation, valid input each."""
    event = {"user_id": "c-new", "item_id": item, "type": "review", "value": 4, "text": "lovely"}
    return [
        ("get", "/health/live", {}),
        ("get", "/health/ready", {}),
        ("get", "/metrics", {}),
        ("get", "/docs", {}),
        ("get", "/browser/guide.html", {"query_string": {"user_id": user, "item_id": item}}),
        ("get", "/browser/interest-graph.grass", {}),
        ("get", "/api/v1/openapi.json", {}),
        ("post", "/api/v1/events", {"json": {"events": [event]}}),
        ("put", "/api/v1/items", {"json": [{"item_id": "c-i", "title": "Mug",
                                             "category_path": ["Home", "Kitchen"],
                                             "brand": "Acme", "price": 9.5}]}),
        ("get", "/api/v1/items/search", {"query_string": {"q": "shoe", "k": 3}}),
        ("get", "/api/v1/items/{item_id}", {"item_id": item}),
        ("get", "/api/v1/items/{item_id}/similar", {"item_id": item, "query_string": {"k": 3}}),
        ("get", "/api/v1/users/{user_id}/recommendations",
         {"user_id": user, "query_string": {"k": 5, "exclude": item}}),
        ("post", "/api/v1/users/{user_id}/recommendations",
         {"user_id": user, "json": {"exclude": [item]}, "query_string": {"diversity": 0.3}}),
        ("get", "/api/v1/users/{user_id}/interests", {"user_id": user}),
        ("get", "/api/v1/users/{user_id}/graph", {"user_id": user, "query_string": {"depth": 2}}),
        ("get", "/api/v1/graph/stats", {}),
        ("get", "/api/v1/models", {}),
        ("post", "/api/v1/refresh", {"json": {"kind": "full"}}),
        ("get", "/api/v1/refresh/runs", {}),
        ("get", "/api/v1/refresh/runs/{run_id}", {}),
        ("delete", "/api/v1/users/{user_id}", {"user_id": "c-new"}),
    ]  # fmt: skip


def _send(client: FlaskClient, method: str, path: str, request: dict[str, Any]) -> TestResponse:
    args = dict(request)
    url = path
    for name in ("user_id", "item_id", "run_id"):
        if name in args:
            url = url.replace("{" + name + "}", str(args.pop(name)))
    return client.open(url, method=method.upper(), **args)


def test_every_operation_answers_as_documented(shop: Flask, driver: Driver) -> None:
    client = shop.test_client()
    spec = client.get("/api/v1/openapi.json").get_json()
    user, item = _explained_user(client, driver, spec), _busiest(driver, "Item", "item_id")
    calls = _calls(user, item)
    documented = {(m, p) for p, ops in spec["paths"].items() for m in ops}
    assert {(m, p) for m, p, _ in calls} == documented  # each operation, once
    bodies: dict[str, Any] = {}
    for method, path, request in calls:
        if path.endswith("{run_id}"):
            request = {**request, "run_id": bodies["/api/v1/refresh"]["run_id"]}
        response = _send(client, method, path, request)
        assert 200 <= response.status_code < 300, (method, path, response.get_data(as_text=True))
        assert problems(spec, path, method, response) == [], (method, path)
        if response.is_json:
            bodies[path] = response.get_json()
    # The answers exercised the interesting branches of their schemas.
    recommended = bodies["/api/v1/users/{user_id}/recommendations"]
    assert recommended["fallback"] is None and recommended["items"]
    assert bodies["/api/v1/items/{item_id}/similar"]["items"]
    assert bodies["/api/v1/models"]["versions"] and bodies["/api/v1/items/search"]["items"]


def test_every_operation_documents_a_success_schema(shop: Flask) -> None:
    spec = shop.test_client().get("/api/v1/openapi.json").get_json()
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            success = [a for code, a in op["responses"].items() if code.startswith("2")]
            assert success, (method, path)
            for answer in success:
                schemas = [c["schema"] for c in answer.get("content", {}).values()]
                assert schemas and all(schemas), (method, path)
            for code, answer in op["responses"].items():
                if code[0] in "45":
                    assert answer["content"]["application/json"]["schema"] == {
                        "$ref": "#/components/schemas/Error"
                    }, (method, path, code)


def test_errors_answer_in_the_documented_shape(shop: Flask) -> None:
    client = shop.test_client()
    spec = client.get("/api/v1/openapi.json").get_json()
    for method, path, url in [
        ("get", "/api/v1/items/{item_id}", "/api/v1/items/nothing-here"),
        ("get", "/api/v1/items/{item_id}/similar", "/api/v1/items/x/similar?n=1"),
        ("post", "/api/v1/events", "/api/v1/events"),
    ]:
        response = client.open(url, method=method.upper(), json=[{"user_id": "u"}])
        assert response.status_code in (400, 404)
        assert problems(spec, path, method, response) == [], url


# -- the check itself: a wrong body fails it (no graph needed) ------------------------------


@pytest.fixture(scope="module")
def offline_spec() -> Spec:
    """The document as served, by an app whose graph is unreachable (the document needs none)."""
    app = create_app(load_settings(neo4j_uri="bolt://127.0.0.1:9"), autostart_lists=False)
    spec: Spec = app.test_client().get("/api/v1/openapi.json").get_json()
    return spec


def _valid(spec: Spec, path: str, body: Any, method: str = "get") -> bool:
    return jsonschema_rs.Draft202012Validator(response_schema(spec, path, method, 200)).is_valid(
        body
    )


def _example(spec: Spec, name: str) -> Any:
    return copy.deepcopy(spec["components"]["schemas"][name]["examples"][0])


@pytest.mark.parametrize(
    "tamper",
    [
        lambda b: b.pop("fallback"),  # a field dropped
        lambda b: b.update(fallbak=None),  # a field misspelt (added)
        lambda b: b.update(items="i1"),  # a wrong type
        lambda b: b["items"][0].update(score="high"),  # nested: a wrong type
        lambda b: b["items"][0]["reasons"][0].update(type="because"),  # not one of the kinds
        lambda b: b["items"][0]["reasons"][0].pop("category_id"),  # the kind's field missing
    ],
)
def test_a_wrong_recommendations_body_fails_the_check(offline_spec: Spec, tamper: Any) -> None:
    path = "/api/v1/users/{user_id}/recommendations"
    body = _example(offline_spec, "Recommendations")
    assert _valid(offline_spec, path, body)
    tamper(body)
    assert not _valid(offline_spec, path, body)


def test_every_example_matches_its_own_schema(offline_spec: Spec) -> None:
    schemas = offline_spec["components"]["schemas"]
    with_examples = [name for name, schema in schemas.items() if "examples" in schema]
    assert {"Recommendations", "Error", "EventsAccepted", "Erasure"} <= set(with_examples)
    for name in with_examples:
        schema = {**schemas[name], "components": offline_spec["components"]}
        validator = jsonschema_rs.Draft202012Validator(schema)
        for example in schemas[name]["examples"]:
            assert validator.is_valid(example), name
