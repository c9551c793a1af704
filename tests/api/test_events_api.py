"""POST /api/v1/events against the real server: success paths and every 4xx path."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from neo4j import Driver
from werkzeug.test import TestResponse

URL = "/api/v1/events"


def _event(**overrides: Any) -> dict[str, Any]:
    event = {"user_id": "u1", "item_id": "i1", "type": "view", "ts": "2024-05-01T12:00:00Z"}
    event.update(overrides)
    return event


def _snapshot(driver: Driver) -> list[str]:
    """Every node with its properties and outgoing relationships, as sorted text."""
    records = driver.execute_query(
        "MATCH (n) WHERE NOT n:SchemaMigration OPTIONAL MATCH (n)-[r]->() "
        "RETURN labels(n) AS l, properties(n) AS p, collect(properties(r)) AS rels"
    ).records
    return sorted(
        repr((r["l"], sorted(r["p"].items()), sorted(repr(sorted(x.items())) for x in r["rels"])))
        for r in records
    )


def test_single_event_is_stored(client: FlaskClient, graph: Driver) -> None:
    response = client.post(URL, json=_event(event_id="evt-1"))
    assert response.status_code == 200
    assert response.get_json() == {"accepted": 1, "duplicates": 0, "event_ids": ["evt-1"]}
    count = graph.execute_query("MATCH (x:Interaction {event_id: 'evt-1'}) RETURN count(x) AS n")
    assert count.records[0]["n"] == 1


def test_batch_and_resend_are_idempotent_with_derived_ids(
    client: FlaskClient, graph: Driver
) -> None:
    batch = {
        "events": [_event(), _event(type="purchase"), _event(user_id="u2", type="rating", value=5)]
    }
    first = client.post(URL, json=batch).get_json()
    assert first["accepted"] == 3 and all(eid.startswith("d-") for eid in first["event_ids"])
    second = client.post(URL, json=batch).get_json()
    assert second == {"accepted": 0, "duplicates": 3, "event_ids": first["event_ids"]}
    assert graph.execute_query("MATCH (x:Interaction) RETURN count(x) AS n").records[0]["n"] == 3


def test_epoch_seconds_and_missing_ts_are_accepted(client: FlaskClient, graph: Driver) -> None:
    response = client.post(URL, json=[_event(ts=1714564800), _event(item_id="i2", ts=None)])
    assert response.status_code == 200
    ts = graph.execute_query(
        "MATCH (x:Interaction)-[:ON]->(:Item {item_id: 'i1'}) RETURN x.ts.epochSeconds AS s"
    ).records[0]["s"]
    assert ts == 1714564800


BAD_EVENTS = [
    (_event(type="buy"), "type", "Input should be"),
    ({"item_id": "i1", "type": "view"}, "user_id", "Field required"),
    (_event(item_id=""), "item_id", "at least 1 character"),
    (_event(ts="yesterday-ish"), "ts", "RFC 3339"),
    (_event(ts=True), "ts", "RFC 3339"),
    (_event(ts="2024-05-01T12:00:00"), "ts", "time zone"),
    (_event(ts="2999-01-01T00:00:00Z"), "ts", "future"),
    (_event(ts=1714564800000), "ts", "milliseconds"),
    (_event(ts=10**400), "ts", "future"),  # past a float's range: was an OverflowError
    (_event(ts=-(10**400)), "ts", "before 1990"),
    (_event(ts=float("nan")), "ts", "not NaN"),
    (_event(type="rating", value=10**400), "value", "valid number"),
    (_event(type="rating", value="5"), "value", "valid number"),  # strict: numbers only
    (_event(type="rating", value=True), "value", "valid number"),
    (_event(type="review", value="4", text="ok"), "value", "valid number"),
    (_event(ts="1970-01-02T00:00:00Z"), "ts", "before 1990"),
    (_event(type="rating", value=7), "value", "between 1 and 5"),
    (_event(type="rating"), "value", "needs a value"),
    (_event(type="view", value=3), "value", "only accepted for rating and review"),
    (_event(type="review", text="x" * 20_001), "text", "longer than 20000"),
    (_event(user_id="jane.doe@example.com"), "user_id", "e-mail"),
    (_event(colour="red"), "colour", "unknown field"),
    # Ids that no route could address (tests/api/test_id_round_trip.py has the routes).
    (_event(user_id="bi_mr/"), "user_id", "'/'"),
    (_event(item_id="a/b"), "item_id", "'/'"),
    (_event(event_id="e/1"), "event_id", "'/'"),
    (_event(session_id="/s"), "session_id", "'/'"),
    (_event(item_id="i1,i2"), "item_id", "','"),
    (_event(user_id=".."), "user_id", "'..'"),
    (_event(item_id="."), "item_id", "'..'"),
    (_event(user_id="u\x7f"), "user_id", "control characters"),
    (_event(item_id="search"), "item_id", "search route"),
]


@pytest.mark.parametrize(("bad", "field", "message"), BAD_EVENTS)
def test_bad_event_in_a_batch_is_named_and_nothing_is_written(
    client: FlaskClient, graph: Driver, bad: dict[str, Any], field: str, message: str
) -> None:
    client.post(URL, json=_event(event_id="kept", user_id="u0"))
    before = _snapshot(graph)
    response = client.post(
        URL, json={"events": [_event(event_id="ok-1"), bad, _event(event_id="ok-3")]}
    )
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_input"
    assert error["details"][0]["index"] == 1 and error["details"][0]["field"] == field
    assert message in error["details"][0]["message"]
    assert "event 1" in error["message"] and field in error["message"]
    assert _snapshot(graph) == before


def test_oversize_batch_is_refused(client: FlaskClient, graph: Driver) -> None:
    events = [_event(event_id=f"e{k}") for k in range(1001)]
    response = client.post(URL, json=events)
    assert response.status_code == 400
    assert "exceeds the limit of 1000" in response.get_json()["error"]["message"]
    assert graph.execute_query("MATCH (x:Interaction) RETURN count(x) AS n").records[0]["n"] == 0


def test_wrong_content_type_and_malformed_json(client: FlaskClient) -> None:
    response = client.post(URL, data="user_id=u1", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert response.get_json()["error"]["code"] == "unsupported_media_type"
    response = client.post(URL, data="{not json", content_type="application/json")
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "malformed_json"
    response = client.post(URL, json=[])
    assert response.status_code == 400 and "empty" in response.get_json()["error"]["message"]
    response = client.post(URL, json="just a string")
    assert response.status_code == 400


@pytest.mark.parametrize("body", ["[" * 2000, "[" * 2000 + "]" * 2000, '{"events":' * 2000])
@pytest.mark.parametrize("url", [URL, "/api/v1/items", "/api/v1/refresh"])
def test_deeply_nested_json_is_a_400(
    client: FlaskClient, graph: Driver, body: str, url: str
) -> None:
    client.post(URL, json=_event(event_id="kept"))
    before = _snapshot(graph)
    method = client.put if url.endswith("items") else client.post
    response = method(url, data=body, content_type="application/json")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "malformed_json" and "nested too deeply" in error["message"]
    assert _snapshot(graph) == before


def test_oversize_body_is_413(app, client: FlaskClient) -> None:  # type: ignore[no-untyped-def]
    app.config["MAX_CONTENT_LENGTH"] = 2048
    response = client.post(URL, json=_event(type="review", text="x" * 5000))
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "request_entity_too_large"


def _post_chunked(client: FlaskClient, body: bytes) -> TestResponse:
    """Posts ``body`` as a chunked request (no Content-Length), as gunicorn hands it on."""
    return client.post(
        URL,
        input_stream=io.BytesIO(body),
        content_type="application/json",
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )


def test_oversize_chunked_body_is_413_and_one_within_the_limit_is_read_whole(
    app: Flask, client: FlaskClient
) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 2048
    oversize = _post_chunked(client, json.dumps(_event(type="review", text="x" * 5000)).encode())
    assert oversize.status_code == 413
    assert oversize.get_json()["error"]["code"] == "request_entity_too_large"
    fits = _post_chunked(client, json.dumps(_event(type="review", text="x" * 1500)).encode())
    assert fits.status_code == 200, fits.get_json()


def test_unknown_route_and_method_are_json(client: FlaskClient) -> None:
    assert client.get("/api/v1/nowhere").get_json()["error"]["code"] == "not_found"
    response = client.get(URL)
    assert response.status_code == 405 and "POST" in response.headers["Allow"]
