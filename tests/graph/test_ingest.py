"""Event storage and folding against the real server."""

from __future__ import annotations

import random

import pytest
from neo4j import Driver

from graphdb.catalog import ItemRow, upsert_items
from graphdb.fold import EventRow, FoldConfig
from graphdb.ingest import write_events

DAY = 86_400_000
T0 = 1_700_000_000_000
CONFIG = FoldConfig(half_life_days=7)


def _edge(driver: Driver, user: str, item: str) -> dict:
    records = driver.execute_query(
        "MATCH (:User {user_id: $u})-[r:INTERACTED]->(:Item {item_id: $i}) RETURN properties(r) AS p",
        u=user,
        i=item,
    ).records
    assert len(records) == 1
    return dict(records[0]["p"])


def _events(n: int, seed: int) -> list[EventRow]:
    rng = random.Random(seed)
    kinds = ["view", "click", "cart", "favorite", "purchase"]
    return [
        EventRow(f"ev-{seed}-{k}", f"u{rng.randrange(4)}", f"i{rng.randrange(6)}", rng.choice(kinds),
                 T0 + rng.randrange(0, 40 * DAY))
        for k in range(n)
    ]  # fmt: skip


def test_batch_creates_interaction_nodes_and_weighted_edge(graph: Driver) -> None:
    events = [
        EventRow("e1", "u1", "i1", "view", T0),
        EventRow("e2", "u1", "i1", "purchase", T0 + 7 * DAY),
    ]
    result = write_events(graph, events, CONFIG)
    assert result.created == 2 and result.duplicates == 0
    edge = _edge(graph, "u1", "i1")
    assert edge["weight"] == pytest.approx(8 + 1 * 0.5)
    assert edge["count"] == 2 and edge["count_view"] == 1 and edge["count_purchase"] == 1
    assert edge["first_ts"].to_native().timestamp() * 1000 == T0
    assert edge["last_ts"].to_native().timestamp() * 1000 == T0 + 7 * DAY
    chain = graph.execute_query(
        "MATCH (:User {user_id:'u1'})-[:PERFORMED]->(x:Interaction)-[:ON]->(:Item {item_id:'i1'}) "
        "RETURN x.event_id AS id, x.type AS type ORDER BY id"
    ).records
    assert [(r["id"], r["type"]) for r in chain] == [("e1", "view"), ("e2", "purchase")]


def test_same_batch_twice_changes_nothing(graph: Driver) -> None:
    events = _events(50, seed=1)
    write_events(graph, events, CONFIG)
    before = graph.execute_query(
        "MATCH (u)-[r:INTERACTED]->(i) RETURN u.user_id AS u, i.item_id AS i, r.weight AS w, r.count AS c "
        "ORDER BY u, i"
    ).records
    again = write_events(graph, events, CONFIG)
    assert again.created == 0 and again.duplicates == 50
    after = graph.execute_query(
        "MATCH (u)-[r:INTERACTED]->(i) RETURN u.user_id AS u, i.item_id AS i, r.weight AS w, r.count AS c "
        "ORDER BY u, i"
    ).records
    assert [dict(r) for r in before] == [dict(r) for r in after]
    assert graph.execute_query("MATCH (x:Interaction) RETURN count(x) AS n").records[0]["n"] == 50


def test_out_of_order_batches_give_the_same_weights_as_one_sorted_batch(driver: Driver) -> None:
    events = _events(120, seed=2)
    driver.execute_query("MATCH (n) WHERE NOT n:SchemaMigration DETACH DELETE n")
    write_events(driver, sorted(events, key=lambda e: e.ts_ms), CONFIG)
    query = "MATCH (u)-[r:INTERACTED]->(i) RETURN u.user_id AS u, i.item_id AS i, r.weight AS w ORDER BY u, i"
    in_order = {(r["u"], r["i"]): r["w"] for r in driver.execute_query(query).records}
    driver.execute_query("MATCH (n) WHERE NOT n:SchemaMigration DETACH DELETE n")
    shuffled = events[:]
    random.Random(3).shuffle(shuffled)
    for start in range(0, len(shuffled), 17):
        write_events(driver, shuffled[start : start + 17], CONFIG)
    scrambled = {(r["u"], r["i"]): r["w"] for r in driver.execute_query(query).records}
    assert in_order.keys() == scrambled.keys()
    for key, weight in in_order.items():
        assert scrambled[key] == pytest.approx(weight, rel=1e-9)


def test_event_for_unknown_item_creates_catalog_pending_item(graph: Driver) -> None:
    write_events(graph, [EventRow("e1", "u1", "new-item", "view", T0)], CONFIG)
    item = graph.execute_query(
        "MATCH (i:Item {item_id: 'new-item'}) RETURN i.in_catalog AS c"
    ).records
    assert item[0]["c"] is False
    upsert_items(graph, [ItemRow("new-item", title="Now known", provided=frozenset({"title"}))])
    item = graph.execute_query(
        "MATCH (i:Item {item_id: 'new-item'}) RETURN i.in_catalog AS c, i.title AS t"
    ).records
    assert item[0]["c"] is True and item[0]["t"] == "Now known"


def test_events_fold_into_category_and_brand_interest(graph: Driver) -> None:
    upsert_items(
        graph,
        [
            ItemRow(
                "i1",
                category_path=("Shoes", "Running"),
                brand="Fleet",
                provided=frozenset({"category_path", "brand"}),
            )
        ],
    )
    write_events(
        graph,
        [EventRow("e1", "u1", "i1", "view", T0), EventRow("e2", "u1", "i1", "cart", T0 + 7 * DAY)],
        CONFIG,
    )
    records = graph.execute_query(
        "MATCH (:User {user_id:'u1'})-[r:INTERESTED_IN]->(t) "
        "RETURN coalesce(t.category_id, t.brand_id) AS id, r.weight AS w, r.count AS n ORDER BY id"
    ).records
    assert [(r["id"], r["n"]) for r in records] == [("fleet", 2), ("shoes/running", 2)]
    assert all(r["w"] == pytest.approx(4 + 0.5) for r in records)


def test_writes_stamp_changed_at_on_touched_nodes_only(graph: Driver) -> None:
    write_events(graph, [EventRow("e1", "u1", "i1", "view", T0)], CONFIG)
    first = graph.execute_query("MATCH (u:User {user_id:'u1'}) RETURN u.changed_at AS t").records[
        0
    ]["t"]
    write_events(graph, [EventRow("e2", "u2", "i2", "view", T0)], CONFIG)
    changed = graph.execute_query(
        "MATCH (n) WHERE (n:User OR n:Item) AND n.changed_at > $since "
        "RETURN coalesce(n.user_id, n.item_id) AS id ORDER BY id",
        since=first,
    ).records
    assert [r["id"] for r in changed] == ["i2", "u2"]
