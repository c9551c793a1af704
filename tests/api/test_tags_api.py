"""Tags through the API and the command line: interests, the neighbourhood, erasure, the spec."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from neo4j import Driver

from app.cli import main
from tests.conftest import Neo4jTestServer

NOW = datetime.now(UTC).replace(microsecond=0)
ITEMS = [
    {"item_id": "phone", "title": "Pixel phone with long battery life",
     "description": "Battery life of two days. Big screen. Fast camera.",
     "category_path": ["Electronics", "Phones"], "brand": "Pixel"},
    {"item_id": "case", "title": "Leather case", "description": "Made of leather.",
     "category_path": ["Electronics", "Accessories"], "brand": "Hide"},
]  # fmt: skip


def _at(days_ago: float) -> str:
    return (NOW - timedelta(days=days_ago)).isoformat()


@pytest.fixture()
def tagged(client: FlaskClient, neo4j_server: Neo4jTestServer, monkeypatch: pytest.MonkeyPatch,
           capsys: pytest.CaptureFixture[str]) -> str:  # fmt: skip
    """Items and events sent through the API, then `interest-graph tags` run once."""
    assert client.put("/api/v1/items", json=ITEMS).status_code == 200
    events = [
        {"user_id": "fan", "item_id": "phone", "type": "purchase", "ts": _at(10)},
        {"user_id": "fan", "item_id": "phone", "type": "review", "ts": _at(9), "value": 5,
         "text": "Battery life is amazing."},
        {"user_id": "fan", "item_id": "case", "type": "view", "ts": _at(1)},
        {"user_id": "critic", "item_id": "phone", "type": "review", "ts": _at(2),
         "text": "The screen scratches easily. Terrible, avoid."},
    ]  # fmt: skip
    assert client.post("/api/v1/events", json=events).status_code == 200
    target = neo4j_server.target
    monkeypatch.setenv("IG_NEO4J_URI", target.uri)
    monkeypatch.setenv("IG_NEO4J_AUTH", "true" if target.password else "false")
    if target.password:
        monkeypatch.setenv("IG_NEO4J_PASSWORD", target.password)
    assert main(["tags"]) == 0
    assert "tags: 2 items tagged (2 changed), 2 users' tag interests refreshed" in (
        capsys.readouterr().out
    )
    return "fan"


def test_interests_list_tags_beside_categories_and_brands(client: FlaskClient, tagged: str) -> None:
    body = client.get(f"/api/v1/users/{tagged}/interests").get_json()
    assert {row["kind"] for row in body["interests"]} == {"category", "brand"}
    tags = body["tags"]
    assert {row["kind"] for row in tags} == {"tag"} and tags[0]["id"] == "battery life"
    assert {"screen", "leather"} <= {row["id"] for row in tags}  # "camera": one text, once
    assert [r["weight"] for r in tags] == sorted((r["weight"] for r in tags), reverse=True)
    assert set(tags[0]) == set(body["interests"][0]) == {
        "kind", "id", "name", "weight", "events", "last_ts"
    }  # fmt: skip
    assert tags[0]["name"] == "battery life" and tags[0]["events"] == 2
    limited = client.get(f"/api/v1/users/{tagged}/interests?limit=1").get_json()
    assert len(limited["tags"]) == 1 and len(limited["interests"]) == 1


def test_a_critic_dislikes_what_they_panned(client: FlaskClient, tagged: str) -> None:
    tags = {
        r["id"]: r["weight"]
        for r in client.get("/api/v1/users/critic/interests").get_json()["tags"]
    }
    assert tags["screen"] < 0 and all(w <= 0 for w in tags.values())


def test_neighbourhood_shows_tags(client: FlaskClient, tagged: str) -> None:
    one = client.get(f"/api/v1/users/{tagged}/graph?depth=1").get_json()
    tag_nodes = {n["key"] for n in one["nodes"] if n["label"] == "Tag"}
    assert {"battery life", "leather"} <= tag_nodes
    two = client.get(f"/api/v1/users/{tagged}/graph?depth=2&limit=5000").get_json()
    assert "HAS_TAG" in {e["type"] for e in two["edges"]}


def test_erasure_removes_the_users_tag_interests_but_keeps_shared_tags(
    client: FlaskClient, graph: Driver, tagged: str
) -> None:
    count = "MATCH (:User {user_id: $u})-[r:INTERESTED_IN]->(:Tag) RETURN count(r) AS n"
    assert graph.execute_query(count, u=tagged).records[0]["n"] > 0
    tags_before = graph.execute_query("MATCH (t:Tag) RETURN count(t) AS n").records[0]["n"]
    assert client.delete(f"/api/v1/users/{tagged}").status_code == 200
    assert graph.execute_query(count, u=tagged).records[0]["n"] == 0
    left = graph.execute_query("MATCH ()-[r:INTERESTED_IN]->(:Tag) RETURN count(r) AS n")
    assert left.records[0]["n"] > 0  # the critic's stay
    assert graph.execute_query("MATCH (t:Tag) RETURN count(t) AS n").records[0]["n"] == tags_before
    assert client.get(f"/api/v1/users/{tagged}/interests").status_code == 404


def test_the_spec_describes_tags_in_interests(client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    op = spec["paths"]["/api/v1/users/{user_id}/interests"]["get"]
    assert "tags" in op["summary"]
    answer = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    profile = spec["components"]["schemas"][answer.rsplit("/", 1)[-1]]
    assert "kind 'tag'" in profile["properties"]["tags"]["description"]
    assert profile["properties"]["tags"]["items"] == {"$ref": "#/components/schemas/Interest"}
