"""IG_MAX_TEXT_CHARS bounds an item's description as it bounds a review's text."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from neo4j import Driver

from app.api import create_app
from app.api.wiring import EXTENSION_KEY
from app.settings import load_settings
from tests.conftest import Neo4jTestServer

URL = "/api/v1/items"
LIMIT = 50  # far below the default (20,000), so only the setting can refuse 51 characters


@pytest.fixture()
def small_text_client(graph: Driver, neo4j_server: Neo4jTestServer) -> Iterator[FlaskClient]:
    """A client of an app whose settings allow texts of at most ``LIMIT`` characters."""
    target = neo4j_server.target
    settings = load_settings(
        neo4j_uri=target.uri,
        neo4j_user=target.user,
        neo4j_password=target.password,
        neo4j_auth=target.password is not None,
        neo4j_database=target.database,
        api_auth=False,
        max_text_chars=LIMIT,
    )
    application = create_app(settings)
    application.config["TESTING"] = True
    yield application.test_client()
    application.extensions[EXTENSION_KEY].close()


def _descriptions(graph: Driver) -> dict[str, str | None]:
    records = graph.execute_query(
        "MATCH (i:Item) RETURN i.item_id AS id, i.description AS description"
    ).records
    return {record["id"]: record["description"] for record in records}


def test_a_description_longer_than_the_setting_is_refused_naming_it(
    small_text_client: FlaskClient, graph: Driver
) -> None:
    stored = {"item_id": "sku-1", "description": "d" * LIMIT}  # exactly the limit: accepted
    assert small_text_client.put(URL, json=stored).status_code == 200

    too_long = {"item_id": "sku-1", "description": "e" * (LIMIT + 1)}
    response = small_text_client.put(URL, json=[{"item_id": "sku-2", "title": "ok"}, too_long])

    assert response.status_code == 400
    details = response.get_json()["error"]["details"]
    assert [(d["index"], d["field"]) for d in details] == [(1, "description")]
    assert f"longer than {LIMIT} characters" in details[0]["message"]
    assert _descriptions(graph) == {"sku-1": "d" * LIMIT}, "the batch is all or nothing"


def test_a_review_text_longer_than_the_setting_is_refused_too(
    small_text_client: FlaskClient, graph: Driver
) -> None:
    review = {"user_id": "u1", "item_id": "sku-1", "type": "review", "value": 4,
              "ts": "2024-05-01T12:00:00Z", "text": "t" * (LIMIT + 1)}  # fmt: skip
    response = small_text_client.post("/api/v1/events", json=review)
    assert response.status_code == 400
    (detail,) = response.get_json()["error"]["details"]
    assert (detail["index"], detail["field"]) == (0, "text")
    count = graph.execute_query("MATCH (x:Interaction) RETURN count(x) AS n").records[0]["n"]
    assert count == 0
