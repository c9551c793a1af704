"""What changed since a refresh watermark, and writing refreshed embeddings in place.

An incremental refresh keeps the active model's weights and re-embeds only the nodes a change
reaches. The graph side's part is to say *what* changed since the watermark (users whose
edges moved, items whose edges or content moved, users that were erased) and to write the new
vectors of the active version back into its own slot (``graphdb.slots``), advancing the
watermark only in the last transaction: a run that dies part-way leaves the watermark where
it was, so the next run redoes the work. Vectors written by a dead run are still correct
embeddings of the same model version for the graph as it then was, so readers never see a
vector from another model.

Watermarks use the writers' ``datetime.transaction()``; a writer whose transaction started
before the watermark was read may commit after it, so changes are read with an overlap and
re-reading a change is harmless (a user's whole edge list is replaced).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from neo4j import Driver, ManagedTransaction

from graphdb.area import StoreArea
from graphdb.driver import causal_session
from graphdb.embeddings import NodeVectors, vector_rows
from graphdb.params import batch_rows
from graphdb.slots import LABELS, per_slot, slot_of
from graphdb.snapshot import INTEREST_FEATURE, READ_CLOCK

READ_CHANGED_USERS = (
    """
MATCH (u:User) WHERE u.changed_at > $lower
RETURN u.user_id AS user_id, u.changed_at > $since AS fresh,
       COLLECT { MATCH (u)-[r:INTERACTED]->(i:Item)
                 RETURN [i.item_id, r.weight, r.last_ts.epochMillis] } AS edges,
       COLLECT { MATCH (u)-[r:INTERESTED_IN]->(t) WHERE r.weight > 0
                 WITH r, """
    + INTEREST_FEATURE
    + """ AS feature
                 WHERE feature IS NOT NULL
                 RETURN [feature, r.weight, r.last_ts.epochMillis] } AS interests
"""
)
READ_CHANGED_ITEMS = """
MATCH (i:Item) WHERE i.changed_at > $lower
RETURN i.item_id AS item_id, i.changed_at > $since AS fresh,
       COLLECT { MATCH (i)-[:IN_CATEGORY]->(:Category)-[:SUBCATEGORY_OF*0..]->(c:Category)
                 RETURN DISTINCT 'category:' + c.category_id } +
       COLLECT { MATCH (i)-[:BY_BRAND]->(b:Brand) RETURN 'brand:' + b.brand_id } +
       COLLECT { MATCH (i)-[:HAS_TAG]->(t:Tag) RETURN 'tag:' + t.tag_id } AS features,
       i.text_embedding AS text
"""
COUNT_CHANGED = """
CALL () { MATCH (u:User) WHERE u.changed_at > $since RETURN count(u) AS users }
CALL () { MATCH (i:Item) WHERE i.changed_at > $since RETURN count(i) AS items }
RETURN users + items AS n
"""
READ_USER_IDS = "MATCH (u:User) RETURN collect(u.user_id) AS ids"
READ_REFRESH_STATE = """
MATCH (m:ModelVersion {active: true})
RETURN m.version AS version, m.model AS model, m.watermark AS watermark,
       coalesce(m.revision, 0) AS revision
"""
_READ_VECTORS = """
MATCH (n:{label}) WHERE n.{version} = $version
RETURN n.{key} AS id, n.{vector} AS vector
"""
READ_VECTORS = {
    label: per_slot(_READ_VECTORS, label=label, key=f"{label.lower()}_id") for label in LABELS
}
VERSION_SLOT = """
MATCH (m:ModelVersion {version: $version})
RETURN m.slot AS slot, coalesce(m.active, false) AS active
"""
# Into the active version's own slot, and only while it is active: a batch that runs after a
# full write-back switched away writes nothing into a slot the next write-back will reuse.
_REFRESH_VECTORS = """
MATCH (:ModelVersion {version: $version, active: true})
UNWIND $rows AS row
MATCH (n:{label} {{key}: row.id})
CALL db.create.setNodeVectorProperty(n, '{vector}', row.vector)
SET n.{version} = $version, n.{updated_at} = datetime.transaction()
"""
REFRESH_VECTORS = {
    label: per_slot(_REFRESH_VECTORS, label=label, key=f"{label.lower()}_id") for label in LABELS
}
# Only if the version is still the active one: a full retrain may have switched meanwhile.
ADVANCE_WATERMARK = """
MATCH (m:ModelVersion {version: $version, active: true})
SET m.watermark = $watermark, m.refreshed_at = datetime.transaction(),
    m.revision = coalesce(m.revision, 0) + CASE WHEN $written > 0 THEN 1 ELSE 0 END
