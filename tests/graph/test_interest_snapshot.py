"""The model reads the interest graph itself: INTERESTED_IN edges and tags travel from Neo4j
into the training graph and into the refresh worker's live copy, identically."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
from neo4j import Driver

from app.training.live_graph import LiveGraph
from app.training.pipeline import snapshot_to_graph
from graphdb.changes import read_changes
from graphdb.store import GraphStore
from ml.interests import ATTRIBUTE_KINDS
from tests.communities import START, load

HALF_LIFE_MS = 30 * 24 * 3600 * 1000.0
ITEMS = [
    {"item_id": "kettle", "title": "Kettle", "category_path": ["home", "kitchen"],
     "brand": "acme"},
    {"item_id": "tent", "title": "Tent", "category_path": ["outdoor"], "brand": "trail"},
]  # fmt: skip


def _event(user: str, item: str, days: int, kind: str = "purchase") -> dict:
    return {"user_id": user, "item_id": item, "type": kind,
            "ts": (START + timedelta(days=days)).isoformat()}  # fmt: skip


def _tag(graph: Driver) -> None:
    graph.execute_query(
        "MATCH (i:Item {item_id: 'kettle'}) MERGE (t:Tag {tag_id: 'boil', name: 'boil'}) "
        "MERGE (i)-[:HAS_TAG {weight: 1.0, source: 'test'}]->(t) "
        "WITH t MATCH (u:User {user_id: 'u1'}) MERGE (u)-[r:INTERESTED_IN]->(t) "
        "SET r.weight = 2.0, r.count = 1, r.last_ts = datetime($ts)",
        ts=(START + timedelta(days=40)).isoformat(),
    )


def _named(names: list[str], kind: str, fragment: str) -> str:
    """The one feature id of ``kind`` whose id ends with ``fragment`` (ids are slugs)."""
    (found,) = [n for n in names if n.startswith(kind + ":") and n.endswith(fragment)]
    return found


def _interests_by_user(graph) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    rows = graph.interests
    for user in range(graph.n_users):
        lo, hi = rows.indptr[user], rows.indptr[user + 1]
        out[graph.user_ids[user]] = dict(
            zip(rows.indices[lo:hi].tolist(), rows.weights[lo:hi].tolist(), strict=True)
        )
    return out


def test_snapshot_carries_interest_edges_tags_and_node_types(graph: Driver, store: GraphStore):
    load(graph, ITEMS, [_event("u1", "kettle", 0), _event("u1", "tent", 30),
                        _event("u2", "tent", 1, "view")])  # fmt: skip
    _tag(graph)
    snapshot = store.snapshots.read_snapshot(HALF_LIFE_MS)
    assert "tag:boil" in snapshot.feature_ids
    training = snapshot_to_graph(snapshot)
    kinds = {f: ATTRIBUTE_KINDS[k] for f, k in zip(snapshot.feature_ids, training.feature_kind,
                                                     strict=True)}  # fmt: skip
    assert kinds["tag:boil"] == "tag" and kinds["brand:acme"] == "brand"
    names = snapshot.feature_ids
    kitchen, outdoor = _named(names, "category", "kitchen"), _named(names, "category", "outdoor")
    assert kinds[kitchen] == "category"
    u1 = {names[f]: w for f, w in _interests_by_user(training)["u1"].items()}
    # the graph's own INTERESTED_IN edges: the leaf categories, brands and the tag
    assert {kitchen, outdoor, "brand:acme", "brand:trail", "tag:boil"} <= set(u1)
    # decayed within the user: the tent, a month newer than the kettle, weighs about twice
    assert u1[outdoor] > 1.8 * u1[kitchen]
    u2 = {names[f] for f in _interests_by_user(training)["u2"]}
    assert u2 == {outdoor, "brand:trail"}


def test_live_copy_patched_from_changes_equals_a_fresh_snapshot(graph: Driver, store: GraphStore):
    load(graph, ITEMS, [_event("u1", "kettle", 0), _event("u2", "tent", 1)])
    first = store.snapshots.read_snapshot(HALF_LIFE_MS)
    live = LiveGraph.from_snapshot(first, first.item_ids, first.feature_ids, HALF_LIFE_MS)
    since = first.as_of
    load(graph, [], [_event("u1", "tent", 20), _event("u1", "tent", 21, "view")])
    changes = read_changes(graph, since, overlap_s=60.0)
    live.replace_users(changes.users)
    patched = live.to_interaction_graph()
    second = store.snapshots.read_snapshot(HALF_LIFE_MS)
    fresh = snapshot_to_graph(second)
    by_name = {u: {first.feature_ids[f]: w for f, w in rows.items()}
               for u, rows in _interests_by_user(patched).items()}  # fmt: skip
    want = {u: {second.feature_ids[f]: w for f, w in rows.items()}
            for u, rows in _interests_by_user(fresh).items()}  # fmt: skip
    assert by_name.keys() == want.keys()
    for user, rows in want.items():
        assert by_name[user].keys() == rows.keys(), user
        assert np.allclose([by_name[user][k] for k in rows], list(rows.values()), rtol=1e-5)
    # the new interest reached the live copy
    assert _named(first.feature_ids, "category", "outdoor") in by_name["u1"]
