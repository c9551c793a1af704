"""The two-slot embedding layout against the real server: alternating slots, a switch that
touches only version nodes, failed writes, refreshes into the active slot, stale values
cleared, readers holding the old pointer, and the upgrade from the single-slot layout."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from neo4j import Driver

from graphdb.changes import VersionSwitched, read_version_vectors, write_refreshed_vectors
from graphdb.embeddings import (
    ACTIVATE_VERSION,
    LOCK_STAGING_VERSION,
    MARK_SUPERSEDED,
    EmbeddingWriteError,
    NodeVectors,
    active_version,
    write_model_version,
    write_version,
)
from graphdb.migrations import load_migrations, migrate, split_statements
from graphdb.reads import item_matrix
from graphdb.similar_items import similar_items
from graphdb.slots import SLOTS

USERS = ["u1", "u2", "u3"]
ITEMS = [f"i{k}" for k in range(6)]
SLOT_VALUES = """
MATCH (n:{label}) RETURN n.{id} AS id, n.embedding_a AS a, n.embedding_version_a AS va,
       n.embedding_b AS b, n.embedding_version_b AS vb ORDER BY id
"""


def _graph(driver: Driver, users: list[str] = USERS) -> None:
    driver.execute_query("UNWIND $ids AS id MERGE (:User {user_id: id})", ids=users)
    driver.execute_query("UNWIND $ids AS id MERGE (:Item {item_id: id})", ids=ITEMS)


def _vectors(ids: list[str], seed: int) -> NodeVectors:
    rng = np.random.default_rng(seed)
    return NodeVectors(ids, rng.standard_normal((len(ids), 64)).astype(np.float32))


def _write(driver: Driver, version: str, seed: int, users: list[str] = USERS) -> None:
    write_model_version(driver, version, _vectors(users, seed), _vectors(ITEMS, seed + 100),
                        model="t", config={}, metrics={})  # fmt: skip


def _slots(driver: Driver, label: str) -> dict[str, dict[str, object]]:
    key = "user_id" if label == "User" else "item_id"
    records = driver.execute_query(SLOT_VALUES.replace("{label}", label).replace("{id}", key))
    return {r["id"]: dict(r) for r in records.records}


def test_versions_alternate_slots_and_reused_slots_are_cleared(graph: Driver) -> None:
    _graph(graph)
    _write(graph, "v1", 1)
    _write(graph, "v2", 2)
    info = active_version(graph)
    assert info is not None and (info.version, info.slot) == ("v2", "b")
    items = _slots(graph, "Item")
    assert {r["va"] for r in items.values()} == {"v1"} and {r["vb"] for r in items.values()} == {
        "v2"
    }
    # u2 is erased and u3 left out of v3: v3 reuses slot a and must leave no v1 vector there.
    graph.execute_query("MATCH (u:User {user_id: 'u2'}) DETACH DELETE u")
    _write(graph, "v3", 3, users=["u1"])
    info = active_version(graph)
    assert info is not None and (info.version, info.slot, info.n_users) == ("v3", "a", 1)
    users = _slots(graph, "User")
    assert users["u1"]["va"] == "v3"
    assert users["u3"]["va"] is None and users["u3"]["a"] is None  # stale v1 value cleared
    assert np.allclose(np.asarray(users["u1"]["a"]), _vectors(["u1"], 3).vectors[0])
    statuses = dict(
        graph.execute_query("MATCH (m:ModelVersion) RETURN m.version, m.status").records
    )
    assert statuses == {"v1": "superseded", "v2": "superseded", "v3": "active"}
    stored, _ = read_version_vectors(graph, "v3")
    assert list(stored.ids) == ["u1"]


def test_switch_queries_touch_only_model_version_nodes() -> None:
    for query in (LOCK_STAGING_VERSION, MARK_SUPERSEDED, ACTIVATE_VERSION):
        labels = set(re.findall(r"\(\s*\w*\s*:\s*(\w+)", query))
        assert labels == {"ModelVersion"}, query
        assert "embedding" not in query


def test_switch_time_does_not_grow_with_the_vectors(graph: Driver) -> None:
    many = [f"j{k}" for k in range(3000)]
    graph.execute_query("UNWIND $ids AS id MERGE (:Item {item_id: id})", ids=many)
    graph.execute_query("MERGE (:User {user_id: 'u1'})")
    rng = np.random.default_rng(5)
    times = []
    for version, n in (("small", 30), ("large", 3000)):
        report = write_version(
            graph, version, _vectors(["u1"], 1),
            NodeVectors(many[:n], rng.standard_normal((n, 64)).astype(np.float32)),
            model="t", config={}, metrics={},
        )  # fmt: skip
        times.append(report.switch_s)
        assert report.items == n
    # 100x the vectors: a switch that copied them would take about 100x as long.
    assert times[1] < max(10 * times[0], 0.25)


def test_failed_write_leaves_the_served_slot_intact(graph: Driver) -> None:
    _graph(graph)
    _write(graph, "v1", 1)
    before = _slots(graph, "Item")
    broken = _vectors(ITEMS, 9)
    broken.vectors[3, 5] = np.nan  # the server refuses non-finite vectors mid-write
    with pytest.raises(EmbeddingWriteError):
        write_model_version(graph, "v2", _vectors(USERS, 8), broken, model="t", config={},
                            metrics={}, batch_size=1)  # fmt: skip
    info = active_version(graph)
    assert info is not None and (info.version, info.slot) == ("v1", "a")
    after = _slots(graph, "Item")
    for item_id, row in after.items():
        assert row["va"] == "v1" and np.array_equal(row["a"], before[item_id]["a"])
        assert row["vb"] is None  # the failed version's values were discarded
    status = graph.execute_query("MATCH (m:ModelVersion {version: 'v2'}) RETURN m.status AS s")
    assert status.records[0]["s"] == "failed"
    _write(graph, "v3", 3)  # the next write-back takes the failed version's slot
    info = active_version(graph)
    assert info is not None and (info.version, info.slot) == ("v3", "b")


def test_reader_with_the_old_pointer_still_reads_the_old_version_whole(graph: Driver) -> None:
    _graph(graph)
    _write(graph, "v1", 1)
    old = active_version(graph)
    assert old is not None
    _write(graph, "v2", 2)  # switches while the reader holds v1
    rows = item_matrix(graph, old.version)
    assert [r["item_id"] for r in rows] == ITEMS
    expected = _vectors(ITEMS, 101).vectors
    assert np.allclose(np.asarray([r["embedding"] for r in rows]), expected)
    new = {r["item_id"]: r["embedding"] for r in item_matrix(graph, "v2")}
    assert np.allclose(np.asarray([new[i] for i in ITEMS]), _vectors(ITEMS, 102).vectors)


def test_incremental_refresh_writes_the_active_slot_only(graph: Driver) -> None:
    _graph(graph)
    _write(graph, "v1", 1)
    _write(graph, "v2", 2)
    fresh = _vectors(["i0"], 50)
    now = datetime.now(UTC)
    write_refreshed_vectors(graph, "v2", NodeVectors([], np.zeros((0, 64))), fresh, now)
    row = _slots(graph, "Item")["i0"]
    assert row["vb"] == "v2" and np.allclose(row["b"], fresh.vectors[0])
    assert row["va"] == "v1" and np.allclose(row["a"], _vectors(ITEMS, 101).vectors[0])
    with pytest.raises(VersionSwitched):  # v1 is no longer served: nothing written
        write_refreshed_vectors(graph, "v1", NodeVectors([], np.zeros((0, 64))), fresh, now)
    assert np.allclose(_slots(graph, "Item")["i0"]["a"], _vectors(ITEMS, 101).vectors[0])
    found = similar_items(graph, "i0", 3)
    assert found.embedded and found.version == "v2" and len(found.items) == 3


OLD_LAYOUT_WRITE = """
UNWIND $rows AS row
MATCH (n:{label} {{key}: row.id})
CALL db.create.setNodeVectorProperty(n, 'embedding', row.vector)
SET n.embedding_version = 'old', n.embedding_updated_at = datetime()
"""


def _to_old_layout(driver: Driver, users: NodeVectors, items: NodeVectors) -> None:
    """What a graph built before 0013 holds: vectors in ``embedding``, one pair of indexes."""
    for name in SLOTS.values():
        for index in (name.user_index, name.item_index):
            driver.execute_query(f"DROP INDEX {index} IF EXISTS")
    folder = Path(__file__).resolve().parents[2] / "migrations"
    (m0009,) = [m for m in load_migrations(folder) if m.version == 9]
    for statement in m0009.statements:
        driver.execute_query(statement)
    driver.execute_query("MATCH (m:SchemaMigration {version: 13}) DELETE m")
    for label, key, vectors in (("User", "user_id", users), ("Item", "item_id", items)):
        rows = [
            {"id": i, "vector": v.tolist()}
            for i, v in zip(vectors.ids, vectors.vectors, strict=True)
        ]
        query = OLD_LAYOUT_WRITE.replace("{label}", label).replace("{key}", key)
        driver.execute_query(query, rows=rows)
    driver.execute_query(
        "CREATE (:ModelVersion {version: 'old', active: true, status: 'active', dims: 64, "
        "model: 't', revision: 0})"
    )


def test_migration_moves_the_served_version_into_slot_a(graph: Driver) -> None:
    _graph(graph)
    users, items = _vectors(USERS, 1), _vectors(ITEMS, 2)
    try:
        _to_old_layout(graph, users, items)
        report = migrate(graph)
        assert [m.version for m in report.applied] == [13]
    finally:
        migrate(graph)  # whatever happened, the session's graph gets its schema back
    info = active_version(graph)
    assert info is not None and (info.version, info.slot) == ("old", "a")
    rows = item_matrix(graph, "old")
    assert np.allclose(np.asarray([r["embedding"] for r in rows]), items.vectors)
    found = similar_items(graph, "i1", 2)
    assert found.embedded and len(found.items) == 2
    left = graph.execute_query(
        "MATCH (n) WHERE n.embedding IS NOT NULL OR n.embedding_version IS NOT NULL "
        "RETURN count(n) AS n"
    ).records[0]["n"]
    assert left == 0
    indexes = {r["name"] for r in graph.execute_query("SHOW INDEXES YIELD name").records}
    assert "item_embedding" not in indexes and "item_embedding_a" in indexes
    _write(graph, "new", 5)  # the next write-back goes to slot b, leaving the served one
    info = active_version(graph)
    assert info is not None and (info.version, info.slot) == ("new", "b")


def test_auto_commit_statements_are_kept_whole_by_the_splitter() -> None:
    text = ":auto MATCH (n) CALL (n) {\n  SET n.x = 1\n} IN TRANSACTIONS OF 10 ROWS;\nRETURN 1;"
    assert split_statements(text)[0].startswith(":auto MATCH (n)")
    assert len(split_statements(text)) == 2
