"""Writing embeddings back to Neo4j, and switching model versions atomically.

A new version is written into the embedding slot the active version does not use
(``graphdb.slots``): first that slot's stale values from an older version are cleared, then
the new vectors go in, both in batches of their own transactions. Nobody reads that slot, so
nothing is staged twice or copied. The switch is one small transaction over
``(:ModelVersion)`` nodes only: it locks the new version, checks it is still ``staging``,
marks the old active one ``superseded`` and sets the new one active with its slot, counts and
watermark. Its size does not grow with the number of vectors.

Readers never see a mix: they read the active version's slot, and the slot they may still be
reading after a switch (the old one) is not touched until the *next* full write-back. A failure
before the switch leaves the served slot and pointer untouched; the failed version's values are
garbage that the next write-back into that slot clears (or the crash clean-up discards).

``rebuild_index=True`` writes the new slot with its vector indexes dropped and builds them
afterwards (waiting until they are ONLINE before the switch): ``bench/writeback.py`` compares
both ways.
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
from graphdb.slot_upkeep import (
    CREATE_INDEX,
    DROP_INDEX,
    await_online,
    clear_slot,
    discard_versions,
)
from graphdb.slots import LABELS, VECTOR_INDEX_NAMES, Slot, other_slot, per_slot

# Each batch writes only while its version is still staging: a writer the crash clean-up
# gave up on stops at its next batch instead of writing over the slot's next user.
_WRITE_VECTORS = """
MATCH (:ModelVersion {version: $version, status: 'staging'})
UNWIND $rows AS row
MATCH (n:{label} {{key}: row.id})
CALL db.create.setNodeVectorProperty(n, '{vector}', row.vector)
SET n.{version} = $version, n.{updated_at} = datetime.transaction()
RETURN count(n) AS n
"""
WRITE_VECTORS: dict[str, dict[str, str]] = {
    label: per_slot(_WRITE_VECTORS, label=label, key=f"{label.lower()}_id") for label in LABELS
}
READ_ACTIVE_SLOT = """
OPTIONAL MATCH (m:ModelVersion {active: true})
RETURN m.version AS version, m.slot AS slot
"""
# A version the crash clean-up already gave up on (``graphdb.abandoned``) is never staged
# again: its writer lost its training lease, and the registry folder may be gone.
CREATE_MODEL_VERSION = """
MERGE (m:ModelVersion {version: $version})
WITH m WHERE coalesce(m.status, '') <> 'abandoned' AND NOT coalesce(m.active, false)
SET m.active = false, m.created_at = datetime(), m.dims = $dims, m.model = $model,
    m.config = $config, m.metrics = $metrics, m.status = 'staging', m.prior_weight = $prior_weight,
    m.writer = $writer, m.slot = $slot
RETURN count(m) AS created
"""
# The switch takes the version's write lock first, then reads its status, so it and the crash
# clean-up (which locks the same node before marking it abandoned) are serialised.
LOCK_STAGING_VERSION = """
MATCH (m:ModelVersion {version: $version})
SET m._lock = true
REMOVE m._lock
RETURN m.status AS status, m.slot AS slot,
       COLLECT { MATCH (a:ModelVersion {active: true}) RETURN a.slot } AS active_slots
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
MARK_FAILED = """
MATCH (m:ModelVersion {version: $version}) WHERE m.status <> 'abandoned'
SET m.status = 'failed', m.error = $error
"""
READ_ACTIVE = """
MATCH (m:ModelVersion {active: true})
RETURN m.version AS version, m.dims AS dims, m.model AS model, m.activated_at AS activated_at,
       m.metrics AS metrics, m.n_users AS n_users, m.n_items AS n_items, m.slot AS slot
"""
READ_INDEX_DIMS = """
SHOW VECTOR INDEXES YIELD name, options
WHERE name IN $names
RETURN name, options.indexConfig['vector.dimensions'] AS dims
"""
log = logging.getLogger(__name__)


