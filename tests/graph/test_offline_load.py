"""The offline bulk load builds the very graph the online import builds, and refuses bad input.

The online import runs in the session's server; the offline load needs a server of its own,
since it stops it to run ``neo4j-admin import``.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from neo4j import Driver

from app.ingest.importer import import_events
from app.ingest.loading import load_stream, offline_load
from app.ingest.sources.demo import demo_stream
from app.ingest.sources.stream import DatasetStream
from app.ingest.validation import IntakeLimits, InvalidInput
from app.settings import Settings, load_settings
from graphdb.driver import Neo4jTarget, connect
from graphdb.fold import FoldConfig
from graphdb.local.server import start, status, stop
from graphdb.store import GraphStore
from tests.conftest import free_port

pytestmark = pytest.mark.skipif(
    shutil.which("java") is None or shutil.which("mvn") is None,
    reason="the offline load drives the locally provisioned Neo4j (neo4j-admin import)",
)

TYPES = ("view", "click", "cart", "favorite", "purchase", "rating", "review")
SNAPSHOT = {
    "users": "MATCH (u:User) RETURN u.user_id AS id ORDER BY id",
    "items": """
        MATCH (i:Item)
        RETURN i.item_id AS id, i.title AS title, i.description AS description,
               i.price AS price, i.in_stock AS in_stock, i.attributes AS attributes,
               i.brand_name AS brand_name, i.in_catalog AS in_catalog,
               [(i)-[:IN_CATEGORY]->(c) | c.category_id] AS categories,
               [(i)-[:BY_BRAND]->(b) | b.brand_id] AS brands
        ORDER BY id""",
    "categories": """
        MATCH (c:Category) OPTIONAL MATCH (c)-[:SUBCATEGORY_OF]->(p)
        RETURN c.category_id AS id, c.name AS name, c.level AS level, c.path AS path,
               p.category_id AS parent ORDER BY id""",
    "brands": "MATCH (b:Brand) RETURN b.brand_id AS id, b.name AS name ORDER BY id",
    "interactions": """
        MATCH (u:User)-[:PERFORMED]->(x:Interaction)-[:ON]->(i:Item)
        RETURN x.event_id AS id, u.user_id AS user, i.item_id AS item, x.type AS type,
               x.ts.epochMillis AS ts, x.ts.offset AS offset, x.value AS value,
               x.weight AS weight, x.text AS text, x.sentiment AS sentiment,
               x.session_id AS session, x.ingested_at IS NOT NULL AS stamped
        ORDER BY id""",
    "interacted": """
        MATCH (u:User)-[r:INTERACTED]->(i:Item)
        RETURN u.user_id AS user, i.item_id AS item, r.weight AS weight, r.count AS count,
               [t IN $types | r['count_' + t]] AS counts, r.first_ts.epochMillis AS first,
               r.last_ts.epochMillis AS last, r.updated_at IS NOT NULL AS stamped
        ORDER BY user, item""",
    "interests": """
        MATCH (u:User)-[r:INTERESTED_IN]->(t)
        RETURN u.user_id AS user, labels(t)[0] AS kind,
               coalesce(t.category_id, t.brand_id) AS target, r.weight AS weight,
               r.count AS count, r.last_ts.epochMillis AS last
        ORDER BY user, kind, target""",
    "unstamped_nodes": """
        MATCH (n) WHERE (n:User OR n:Item) AND (n.created_at IS NULL OR n.changed_at IS NULL)
        RETURN count(n) AS n""",
}


def _tricky_source() -> DatasetStream:
    """The demo shop plus what CSV files find hard: quotes, commas, line breaks, odd ids
    (quotes and semicolons: ids may not hold commas, see app/ingest/ids.py)."""
    demo = demo_stream(30, 40, 400, seed=7, now=datetime(2025, 1, 1, tzinfo=UTC))
    odd_item = {
        "item_id": 'demo:i;"odd"', "title": 'Say "cheese", please',
        "description": "two\nlines, and a \"quote\"\r\nthree", "category_path": ["Odd", "Things"],
        "brand": "Odd & Co", "price": 0.5, "in_stock": False, "attributes": {"k": "v,w"},
    }  # fmt: skip
    extra = [
        {"event_id": "x1", "user_id": "demo:u1", "item_id": 'demo:i;"odd"', "type": "review",
         "value": 2, "text": 'Broke after "one" day,\nsadly.', "ts": "2024-12-01T10:00:00Z"},
        {"event_id": "x2", "user_id": 'demo:"u";x', "item_id": "demo:i3", "type": "review",
         "text": "Absolutely wonderful, I love it!", "ts": "2024-12-02T10:00:00Z",
         "session_id": "s;1"},
        {"event_id": "x3", "user_id": "demo:u2", "item_id": "not-in-catalog", "type": "cart",
         "ts": "2024-12-03T10:00:00.250Z"},
        {"event_id": "x1", "user_id": "demo:u9", "item_id": "demo:i4", "type": "view",
         "ts": "2024-12-04T10:00:00Z"},  # a re-sent id: the first one stays
    ]  # fmt: skip

    def items() -> Iterator[dict[str, Any]]:
        yield from demo.items()
        yield odd_item

    def events() -> Iterator[dict[str, Any]]:
        yield from demo.events()
        yield from extra

    return DatasetStream(
        name="tricky", make_items=items, make_events=events,
        count_items=lambda: 41, count_events=lambda: 10_000,
    )  # fmt: skip


def _snapshot(driver: Driver, database: str | None = None) -> dict[str, list[dict[str, Any]]]:
    return {
        name: [r.data() for r in driver.execute_query(q, types=TYPES, database_=database).records]
        for name, q in SNAPSHOT.items()
    }


def _same(left: Any, right: Any) -> bool:
    if isinstance(left, float) and isinstance(right, float):
        return math.isclose(left, right, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_same(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(_same, left, right))
    return bool(left == right)


@pytest.fixture()
def own_server(tmp_path: Path) -> Iterator[Settings]:
    bolt = free_port()
    settings = load_settings(
        state_dir=tmp_path / "state", neo4j_bolt_port=bolt, neo4j_http_port=free_port(),
        neo4j_uri=f"bolt://127.0.0.1:{bolt}", neo4j_auth=False, neo4j_heap="512m",
        neo4j_pagecache="64m",
        cache_dir=Path(os.environ.get("IG_CACHE_DIR", Path.home() / ".cache" / "interest-graph")),
    )  # fmt: skip
    start(settings.server_config())
    yield settings
    stop(settings.server_config())


def test_offline_load_equals_online_import_and_refuses_bad_input(
    graph: Driver, own_server: Settings
) -> None:
    source = _tricky_source()
    bad = DatasetStream(
        name="bad", make_items=source.make_items,
        make_events=lambda: iter([*source.events(), {"user_id": "u", "item_id": "i",
                                                      "type": "teleport"}]),
        count_items=lambda: 0, count_events=lambda: 0,
    )  # fmt: skip
    with pytest.raises(InvalidInput, match="type"):
        offline_load(own_server, bad)
    assert status(own_server.server_config()).running  # back up, and still empty
    with connect(Neo4jTarget(own_server.neo4j_uri)) as driver:
        assert (
            driver.execute_query("MATCH (n:Interaction) RETURN count(n) AS n").records[0]["n"] == 0
        )

    load_stream(GraphStore(graph), load_settings(), source, batch_size=100)
    online = _snapshot(graph)
    report = offline_load(own_server, source)
    with connect(Neo4jTarget(own_server.neo4j_uri)) as driver:
        offline = _snapshot(driver)
    assert report.events == len(online["interactions"]) > 400
    assert online["unstamped_nodes"] == [{"n": 0}] and offline["unstamped_nodes"] == [{"n": 0}]
    assert all(online[name] for name in ("categories", "brands", "interacted", "interests"))
    for name in SNAPSHOT:
        assert _same(online[name], offline[name]), f"{name} differ between online and offline"
    _online_writes_follow_the_bulk_load(own_server)
    reviews = {row["id"]: row for row in offline["interactions"] if row["type"] == "review"}
    assert reviews["x1"]["text"] == 'Broke after "one" day,\nsadly.' and reviews["x1"]["weight"] < 0
    assert reviews["x2"]["sentiment"] > 0 and reviews["x2"]["weight"] > 0


def _online_writes_follow_the_bulk_load(settings: Settings) -> None:
    """The importer set node ids itself: nodes written afterwards must get fresh ones."""
    later = {"event_id": "after-bulk", "user_id": "demo:newcomer", "item_id": "demo:brand-new",
             "type": "purchase", "ts": "2025-01-02T10:00:00Z"}  # fmt: skip
    with connect(Neo4jTarget(settings.neo4j_uri)) as driver:
        before = driver.execute_query("MATCH (n) RETURN count(n) AS n").records[0]["n"]
        stats = import_events(
            GraphStore(driver), [later], FoldConfig(), IntakeLimits(), progress=False
        )
        assert stats.created == 1
        after = driver.execute_query("MATCH (n) RETURN count(n) AS n").records[0]["n"]
        path = driver.execute_query(
            "MATCH (u:User {user_id: 'demo:newcomer'})-[:PERFORMED]->(x:Interaction)"
            "-[:ON]->(i:Item {item_id: 'demo:brand-new'}), (u)-[r:INTERACTED]->(i) "
            "RETURN x.event_id AS id, r.count AS count"
        ).records
    assert after == before + 3  # a user, an item and the interaction, none reusing an id
    assert [r.data() for r in path] == [{"id": "after-bulk", "count": 1}]
