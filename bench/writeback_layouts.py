"""How fast this machine can put a model version's vectors into Neo4j, layout by layout.

``bench/writeback.py`` times the product's write-back: stage every vector, then switch them
into the indexed ``embedding`` property in one transaction. This module bounds what any other
layout could reach with the same vectors on the same server, so the gap to a target can be
read as "the layout" or "the machine":

- ``unindexed``: every vector into a property no index covers, in batches of 1,000 from one
  session. Nothing a write-back does can be cheaper; it is the ceiling of this machine.
- ``indexed``: the same into a property with its own vector indexes (migration 0009's
  settings), as a second "slot" written in batches would be; first into empty indexes, then
  replacing every vector.
- ``indexed_2_sessions``: a replacement again from two sessions at once, one half each.

Each replacement writes every node another node's vector (the rows shifted by one, then by
two): Neo4j skips the index update when a property is set to the value it already holds, so
writing the same vectors again would time nothing.

The probe properties and indexes are dropped afterwards.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from neo4j import Driver, ManagedTransaction

from graphdb.embeddings import NodeVectors, vector_rows
from graphdb.params import batch_rows

BATCH = 1000
PROBE_INDEX_OPTIONS = (
    "OPTIONS {indexConfig: {`vector.dimensions`: 64, `vector.similarity_function`: 'cosine', "
    "`vector.quantization.enabled`: false, `vector.hnsw.m`: 16, "
    "`vector.hnsw.ef_construction`: 64}}"
)
CREATE_PROBE_INDEXES = (
    "CREATE VECTOR INDEX probe_user_embedding IF NOT EXISTS FOR (u:User) ON u.embedding_probe "
    + PROBE_INDEX_OPTIONS,
    "CREATE VECTOR INDEX probe_item_embedding IF NOT EXISTS FOR (i:Item) ON i.embedding_probe "
    + PROBE_INDEX_OPTIONS,
    "CALL db.awaitIndexes(300)",
)
DROP_PROBE_INDEXES = (
    "DROP INDEX probe_user_embedding IF EXISTS",
    "DROP INDEX probe_item_embedding IF EXISTS",
)
WRITE_USER_PROBE = """
UNWIND $rows AS row
MATCH (n:User {user_id: row.id})
CALL db.create.setNodeVectorProperty(n, $property, row.vector)
"""
WRITE_ITEM_PROBE = """
UNWIND $rows AS row
MATCH (n:Item {item_id: row.id})
CALL db.create.setNodeVectorProperty(n, $property, row.vector)
"""
REMOVE_PROBES = """
MATCH (n) WHERE n:User OR n:Item
CALL (n) { REMOVE n.embedding_probe, n.embedding_plain } IN TRANSACTIONS OF 10000 ROWS
"""
AWAIT_INDEXES = "CALL db.awaitIndexes(600)"

Part = tuple[str, NodeVectors, int, int]


def _write_tx(tx: ManagedTransaction, query: str, rows: list[dict[str, Any]], prop: str) -> None:
    tx.run(query, rows=batch_rows(rows), property=prop).consume()


def _write_part(driver: Driver, prop: str, part: Part) -> None:
    query, vectors, start, stop = part
    with driver.session() as session:
        for first in range(start, stop, BATCH):
            rows = vector_rows(vectors, first, min(first + BATCH, stop))
            session.execute_write(_write_tx, query, rows, prop)


def _parts(users: NodeVectors, items: NodeVectors, sessions: int) -> list[list[Part]]:
    """Users then items, each label split into ``sessions`` contiguous ranges."""
    waves = []
    for query, vectors in ((WRITE_USER_PROBE, users), (WRITE_ITEM_PROBE, items)):
        n = len(vectors.ids)
        step = -(-n // sessions)
        waves.append([(query, vectors, s, min(s + step, n)) for s in range(0, n, step)])
    return waves


def timed_write(
    driver: Driver, prop: str, users: NodeVectors, items: NodeVectors, sessions: int
) -> float:
    """Vectors per second writing every vector into ``prop`` from ``sessions`` sessions."""
    started = time.perf_counter()
    for wave in _parts(users, items, sessions):
        threads = [threading.Thread(target=_write_part, args=(driver, prop, p)) for p in wave]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    driver.execute_query(AWAIT_INDEXES)
    return (len(users.ids) + len(items.ids)) / (time.perf_counter() - started)


def shifted(vectors: NodeVectors, by: int) -> NodeVectors:
    """The same vectors handed to other nodes: node ``k`` gets node ``k + by``'s vector."""
    return NodeVectors(ids=vectors.ids, vectors=np.roll(vectors.vectors, -by, axis=0))


def measure_layouts(
    driver: Driver, users: NodeVectors, items: NodeVectors, log: Callable[[str], None] = print
) -> dict[str, float]:
    """Vectors per second of each layout (see the module docstring)."""
    for statement in CREATE_PROBE_INDEXES:
        driver.execute_query(statement)
    try:
        rates = {
            "writeback_ceiling_unindexed_per_s": timed_write(
                driver, "embedding_plain", users, items, 1
            ),
            "writeback_batched_indexed_first_per_s": timed_write(
                driver, "embedding_probe", users, items, 1
            ),
            "writeback_batched_indexed_replace_per_s": timed_write(
                driver, "embedding_probe", shifted(users, 1), shifted(items, 1), 1
            ),
            "writeback_batched_indexed_2_sessions_per_s": timed_write(
                driver, "embedding_probe", shifted(users, 2), shifted(items, 2), 2
            ),
        }
        for name, rate in rates.items():
            log(f"{name}: {rate:,.0f}/s")
        return rates
    finally:
        for statement in DROP_PROBE_INDEXES:
            driver.execute_query(statement)
        with driver.session() as session:
            session.run(REMOVE_PROBES).consume()