RETURN m.revision AS revision
"""


class VersionSwitched(RuntimeError):
    """The active model version changed while a refresh was writing; its work is void."""


@dataclass(frozen=True)
class RefreshState:
    """The active version and how far incremental refreshes have brought it."""

    version: str
    model: str
    watermark: datetime | None
    revision: int


@dataclass(frozen=True)
class UserEdges:
    """The complete current edge list of one changed user (raw weights, own last_ts)."""

    user_id: str
    item_ids: list[str]
    weights: np.ndarray  # float64, stored at each edge's own last_ts
    last_ms: np.ndarray  # int64
    interest_features: list[str] = field(default_factory=list)  # 'category:<id>', ...
    interest_weights: np.ndarray = field(default_factory=lambda: np.zeros(0))  # own last_ts
    interest_ms: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


@dataclass(frozen=True)
class GraphChanges:
    """Everything that changed after ``since``, read in one transaction at ``as_of``."""

    as_of: datetime
    users: list[UserEdges]
    item_features: dict[str, list[str]]
    user_ids: set[str]  # every user that exists now (erased users are missing)
    fresh: int = 0  # users and items changed after ``since`` itself (not just the overlap)
    item_text: dict[str, np.ndarray | None] = field(default_factory=dict)  # changed items


def _user_edges(record: dict[str, Any]) -> UserEdges:
    edges, interests = record["edges"], record.get("interests") or []
    return UserEdges(
        user_id=record["user_id"],
        item_ids=[e[0] for e in edges],
        weights=np.asarray([e[1] for e in edges], dtype=np.float64),
        last_ms=np.asarray([e[2] for e in edges], dtype=np.int64),
        interest_features=[e[0] for e in interests],
        interest_weights=np.asarray([e[1] for e in interests], dtype=np.float64),
        interest_ms=np.asarray([e[2] for e in interests], dtype=np.int64),
    )


def read_changes_tx(tx: ManagedTransaction, since: datetime, overlap_s: float) -> GraphChanges:
    as_of = tx.run(READ_CLOCK).single(strict=True)["now"].to_native()
    lower = since - timedelta(seconds=overlap_s)
    user_rows = [r.data() for r in tx.run(READ_CHANGED_USERS, since=since, lower=lower)]
    item_rows = [r.data() for r in tx.run(READ_CHANGED_ITEMS, since=since, lower=lower)]
    ids = tx.run(READ_USER_IDS).single(strict=True)["ids"]
    return GraphChanges(
        as_of=as_of,
        users=[_user_edges(r) for r in user_rows],
        item_features={r["item_id"]: list(r["features"]) for r in item_rows},
        user_ids=set(ids),
        fresh=sum(1 for r in user_rows + item_rows if r["fresh"]),
        item_text={
            r["item_id"]: None if r["text"] is None else np.asarray(r["text"], np.float32)
            for r in item_rows
        },
    )


def read_changes(
    driver: Driver, since: datetime, overlap_s: float = 60.0, database: str | None = None
) -> GraphChanges:
    """Users and items changed after ``since - overlap_s``, and the ids of all users."""
    with causal_session(driver, database) as session:
        return session.execute_read(read_changes_tx, since, overlap_s)


def count_changes(driver: Driver, since: datetime, database: str | None = None) -> int:
    """How many users and items changed after ``since`` (range-indexed, no data read)."""
    records = driver.execute_query(COUNT_CHANGED, since=since, database_=database).records
    return int(records[0]["n"])


def read_refresh_state(driver: Driver, database: str | None = None) -> RefreshState | None:
    """The active version with its watermark, or ``None`` before the first training."""
    records = driver.execute_query(READ_REFRESH_STATE, database_=database).records
    if not records:
        return None
    r = records[0]
    watermark = r["watermark"].to_native() if r["watermark"] is not None else None
    return RefreshState(r["version"], r["model"], watermark, int(r["revision"]))


def _read_vectors_tx(tx: ManagedTransaction, query: str, version: str) -> NodeVectors:
    ids, vectors = [], []
    for record in tx.run(query, version=version):
        ids.append(record["id"])
        vectors.append(record["vector"])
    return NodeVectors(ids, np.asarray(vectors, dtype=np.float32).reshape(len(ids), -1))


def read_version_vectors(
    driver: Driver, version: str, database: str | None = None
) -> tuple[NodeVectors, NodeVectors]:
    """The stored ``(user, item)`` vectors of ``version`` (read from its slot)."""
    name = _version_slot(driver, version, database)[0]
    if name is None:
        raise ValueError(f"model version {version} has no embedding slot")
    with causal_session(driver, database) as session:
        users = session.execute_read(_read_vectors_tx, READ_VECTORS["User"][name], version)
        items = session.execute_read(_read_vectors_tx, READ_VECTORS["Item"][name], version)
    return users, items


def _version_slot(driver: Driver, version: str, database: str | None) -> tuple[str | None, bool]:
    records = driver.execute_query(VERSION_SLOT, version=version, database_=database).records
    if not records or records[0]["slot"] is None:
        return None, False
    return slot_of(records[0]["slot"]).name, bool(records[0]["active"])


def _write_tx(tx: ManagedTransaction, query: str, rows: list[dict[str, Any]], version: str) -> None:
    tx.run(query, rows=batch_rows(rows), version=version).consume()


def _advance_tx(tx: ManagedTransaction, version: str, watermark: datetime, written: int) -> int:
    query = ADVANCE_WATERMARK
    record = tx.run(query, version=version, watermark=watermark, written=written).single()
    if record is None:
        raise VersionSwitched(f"model version {version} is no longer active")
    return int(record["revision"])


def write_refreshed_vectors(
    driver: Driver,
    version: str,
    users: NodeVectors,
    items: NodeVectors,
    watermark: datetime,
    *,
    batch_size: int = 2000,
    writers: int = 2,
    after_batch: Callable[[int], None] | None = None,
    database: str | None = None,
) -> int:
    """Writes refreshed vectors of the active ``version`` in place, then the watermark.

    Args:
        driver: The process's driver.
        version: The active version the vectors belong to.
        users: Refreshed user vectors.
        items: Refreshed item vectors.
        watermark: The ``as_of`` of the changes these vectors include.
        batch_size: Rows per write transaction.
        writers: Concurrent write transactions (vector-index upkeep dominates their cost and
            overlaps across transactions; batches touch disjoint nodes, so they never wait on
            each other's locks).
        after_batch: Called with the number of rows written so far after each batch (progress,
            lease renewal).
        database: Neo4j database.

    Returns:
        The version's refresh revision (bumped when anything was written, so API workers
        reload the item vectors that moved).

    Raises:
        VersionSwitched: ``version`` stopped being active; the watermark did not move.
    """
    name, active = _version_slot(driver, version, database)
    if name is None or not active:
        raise VersionSwitched(f"model version {version} is no longer active")
    jobs = [
        (REFRESH_VECTORS[label][name], vector_rows(vectors, start, start + batch_size))
        for label, vectors in (("User", users), ("Item", items))
        for start in range(0, len(vectors.ids), batch_size)
    ]
    written = 0

    def write(job: tuple[str, list[dict[str, Any]]]) -> int:
        with causal_session(driver, database) as session:
            session.execute_write(_write_tx, job[0], job[1], version)
        return len(job[1])

    with ThreadPoolExecutor(max_workers=max(writers, 1)) as pool:
        for rows in pool.map(write, jobs):  # re-raises the first failure, in order
            written += rows
            if after_batch is not None:
                after_batch(written)
    with causal_session(driver, database) as session:
        return session.execute_write(_advance_tx, version, watermark, written)


class Changes(StoreArea):
    """The store's changes operations, bound to its driver and database."""

    def read_changes(self, since: datetime, overlap_s: float = 60.0) -> GraphChanges:
        """Users and items changed after ``since - overlap_s``, and the ids of all users."""
        return read_changes(self.driver, since, overlap_s, database=self.database)

    def count_changes(self, since: datetime) -> int:
        """How many users and items changed after ``since`` (range-indexed, no data read)."""
        return count_changes(self.driver, since, database=self.database)

    def read_refresh_state(self) -> RefreshState | None:
        """The active version with its watermark, or ``None`` before the first training."""
        return read_refresh_state(self.driver, database=self.database)

    def read_version_vectors(self, version: str) -> tuple[NodeVectors, NodeVectors]:
        """The stored ``(user, item)`` vectors of ``version``."""
        return read_version_vectors(self.driver, version, database=self.database)

    def write_refreshed_vectors(
        self,
        version: str,
        users: NodeVectors,
        items: NodeVectors,
        watermark: datetime,
        *,
        batch_size: int = 2000,
        writers: int = 2,
        after_batch: Callable[[int], None] | None = None,
    ) -> int:
        """Writes refreshed vectors of the active ``version`` in place, then the watermark."""
        return write_refreshed_vectors(
            self.driver,
            version,
            users,
            items,
            watermark,
            batch_size=batch_size,
            writers=writers,
            after_batch=after_batch,
            database=self.database,
        )
