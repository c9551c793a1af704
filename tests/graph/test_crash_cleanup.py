"""The crash clean-up leaves a live training's work alone and takes back a dead one's.

A killed training is simulated here by a training lease nobody renews and a stepped clock
(``tests/graph/test_training_killed.py`` kills real processes); this file shows the
distinctions a kill test cannot: live against dead writers, versions the gate kept, and a
writer cut off too long that comes back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import torch
from neo4j import Driver

from app.settings import load_settings
from app.training.recovery import clean_up_after_crashes
from app.worker.scheduler import Worker
from graphdb.embeddings import EmbeddingWriteError, NodeVectors, write_model_version
from graphdb.lease import Lease
from graphdb.recovery import training_lease_name
from graphdb.store import GraphStore
from ml.registry import ModelRegistry, ModelShape
from ml.train import TrainConfig, build_model
from tests.conftest import Neo4jTestServer
from tests.worker.test_lease import SteppedClock

TTL_S = 5.0
STAGED = (
    "MATCH (n) WHERE n.embedding_version_a = $version OR n.embedding_version_b = $version "
    "RETURN count(n) AS n"
)
STAGE_BY_HAND = """
CREATE (:ModelVersion {version: $version, status: 'staging', active: false, writer: $writer,
                       slot: 'b'})
WITH 1 AS one
MATCH (n) WHERE n:User OR n:Item
SET n.embedding_b = [x IN range(1, 64) | 1.0], n.embedding_version_b = $version
"""


def _save(registry: ModelRegistry, writer: str | None) -> str:
    config = TrainConfig(model="lightgcn", dim=4)
    model = build_model(config, 2, 2, 0, torch.device("cpu"))
    return registry.save(model, config, ModelShape(2, 2, 0), {}, "fp", writer=writer)


def _writer(store: GraphStore, name: str, clock: SteppedClock) -> str:
    """A training that took its lease (and will be killed: nobody renews it)."""
    holder = f"host:{name}:0"
    assert Lease(store.leases, training_lease_name(holder), TTL_S, holder, clock).acquire()
    return holder


def _staged(graph: Driver, version: str) -> int:
    return int(graph.execute_query(STAGED, version=version).records[0]["n"])


def test_a_live_training_is_left_alone_and_a_dead_one_taken_back_at_worker_start(
    graph: Driver, neo4j_server: Neo4jTestServer, tmp_path: Path
) -> None:
    store = GraphStore(graph, neo4j_server.target.database)
    graph.execute_query("UNWIND ['u1', 'u2'] AS id MERGE (:User {user_id: id})")
    registry = ModelRegistry(tmp_path / "models")
    clock = SteppedClock(datetime(2026, 1, 1, tzinfo=UTC))
    writer = _writer(store, "killed", clock)
    saved = _save(registry, writer)  # saved, then staged, then killed
    graph.execute_query(STAGE_BY_HAND, version=saved, writer=writer)
    half_saved = registry.versions_dir / f".staging@{writer}@x1"  # a second one, mid-save
    half_saved.mkdir()
    kept = _save(registry, _writer(store, "finished", clock))
    registry.note_outcome(kept, "kept", "the serving version scored better")
    unknown = _save(registry, None)  # saved before writers were noted

    assert not clean_up_after_crashes(store, registry, clock)  # the writer is live
    assert registry.versions() == [saved, kept, unknown] and half_saved.exists()
    assert _staged(graph, saved) == 2

    clock.step(TTL_S + 1)  # its lease was not renewed: the training is dead
    settings = load_settings(
        neo4j_uri=neo4j_server.target.uri, model_dir=registry.root, lease_ttl_s=TTL_S
    )
    assert Worker(settings, store=store, clock=clock).hold_lease()  # the worker starts
    assert registry.versions() == [kept, unknown] and not half_saved.exists()
    assert _staged(graph, saved) == 0
    assert store.recovery.version_statuses() == {saved: "abandoned"}
    # Cut off, not dead after all: the abandoned version can never be staged again.
    dims = store.embeddings.index_dimensions()["user_embedding_a"]
    vectors = NodeVectors(["u1"], np.ones((1, dims), np.float32))
    with pytest.raises(EmbeddingWriteError, match="abandoned"):
        write_model_version(graph, saved, vectors, vectors, model="t", config={}, metrics={},
                            database=neo4j_server.target.database)  # fmt: skip
    assert _staged(graph, saved) == 0


def test_a_training_killed_before_its_write_back_is_noted_abandoned(
    graph: Driver, neo4j_server: Neo4jTestServer, tmp_path: Path
) -> None:
    store = GraphStore(graph, neo4j_server.target.database)
    registry = ModelRegistry(tmp_path / "models")
    clock = SteppedClock(datetime(2026, 1, 1, tzinfo=UTC))
    saved = _save(registry, _writer(store, "killed-in-the-gate", clock))
    clock.step(TTL_S + 1)
    done = clean_up_after_crashes(store, registry, clock)
    assert done.abandoned == [saved] == done.folders_removed and registry.versions() == []
    listed = {v.version: (v.status, v.active) for v in store.inspection.model_versions()}
    assert listed == {saved: ("abandoned", False)}
    assert _save(registry, None) > saved  # the next version never reuses its number
