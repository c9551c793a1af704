"""Read your own writes across hosts: ``X-Graph-Bookmark`` (issue 23, item 4), on real Neo4j.

Two apps with their own drivers stand for two API hosts. On one server every read already sees
every commit, so what these tests show is the protocol: a write's answer carries a token, another
host given it waits on it (its driver's chain then holds it), and a bad token is a 400 that
stores nothing and leaves the host serving.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from neo4j import Driver

from app.api import create_app
from app.api.consistency import HEADER
from app.api.wiring import services_of
from graphdb.consistency import decode_token, encode_token
from graphdb.driver import causal_session
from tests.conftest import Neo4jTestServer

ITEMS = [{"item_id": "kettle-1", "category_path": ["Home", "Kitchen"], "brand": "Boil"}]


def _event(user_id: str) -> list[dict[str, object]]:
    return [
        {"user_id": user_id, "item_id": "kettle-1", "type": "purchase", "ts": int(time.time()) - 60}
    ]


@pytest.fixture()
def other_host(app: Flask, neo4j_server: Neo4jTestServer) -> Iterator[FlaskClient]:
    """A second app over its own driver: another API host of the same graph."""
    second = create_app(app.config["SETTINGS"])
    second.config["TESTING"] = True
    yield second.test_client()
    services_of(second).close()


def test_a_write_answers_with_a_bookmark_another_host_waits_for(
    client: FlaskClient, other_host: FlaskClient
) -> None:
    assert client.put("/api/v1/items", json=ITEMS).status_code == 200
    posted = client.post("/api/v1/events", json=_event("kim"))
    assert posted.status_code == 200
    token = posted.headers[HEADER]
    assert decode_token(token)  # one bookmark or more, opaque to the client

    read = other_host.get("/api/v1/users/kim/interests", headers={HEADER: token})
    assert read.status_code == 200, read.get_json()
    assert any(row["id"] == "home/kitchen" for row in read.get_json()["interests"])
    # The other host's chain now holds the write: its later reads, on any server, wait for it.
    second_store = services_of(other_host.application).store
    assert set(decode_token(second_store.consistency.token())) >= set(decode_token(token))
    assert HEADER not in read.headers  # reads give none


@pytest.mark.parametrize(
    ("token", "says"),
    [
        ("not base64 at all!", "not a consistency token"),
        (encode_token(["FB:kcwQAAAAAAAAAAAAAAAAAAAA"]), "does not know"),  # well formed, forged
        ("W10", "1 to 16 bookmarks"),  # an empty list
        ("x" * 5000, "at most 4096"),
    ],
)
def test_a_bad_bookmark_is_a_400_that_stores_nothing(
    client: FlaskClient, graph: Driver, token: str, says: str
) -> None:
    assert client.put("/api/v1/items", json=ITEMS).status_code == 200
    answer = client.post("/api/v1/events", json=_event("lee"), headers={HEADER: token})
    assert answer.status_code == 400
    error = answer.get_json()["error"]
    assert error["code"] == "invalid_bookmark"
    assert HEADER in error["message"] and says in error["message"]
    stored = graph.execute_query("MATCH (:User {user_id: 'lee'}) RETURN count(*) AS n").records
    assert stored[0]["n"] == 0
    # The forged token never joined the host's chain: its next requests are served.
    assert client.post("/api/v1/events", json=_event("lee")).status_code == 200
    assert client.get("/api/v1/users/lee/interests").status_code == 200


def test_a_refused_write_gives_no_bookmark(client: FlaskClient) -> None:
    refused = client.post("/api/v1/events", json=[{"user_id": "x"}])
    assert refused.status_code == 400 and HEADER not in refused.headers


def test_a_session_write_joins_the_process_chain(graph: Driver) -> None:
    """Writes through sessions (ingest, catalog, runs) and ``execute_query`` reads share one
    chain, so in a cluster a process's read after its own session write sees that write."""
    manager = graph.execute_query_bookmark_manager
    before = set(manager.get_bookmarks())
    with causal_session(graph, None) as session:
        session.execute_write(lambda tx: tx.run("CREATE (:Scratch)").consume())
        written = set(session.last_bookmarks().raw_values)
    after = set(manager.get_bookmarks())
    assert written and written <= after and after != before
