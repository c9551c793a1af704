"""What an erasure leaves behind: nothing of the user in the graph, a salted tombstone only.

Items that exist only because the erased user's events named them go with the user; catalog
items, items others touched, categories and brands stay. Tags whose phrase only reviews gave
leave the items the user reviewed. The tombstone is an HMAC under the deployment's salt.
"""

from __future__ import annotations

import hashlib
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from neo4j import Driver
from pydantic import ValidationError

from app.api.wiring import services_of
from app.serving.rec_lists import FEED_GAP_REBUILD_S, ListSettings
from app.settings import load_settings, read_or_create_secret, setting_default
from graphdb.serving_feed import ERASURE_KEEP_S, erasure_key, purge_erasures
from tests.conftest import Neo4jTestServer

NOW = datetime.now(UTC).replace(microsecond=0)
VICTIM = "erased-person-7f3a"
ITEMS = [
    {"item_id": "lamp", "title": "Desk lamp", "category_path": ["Home", "Lights"], "brand": "Lux"},
    {"item_id": "mug", "title": "Mug", "category_path": ["Home", "Kitchen"], "brand": "Clay"},
]
# The properties of every node and relationship (lists included).
ALL_PROPERTIES = """
MATCH (n) RETURN properties(n) AS p
UNION ALL
MATCH ()-[r]->() RETURN properties(r) AS p
"""


def _at(days_ago: float) -> str:
    return (NOW - timedelta(days=days_ago)).isoformat()


def _count(graph: Driver, query: str, **params: object) -> int:
    return int(graph.execute_query(query, params).records[0]["n"])


@pytest.fixture()
def shop(client: FlaskClient, graph: Driver) -> FlaskClient:
    """Catalog items, one item only the victim named, one both they and another user named,
    and a tag on the victim's reviewed item that only reviews support."""
    assert client.put("/api/v1/items", json=ITEMS).status_code == 200
    events = [
        {"user_id": VICTIM, "item_id": "lamp", "type": "purchase", "ts": _at(5)},
        {"user_id": VICTIM, "item_id": "lamp", "type": "review", "ts": _at(4), "value": 5,
         "text": "My grandmother in Tromsø loves this lamp."},
        {"user_id": VICTIM, "item_id": "secret-gift-for-anna", "type": "view", "ts": _at(3)},
        {"user_id": VICTIM, "item_id": "shared-unlisted", "type": "view", "ts": _at(3)},
        {"user_id": "neighbour", "item_id": "shared-unlisted", "type": "cart", "ts": _at(2)},
        {"user_id": "neighbour", "item_id": "mug", "type": "view", "ts": _at(2)},
    ]  # fmt: skip
    assert client.post("/api/v1/events", json=events).status_code == 200
    graph.execute_query(
        "MATCH (i:Item {item_id: 'lamp'}) "
        "MERGE (t:Tag {tag_id: 'grandmother in tromsø'}) SET t.name = t.tag_id "
        "MERGE (i)-[:HAS_TAG {weight: 1.0, source: 'review'}]->(t) "
        "MERGE (s:Tag {tag_id: 'desk lamp'}) SET s.name = s.tag_id "
        "MERGE (i)-[:HAS_TAG {weight: 0.8, source: 'text'}]->(s)"
    )
    return client


def test_erasure_takes_what_only_the_user_made(
    shop: FlaskClient, graph: Driver, neo4j_server: Neo4jTestServer
) -> None:
    categories = _count(graph, "MATCH (c:Category) RETURN count(c) AS n")
    response = shop.delete(f"/api/v1/users/{VICTIM}")
    assert response.status_code == 200
    body = response.get_json()
    assert body["deleted"] == {"user": 1, "interactions": 4, "items": 1, "tags": 1}
    assert body["items_marked_for_refresh"] == 3
    if neo4j_server.kind == "local":  # the project's own server: its settings give the bound
        assert body["transaction_logs"] == {"rotated": True, "purged_within_s": 60.0}

    items = {r["id"] for r in graph.execute_query("MATCH (i:Item) RETURN i.item_id AS id").records}
    assert items == {"lamp", "mug", "shared-unlisted"}  # the gift only they named is gone
    tags = {r["id"] for r in graph.execute_query("MATCH (t:Tag) RETURN t.tag_id AS id").records}
    assert tags == {"desk lamp"}  # catalog text keeps its tag; their phrase went
    assert _count(graph, "MATCH (c:Category) RETURN count(c) AS n") == categories
    assert _count(graph, "MATCH (b:Brand) RETURN count(b) AS n") == 2
    assert _count(graph, "MATCH (n:TxLogPadding) RETURN count(n) AS n") == 0

    stored = str([r["p"] for r in graph.execute_query(ALL_PROPERTIES).records]).lower()
    assert "lamp" in stored  # the scan does read what is stored
    for secret in (VICTIM, "secret-gift-for-anna", "Tromsø", "grandmother"):
        assert secret.lower() not in stored, secret
    assert shop.get(f"/api/v1/users/{VICTIM}/interests").status_code == 404


def test_the_tombstone_is_keyed_with_the_deployments_salt(
    app: Flask, shop: FlaskClient, graph: Driver
) -> None:
    assert shop.delete(f"/api/v1/users/{VICTIM}").status_code == 200
    keys = [r["k"] for r in graph.execute_query("MATCH (e:Erasure) RETURN e.key AS k").records]
    salt = services_of(app).erasure_salt
    assert len(salt) >= 32
    assert keys == [erasure_key(VICTIM, salt)]
    assert keys[0] != hashlib.sha256(VICTIM.encode()).hexdigest()  # not guessable unkeyed
    assert erasure_key(VICTIM, b"another deployment's salt") != keys[0]
    assert purge_erasures(graph, ERASURE_KEEP_S) == 0  # kept through its stated life
    assert purge_erasures(graph, keep_s=0) == 1
    assert shop.delete(f"/api/v1/users/{VICTIM}").status_code == 404  # and nothing is written
    assert _count(graph, "MATCH (e:Erasure) RETURN count(e) AS n") == 0


def test_tombstones_outlive_the_gap_after_which_lists_are_rebuilt() -> None:
    """A worker that missed a tombstone trusts its lists only within FEED_GAP_REBUILD_S of its
    last poll (plus the feed's overlap), so the tombstone must stay longer than that."""
    overlap_max = ListSettings.__dataclass_fields__["feed_overlap_s"].default
    assert ERASURE_KEEP_S >= FEED_GAP_REBUILD_S + 3600  # an hour of margin, not a day
    assert ERASURE_KEEP_S + setting_default("decay_interval_s") <= 3 * 3600
    assert overlap_max < 3600


def test_an_unsalted_key_is_refused() -> None:
    with pytest.raises(ValueError, match="salt"):
        erasure_key(VICTIM, b"")


def test_the_salt_is_made_once_privately_or_set(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path / "state")
    first = settings.tombstone_salt()
    path = tmp_path / "state" / "erasure-salt"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(first) == 64
    assert load_settings(state_dir=tmp_path / "state").tombstone_salt() == first
    assert read_or_create_secret(path) == first
    assert [p.name for p in path.parent.iterdir()] == ["erasure-salt"]  # no temporary left
    shared = "s" * 40
    assert load_settings(erasure_salt=shared).tombstone_salt() == shared.encode()
    with pytest.raises(ValidationError, match="erasure_salt"):
        load_settings(erasure_salt="too short")
