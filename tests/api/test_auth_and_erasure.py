"""API keys and scopes, and the guarantee that deleting a user erases them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from neo4j import Driver

from app.api import create_app
from app.api.wiring import EXTENSION_KEY
from app.cli import main
from app.ingest.importer import import_events, import_items
from app.ingest.sources.demo import demo_stream
from app.ingest.validation import IntakeLimits
from app.settings import Settings, load_settings
from app.training.pipeline import run_training, train_config_from
from graphdb.apikeys import create_key, revoke_key
from graphdb.fold import FoldConfig
from graphdb.store import GraphStore
from tests.conftest import Neo4jTestServer

EVENT = {"user_id": "u1", "item_id": "i1", "type": "view", "ts": "2024-05-01T12:00:00Z"}


@pytest.fixture()
def settings(neo4j_server: Neo4jTestServer, tmp_path: Path) -> Settings:
    target = neo4j_server.target
    return load_settings(
        neo4j_uri=target.uri, neo4j_password=target.password, neo4j_auth=target.password is not None,
        model_dir=tmp_path / "models", train_epochs=3, api_auth=True,
    )  # fmt: skip


@pytest.fixture()
def make_app(graph: Driver, settings: Settings) -> Iterator[Callable[[], Flask]]:
    apps: list[Flask] = []

    def factory() -> Flask:
        apps.append(create_app(settings))
        return apps[-1]

    yield factory
    for app in apps:
        app.extensions[EXTENSION_KEY].close()


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_requests_need_a_valid_key_with_the_right_scope(
    make_app: Callable[[], Flask], graph: Driver
) -> None:
    client = make_app().test_client()
    reader, writer = create_key(graph, "r", ["read"]), create_key(graph, "w", ["write"])
    admin = create_key(graph, "a", ["admin"])
    assert client.get("/health/live").status_code == 200
    missing = client.get("/api/v1/graph/stats")
    assert missing.status_code == 401 and missing.get_json()["error"]["code"] == "unauthorized"
    assert client.get("/api/v1/graph/stats", headers=_auth("igk_nope_nope")).status_code == 401
    assert client.get("/api/v1/graph/stats", headers=_auth("not-even-a-key")).status_code == 401
    assert client.get("/api/v1/graph/stats", headers=_auth(reader)).status_code == 200
    denied = client.post("/api/v1/events", json=EVENT, headers=_auth(reader))
    assert (
        denied.status_code == 403 and denied.get_json()["error"]["details"]["required"] == "write"
    )
    assert (
        client.post("/api/v1/events", json=EVENT, headers={"X-API-Key": writer}).status_code == 200
    )
    assert client.get("/api/v1/graph/stats", headers=_auth(writer)).status_code == 403
    assert client.delete("/api/v1/users/u1", headers=_auth(writer)).status_code == 403
    assert client.delete("/api/v1/users/u1", headers=_auth(admin)).status_code == 200


def test_revoked_key_is_refused_and_secrets_are_not_stored(
    make_app: Callable[[], Flask], graph: Driver
) -> None:
    key = create_key(graph, "soon revoked", ["read"])
    key_id, secret = key.split("_")[1], key.split("_")[2]
    assert revoke_key(graph, key_id)
    assert (
        make_app().test_client().get("/api/v1/graph/stats", headers=_auth(key)).status_code == 401
    )
    stored = graph.execute_query("MATCH (k:ApiKey) RETURN properties(k) AS p").records
    assert stored and all(secret not in str(r["p"]) for r in stored)


def test_a_revocation_reaches_every_worker_within_a_second(
    graph: Driver, settings: Settings
) -> None:
    """Two apps stand for two API workers with their own key caches over one graph."""
    now = [100.0]
    workers = [create_app(settings, clock=lambda: now[0]) for _ in range(2)]
    try:
        first, second = (w.test_client() for w in workers)
        key = create_key(graph, "soon revoked", ["read"])
        for client in (first, second):  # both workers now hold the key in their caches
            assert client.get("/api/v1/graph/stats", headers=_auth(key)).status_code == 200
        now[0] += 0.2
        assert second.get("/api/v1/graph/stats", headers=_auth(key)).status_code == 200
        assert revoke_key(graph, key.split("_")[1])  # as the CLI or another worker would
        now[0] += 0.6  # well under a second, and far under the cache's 30 s lifetime
        for client in (second, first):
            refused = client.get("/api/v1/graph/stats", headers=_auth(key))
            assert refused.status_code == 401
            assert refused.get_json()["error"]["code"] == "unauthorized"
    finally:
        for worker in workers:
            worker.extensions[EXTENSION_KEY].close()


def test_apikey_cli(
    graph: Driver,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("IG_NEO4J_URI", settings.neo4j_uri)
    monkeypatch.setenv("IG_NEO4J_AUTH", "true" if settings.neo4j_password else "false")
    if settings.neo4j_password:
        monkeypatch.setenv("IG_NEO4J_PASSWORD", settings.neo4j_password)
    assert main(["apikey", "create", "--name", "ingest", "--scopes", "write"]) == 0
    key = capsys.readouterr().out.strip()
    assert key.startswith("igk_")
    assert main(["apikey", "list"]) == 0
    assert "active\twrite\tingest" in capsys.readouterr().out
    assert main(["apikey", "revoke", key.split("_")[1]]) == 0
    assert main(["apikey", "create", "--scopes", "superuser"]) == 1


def test_deleting_a_user_erases_everything_of_theirs(
    make_app: Callable[[], Flask], graph: Driver, settings: Settings
) -> None:
    stream = demo_stream(
        n_users=60, n_items=50, n_events=3000, seed=5, now=datetime(2024, 6, 1, tzinfo=UTC)
    )
    import_items(GraphStore(graph), stream.items(), progress=False)
    import_events(GraphStore(graph), stream.events(), FoldConfig(), IntakeLimits(), progress=False)
    run_training(GraphStore(graph), settings, train_config_from(settings))
    users = graph.execute_query(
        "MATCH (u:User)-[:PERFORMED]->(x) WITH u.user_id AS id, count(x) AS n RETURN id, n ORDER BY n DESC, id"
    ).records
    victim, victim_events, other = users[0]["id"], users[0]["n"], users[1]["id"]
    total_before = graph.execute_query("MATCH (x:Interaction) RETURN count(x) AS n").records[0]["n"]
    admin = create_key(graph, "dpo", ["admin"])
    client = make_app().test_client()
    response = client.delete(f"/api/v1/users/{victim}", headers=_auth(admin))
    assert response.status_code == 200
    deleted = response.get_json()["deleted"]
    assert deleted["user"] == 1 and deleted["interactions"] == victim_events
    left = graph.execute_query(
        "MATCH (n) WHERE n.user_id = $u OR any(k IN keys(n) WHERE n[k] = $u) RETURN count(n) AS n",
        u=victim,
    ).records[0]["n"]
    assert left == 0
    total_after = graph.execute_query("MATCH (x:Interaction) RETURN count(x) AS n").records[0]["n"]
    assert total_after == total_before - victim_events
    orphans = graph.execute_query(
        "MATCH (x:Interaction) WHERE NOT ()-[:PERFORMED]->(x) RETURN count(x) AS n"
    )
    assert orphans.records[0]["n"] == 0
    reader = create_key(graph, "r", ["read"])
    recs = client.get(
        f"/api/v1/users/{other}/recommendations?k=5", headers=_auth(reader)
    ).get_json()
    assert recs["fallback"] is None and len(recs["items"]) == 5
    assert client.delete(f"/api/v1/users/{victim}", headers=_auth(admin)).status_code == 404
