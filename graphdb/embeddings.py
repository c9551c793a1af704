"""Writing embeddings back to Neo4j, and switching model versions atomically.

A new version is first *staged*: vectors go to ``embedding_staged`` in batches, which no
reader looks at. Only when every batch is in does one transaction copy the staged vectors
to ``embedding`` (the vector-indexed property), stamp ``embedding_version`` and flip the
``(:ModelVersion {active})`` pointer. A failure anywhere before that commit leaves the
previous version's embeddings and pointer exactly as they were, so readers never see a
mix of two versions.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from neo4j import Driver, ManagedTransaction, Session

from graphdb.area import StoreArea
from graphdb.driver import causal_session
from graphdb.params import batch_rows

STAGE_USER_VECTORS = """
UNWIND $rows AS row
MATCH (n:User {user_id: row.id})
CALL db.create.setNodeVectorProperty(n, 'embedding_staged', row.vector)
SET n.staged_version = $version
"""
STAGE_ITEM_VECTORS = """
UNWIND $rows AS row
MATCH (n:Item {item_id: row.id})
CALL db.create.setNodeVectorProperty(n, 'embedding_staged', row.vector)
SET n.staged_version = $version
"""
# A version the crash clean-up already gave up on (``graphdb.abandoned``) is never staged
# again: its writer lost its training lease, and the registry folder may be gone.
CREATE_MODEL_VERSION = """
MERGE (m:ModelVersion {version: $version})
WITH m WHERE coalesce(m.status, '') <> 'abandoned'
SET m.active = false, m.created_at = datetime(), m.dims = $dims, m.model = $model,
    m.config = $config, m.metrics = $metrics, m.status = 'staging', m.prior_weight = $prior_weight,
    m.writer = $writer
RETURN count(m) AS created
"""
# The switch takes the version's write lock first, then reads its status, so it and the crash
# clean-up (which locks the same node before marking it abandoned) are serialised.
LOCK_STAGING_VERSION = """
MATCH (m:ModelVersion {version: $version})
SET m._lock = true
REMOVE m._lock
RETURN m.status AS status
"""
PROMOTE_STAGED_USERS = """
MATCH (n:User) WHERE n.staged_version = $version
SET n.embedding = n.embedding_staged, n.embedding_version = $version,
    n.embedding_updated_at = datetime.transaction()
REMOVE n.embedding_staged, n.staged_version
RETURN count(n) AS n
"""
PROMOTE_STAGED_ITEMS = """
MATCH (n:Item) WHERE n.staged_version = $version
SET n.embedding = n.embedding_staged, n.embedding_version = $version,
    n.embedding_updated_at = datetime.transaction()
REMOVE n.embedding_staged, n.staged_version
RETURN count(n) AS n
"""
# The version served until now says so, and by which one, in the same switch.
MARK_SUPERSEDED = """
MATCH (m:ModelVersion {active: true}) WHERE m.version <> $version
SET m.status = 'superseded', m.superseded_at = datetime.transaction(), m.superseded_by = $version
"""
ACTIVATE_VERSION = """
MATCH (m:ModelVersion)
SET m.active = (m.version = $version)
WITH m WHERE m.version = $version
SET m.activated_at = datetime.transaction(), m.status = 'active',
    m.n_users = $n_users, m.n_items = $n_items, m.watermark = $watermark, m.revision = 0
"""
DISCARD_STAGED = """
MATCH (n) WHERE (n:User OR n:Item) AND n.staged_version = $version
REMOVE n.embedding_staged, n.staged_version
"""
MARK_FAILED = """
MATCH (m:ModelVersion {version: $version}) WHERE m.status <> 'abandoned'
SET m.status = 'failed', m.error = $error
"""
READ_ACTIVE = """
MATCH (m:ModelVersion {active: true})
RETURN m.version AS version, m.dims AS dims, m.model AS model, m.activated_at AS activated_at,
       m.metrics AS metrics, m.n_users AS n_users, m.n_items AS n_items