class EmbeddingWriteError(RuntimeError):
    """The embeddings could not be written; the previously active version is untouched."""


class SlotTaken(EmbeddingWriteError):
    """Another version was switched active into the slot this one was written to."""


@dataclass(frozen=True)
class ModelVersionInfo:
    version: str
    dims: int
    model: str
    activated_at: datetime | None
    metrics: dict[str, Any]
    n_users: int | None
    n_items: int | None
    slot: str | None = None


@dataclass(frozen=True)
class NodeVectors:
    """Vectors for one label: ``ids[k]`` owns ``vectors[k]`` (float32[n, dims])."""

    ids: Sequence[str]
    vectors: np.ndarray


@dataclass(frozen=True)
class WriteReport:
    """What a full write-back wrote, into which slot, and where its time went (seconds)."""

    users: int
    items: int
    slot: str
    cleared: int
    clear_s: float
    write_s: float
    index_s: float
    switch_s: float


def vector_rows(vectors: NodeVectors, start: int, stop: int) -> list[dict[str, Any]]:
    block = vectors.vectors[start:stop].astype(np.float32).tolist()
    return [{"id": vectors.ids[start + k], "vector": row} for k, row in enumerate(block)]


def _write_tx(tx: ManagedTransaction, query: str, rows: list[dict[str, Any]], version: str) -> int:
    return int(tx.run(query, rows=batch_rows(rows), version=version).single(strict=True)["n"])


def _switch_tx(
    tx: ManagedTransaction, version: str, counts: tuple[int, int], watermark: datetime | None
) -> None:
    lock = tx.run(LOCK_STAGING_VERSION, version=version).single(strict=True)
    if lock["status"] != "staging":
        # Abandoned by the crash clean-up while this writer could not renew its lease: its
        # slot values may be half discarded, so it must not become the served version.
        raise EmbeddingWriteError(f"version {version} is {lock['status']}, no longer staging")
    if lock["slot"] in lock["active_slots"]:
        # Another version was switched into this slot meanwhile: the vectors just written
        # replaced some of its values, so neither may be served as complete.
        raise SlotTaken(f"slot {lock['slot']} was made active by another version")
    tx.run(MARK_SUPERSEDED, version=version).consume()
    tx.run(
        ACTIVATE_VERSION, version=version, n_users=counts[0], n_items=counts[1],
        watermark=watermark,
    ).consume()  # fmt: skip


def index_dimensions(driver: Driver, database: str | None = None) -> dict[str, int]:
    records = driver.execute_query(
        READ_INDEX_DIMS, names=list(VECTOR_INDEX_NAMES), database_=database
    ).records
    return {r["name"]: int(r["dims"]) for r in records if r["dims"] is not None}


def _check_dims(driver: Driver, dims: int, database: str | None) -> None:
    expected = index_dimensions(driver, database)
    wrong = {name: d for name, d in expected.items() if d != dims}
    if wrong or not expected:
        raise EmbeddingWriteError(
            f"embeddings have {dims} dimensions but vector indexes expect {wrong or 'none'}; "
            "add a migration for the new size"
        )


def _target_slot(driver: Driver, database: str | None) -> Slot:
    records = driver.execute_query(READ_ACTIVE_SLOT, database_=database).records
    if records[0]["version"] is not None and records[0]["slot"] is None:
        raise EmbeddingWriteError("the active version names no slot; run `interest-graph migrate`")
    return other_slot(records[0]["slot"])


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
    rebuild_index: bool = False,
) -> tuple[int, int]:
    """Write every vector into the free slot, then switch ``version`` active.

    ``watermark`` is the time of the graph snapshot the vectors were computed from; an
    incremental refresh picks up whatever changed after it. ``prior_weight`` is the weight of
    the popularity prior that readers add to cosine scores (``ml.popularity``). ``writer`` is
    the holder of the training lease (``app.training.recovery``): while it is live, the crash
    clean-up leaves this version's slot values alone.
    """
    report = write_version(
        driver, version, users, items, model=model, config=config, metrics=metrics,
        batch_size=batch_size, watermark=watermark, database=database,
        prior_weight=prior_weight, writer=writer, rebuild_index=rebuild_index,
    )  # fmt: skip
    return report.users, report.items