"""
READ_INDEX_DIMS = """
SHOW VECTOR INDEXES YIELD name, options
WHERE name IN ['user_embedding', 'item_embedding']
RETURN name, options.indexConfig['vector.dimensions'] AS dims
"""

log = logging.getLogger(__name__)


class EmbeddingWriteError(RuntimeError):
    """The embeddings could not be written; the previously active version is untouched."""


@dataclass(frozen=True)
class ModelVersionInfo:
    version: str
    dims: int
    model: str
    activated_at: datetime | None
    metrics: dict[str, Any]
    n_users: int | None
    n_items: int | None


@dataclass(frozen=True)
class NodeVectors:
    """Vectors for one label: ``ids[k]`` owns ``vectors[k]`` (float32[n, dims])."""

    ids: Sequence[str]
    vectors: np.ndarray


def vector_rows(vectors: NodeVectors, start: int, stop: int) -> list[dict[str, Any]]:
    block = vectors.vectors[start:stop].astype(np.float32).tolist()
    return [{"id": vectors.ids[start + k], "vector": row} for k, row in enumerate(block)]


def _stage_tx(tx: ManagedTransaction, query: str, rows: list[dict[str, Any]], version: str) -> None:
    tx.run(query, rows=batch_rows(rows), version=version).consume()


def _promote_tx(
    tx: ManagedTransaction, version: str, watermark: datetime | None
) -> tuple[int, int]:
    status = tx.run(LOCK_STAGING_VERSION, version=version).single(strict=True)["status"]
    if status != "staging":
        # Abandoned by the crash clean-up while this writer could not renew its lease: its
        # staged vectors may be half discarded, so it must not become the served version.
        raise EmbeddingWriteError(f"version {version} is {status}, no longer staging")
    users = tx.run(PROMOTE_STAGED_USERS, version=version).single(strict=True)["n"]
    items = tx.run(PROMOTE_STAGED_ITEMS, version=version).single(strict=True)["n"]
    tx.run(MARK_SUPERSEDED, version=version).consume()
    tx.run(
        ACTIVATE_VERSION, version=version, n_users=users, n_items=items, watermark=watermark
    ).consume()
    return int(users), int(items)


def index_dimensions(driver: Driver, database: str | None = None) -> dict[str, int]:
    records = driver.execute_query(READ_INDEX_DIMS, database_=database).records
    return {r["name"]: int(r["dims"]) for r in records if r["dims"] is not None}


def _check_dims(driver: Driver, dims: int, database: str | None) -> None:
    expected = index_dimensions(driver, database)
    wrong = {name: d for name, d in expected.items() if d != dims}
    if wrong:
        raise EmbeddingWriteError(
            f"embeddings have {dims} dimensions but vector indexes expect {wrong}; "
            "add a migration for the new size"
        )


def write_model_version(
    driver: Driver,
    version: str,
    users: NodeVectors,
    items: NodeVectors,
    *,
    model: str,
    config: Mapping[str, Any],
    metrics: Mapping[str, float],
    batch_size: int = 5000,
    watermark: datetime | None = None,
    database: str | None = None,
    prior_weight: float = 0.0,
    writer: str | None = None,
) -> tuple[int, int]:
    """Stage every vector, then switch ``version`` active in one transaction.

    ``watermark`` is the time of the graph snapshot the vectors were computed from; an
    incremental refresh picks up whatever changed after it. ``prior_weight`` is the weight of
    the popularity prior that readers add to cosine scores (``ml.popularity``). ``writer`` is
    the holder of the training lease (``app.training.recovery``): while it is live, the crash
    clean-up leaves this version's staged vectors alone.
    """
    dims = int(users.vectors.shape[1])
    _check_dims(driver, dims, database)
    created = driver.execute_query(
        CREATE_MODEL_VERSION, version=version, dims=dims, model=model,
        config=json.dumps(dict(config), sort_keys=True, default=str),
        metrics=json.dumps(dict(metrics), sort_keys=True), prior_weight=float(prior_weight),
        writer=writer, database_=database,
    ).records[0]["created"]  # fmt: skip
    if not created:
        raise EmbeddingWriteError(f"version {version} was abandoned by the crash clean-up")
    try:
        with causal_session(driver, database) as session:
            return _stage_and_switch(session, version, users, items, batch_size, watermark)
    except Exception as exc:
        _discard(driver, version, exc, database)
        raise EmbeddingWriteError(f"writing model version {version} failed: {exc}") from exc


def _stage_and_switch(
    session: Session,
    version: str,
    users: NodeVectors,
    items: NodeVectors,
    batch_size: int,
    watermark: datetime | None,
) -> tuple[int, int]:
    started = time.perf_counter()
    for query, vectors in ((STAGE_USER_VECTORS, users), (STAGE_ITEM_VECTORS, items)):
        for start in range(0, len(vectors.ids), batch_size):
            rows = vector_rows(vectors, start, start + batch_size)
            session.execute_write(_stage_tx, query, rows, version)
    staged = time.perf_counter()
    written = session.execute_write(_promote_tx, version, watermark)
    # The switch is where Neo4j updates the vector indexes: the costly phase.
    log.info(
        "version %s: staged %d vectors in %.1fs, switched in %.1fs",
        version, len(users.ids) + len(items.ids), staged - started, time.perf_counter() - staged,
    )  # fmt: skip
    return written


def _discard(driver: Driver, version: str, exc: Exception, database: str | None) -> None:
    try:
        driver.execute_query(DISCARD_STAGED, version=version, database_=database)
        driver.execute_query(MARK_FAILED, version=version, error=str(exc)[:500], database_=database)
    except Exception:  # best effort: the graph may be the very thing that failed
        pass


def active_version(driver: Driver, database: str | None = None) -> ModelVersionInfo | None:
    record = driver.execute_query(READ_ACTIVE, database_=database).records
    if not record:
        return None
    r = record[0]
    activated = r["activated_at"].to_native() if r["activated_at"] is not None else None
    return ModelVersionInfo(
        version=r["version"], dims=int(r["dims"]), model=r["model"], activated_at=activated,
        metrics=json.loads(r["metrics"] or "{}"), n_users=r["n_users"], n_items=r["n_items"],
    )  # fmt: skip


class Embeddings(StoreArea):
    """The store's embeddings operations, bound to its driver and database."""

    def index_dimensions(self) -> dict[str, int]:
        return index_dimensions(self.driver, database=self.database)

    def write_model_version(
        self,
        version: str,
        users: NodeVectors,
        items: NodeVectors,
        *,
        model: str,
        config: Mapping[str, Any],
        metrics: Mapping[str, float],
        batch_size: int = 5000,
        watermark: datetime | None = None,
        prior_weight: float = 0.0,
        writer: str | None = None,
    ) -> tuple[int, int]:
        """Stage every vector, then switch ``version`` active in one transaction."""
        return write_model_version(
            self.driver,
            version,
            users,
            items,
            model=model,
            config=config,
            metrics=metrics,
            batch_size=batch_size,
            watermark=watermark,
            prior_weight=prior_weight,
            writer=writer,
            database=self.database,
        )

    def active_version(self) -> ModelVersionInfo | None:
        return active_version(self.driver, database=self.database)