def write_version(
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
    rebuild_index: bool = False,
) -> WriteReport:
    """:func:`write_model_version`, reporting the slot and each phase's time."""
    dims = int(users.vectors.shape[1])
    _check_dims(driver, dims, database)
    target = _target_slot(driver, database)
    created = driver.execute_query(
        CREATE_MODEL_VERSION, version=version, dims=dims, model=model,
        config=json.dumps(dict(config), sort_keys=True, default=str),
        metrics=json.dumps(dict(metrics), sort_keys=True), prior_weight=float(prior_weight),
        writer=writer, slot=target.name, database_=database,
    ).records[0]["created"]  # fmt: skip
    if not created:
        raise EmbeddingWriteError(
            f"version {version} was abandoned by the crash clean-up, or is the active one"
        )
    try:
        with causal_session(driver, database) as session:
            return _fill_and_switch(
                session, version, target, (users, items), batch_size, watermark, rebuild_index
            )
    except Exception as exc:
        _fail(driver, version, target, exc, database)
        raise EmbeddingWriteError(f"writing model version {version} failed: {exc}") from exc


def _fill_and_switch(
    session: Session,
    version: str,
    target: Slot,
    vectors: tuple[NodeVectors, NodeVectors],
    batch_size: int,
    watermark: datetime | None,
    rebuild_index: bool,
) -> WriteReport:
    started = time.perf_counter()
    if rebuild_index:  # the slot is nobody's: its indexes can go while it is refilled
        for statement in DROP_INDEX[target.name]:
            session.run(statement).consume()
    cleared = clear_slot(session, target, batch_size)
    cleared_at = time.perf_counter()
    counts = tuple(
        _write_label(session, WRITE_VECTORS[label][target.name], nodes, batch_size, version)
        for label, nodes in zip(LABELS, vectors, strict=True)
    )
    written_at = time.perf_counter()
    if rebuild_index:
        for statement in CREATE_INDEX[target.name]:
            session.run(statement).consume()
    await_online(session, target)
    indexed_at = time.perf_counter()
    session.execute_write(_switch_tx, version, (counts[0], counts[1]), watermark)
    report = WriteReport(
        users=counts[0], items=counts[1], slot=target.name, cleared=cleared,
        clear_s=cleared_at - started, write_s=written_at - cleared_at,
        index_s=indexed_at - written_at, switch_s=time.perf_counter() - indexed_at,
    )  # fmt: skip
    log.info("version %s into slot %s: %s", version, target.name, report)
    return report


def _write_label(
    session: Session, query: str, vectors: NodeVectors, batch_size: int, version: str
) -> int:
    written = 0
    for start in range(0, len(vectors.ids), batch_size):
        rows = vector_rows(vectors, start, start + batch_size)
        # A batch of a version that stopped staging writes nothing; the switch then refuses.
        written += session.execute_write(_write_tx, query, rows, version)
    return written


def _fail(driver: Driver, version: str, target: Slot, exc: Exception, db: str | None) -> None:
    try:
        driver.execute_query(MARK_FAILED, version=version, error=str(exc)[:500], database_=db)
        if isinstance(exc, SlotTaken):
            return  # the slot is served now: its values are that version's, not garbage
        with causal_session(driver, db) as session:
            discard_versions(session, [version])
        for statement in CREATE_INDEX[target.name]:  # a rebuild cut short left none
            driver.execute_query(statement, database_=db)
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
        slot=r["slot"],
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
        """Write every vector into the free slot, then switch ``version`` active."""
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
