"""Incremental refresh against the real server: exact, local, and safe to interrupt."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from neo4j import Driver

from app.settings import Settings
from app.training.live_graph import LiveGraph
from app.training.pipeline import run_training, train_config_from
from app.training.text_index import embed_item_texts
from app.worker.refresh import IncrementalRefresher
from graphdb.changes import read_refresh_state
from graphdb.slots import active_vector
from graphdb.snapshot import read_snapshot
from graphdb.store import GraphStore
from ml.embed import full_embeddings
from ml.models.graph import GraphOperators
from ml.registry import ModelRegistry
from tests.communities import START, load, trained_communities
from tests.conftest import Neo4jTestServer

CPU = torch.device("cpu")


@pytest.fixture()
def trained(graph: Driver, neo4j_server: Neo4jTestServer, tmp_path: Path) -> Settings:
    return trained_communities(graph, neo4j_server, tmp_path)


def _stored(driver: Driver) -> dict[str, tuple[np.ndarray, Any]]:
    records = driver.execute_query(
        "MATCH (m:ModelVersion {active: true}) MATCH (n) WHERE n:User OR n:Item "
        "RETURN coalesce(n.user_id, n.item_id) AS id, " + active_vector("n") + " AS v, "
        "CASE m.slot WHEN 'a' THEN n.embedding_updated_at_a "
        "WHEN 'b' THEN n.embedding_updated_at_b END AS at"
    ).records
    return {r["id"]: (np.asarray(r["v"], dtype=np.float32), r["at"]) for r in records}


def _recomputed(driver: Driver, settings: Settings) -> dict[str, np.ndarray]:
    """Every embedding recomputed from a fresh snapshot with the active weights."""
    state = read_refresh_state(driver)
    assert state is not None
    registry = ModelRegistry(settings.model_dir)
    model = registry.load(state.version, CPU)
    extra = registry.metadata(state.version)["extra"]
    half_life = settings.fold_config().half_life_ms
    live = LiveGraph.from_snapshot(
        read_snapshot(driver, half_life), extra["item_ids"], extra["feature_ids"], half_life,
        text_dim=model.text_dim,
    )  # fmt: skip
    vectors = full_embeddings(model, GraphOperators.build(live.to_interaction_graph(), CPU))
    ids = live.user_ids + live.item_ids
    return dict(zip(ids, vectors.numpy(), strict=True))


def _active(driver: Driver) -> str:
    state = read_refresh_state(driver)
    assert state is not None
    return state.version


def _change_community_a(driver: Driver) -> None:
    later = START + timedelta(days=25)
    new_item = {"item_id": "a-new", "title": "a new thing", "category_path": ["a", "a-0"]}
    events = [
        {"user_id": "a-u0", "item_id": "a-new", "type": "purchase", "ts": later.isoformat()},
        {"user_id": "a-newcomer", "item_id": "a-i1", "type": "view", "ts": later.isoformat()},
        {"user_id": "a-newcomer", "item_id": "a-i2", "type": "cart", "ts": later.isoformat()},
        {"user_id": "a-u3", "item_id": "a-i5", "type": "purchase", "ts": later.isoformat()},
    ]
    load(driver, [new_item], events)


def test_refresh_equals_full_recomputation_and_leaves_the_rest_untouched(
    graph: Driver, trained: Settings
) -> None:
    refresher = IncrementalRefresher(GraphStore(graph), trained, device=CPU)
    first = refresher.run()
    assert first.cold and first.written == 0 and first.skipped_reason is None
    before = _stored(graph)
    _change_community_a(graph)
    assert (
        embed_item_texts(GraphStore(graph)) == 1
    )  # the new item's text is one of its model inputs

    report = refresher.run()

    assert not report.cold and report.skipped_reason is None
    assert report.changed >= 4 and 0 < report.written <= report.refreshed
    assert report.max_untouched_drift < 1e-6
    after, expected = _stored(graph), _recomputed(graph, trained)
    assert set(after) == set(expected)
    worst = max(float(np.abs(after[k][0] - expected[k]).max()) for k in expected)
    assert worst < 1e-5
    assert "a-newcomer" in after and "a-new" in after  # new nodes, no retraining
    assert ModelRegistry(trained.model_dir).load(_active(graph), CPU).text_dim == 384
    # community b shares nothing with the change: not one of its vectors was rewritten
    for node_id, (vector, at) in before.items():
        if node_id.startswith("b-"):
            assert after[node_id][1] == at
            assert np.array_equal(after[node_id][0], vector)
    assert sum(1 for k in after if after[k][1] != before.get(k, (None, None))[1]) == report.written


def test_a_quiet_graph_writes_nothing(graph: Driver, trained: Settings) -> None:
    refresher = IncrementalRefresher(GraphStore(graph), trained, device=CPU)
    refresher.run()
    before = read_refresh_state(graph)
    report = refresher.run()
    assert (report.changed, report.written) == (0, 0) and not report.cold
    after = read_refresh_state(graph)
    assert before is not None and after is not None
    assert after.revision == before.revision  # nothing for the API to reload
    assert after.watermark is not None and before.watermark is not None
    assert after.watermark > before.watermark


class Crash(RuntimeError):
    pass


def test_a_run_killed_part_way_is_redone_by_the_next_one(graph: Driver, trained: Settings) -> None:
    IncrementalRefresher(GraphStore(graph), trained, device=CPU).run()
    watermark = read_refresh_state(graph)
    _change_community_a(graph)

    def die_after_first_batch(written: int) -> None:
        raise Crash(f"killed after {written} rows")

    small_batches = trained.model_copy(update={"refresh_write_batch": 1})
    dying = IncrementalRefresher(
        GraphStore(graph), small_batches, device=CPU, after_batch=die_after_first_batch
    )
    with pytest.raises(Crash):
        dying.run()
    assert read_refresh_state(graph) == watermark  # the watermark did not move
    stored = _stored(graph)
    assert "a-newcomer" in stored  # the node exists, its vector may or may not be there yet

    report = IncrementalRefresher(
        GraphStore(graph), trained, device=CPU
    ).run()  # a restarted worker

    assert report.cold and report.written > 0
    state = read_refresh_state(graph)
    assert state is not None and watermark is not None
    assert state.watermark is not None and watermark.watermark is not None
    assert state.watermark > watermark.watermark
    after, expected = _stored(graph), _recomputed(graph, trained)
    assert max(float(np.abs(after[k][0] - expected[k]).max()) for k in expected) < 1e-5


def test_a_transductive_model_is_skipped_with_a_reason(graph: Driver, trained: Settings) -> None:
    lightgcn = trained.model_copy(update={"model_kind": "lightgcn"})
    run_training(GraphStore(graph), lightgcn, train_config_from(lightgcn), force=True)
    report = IncrementalRefresher(GraphStore(graph), lightgcn, device=CPU).run()
    assert report.written == 0 and report.skipped_reason is not None
    assert "transductive" in report.skipped_reason


def test_bystanders_beyond_the_write_budget_wait_and_then_converge(
    graph: Driver, trained: Settings
) -> None:
    # No overlap: the suite loaded the whole graph seconds ago, and re-reading the last
    # minute would count every node as changed.
    budget_one = trained.model_copy(update={"refresh_write_budget": 1, "refresh_overlap_s": 0})
    refresher = IncrementalRefresher(GraphStore(graph), budget_one, device=CPU)
    refresher.run()
    _change_community_a(graph)
    embed_item_texts(GraphStore(graph))

    first = refresher.run()

    assert first.pending > 0 and first.max_pending_move > trained.refresh_write_tolerance
    stored, expected = _stored(graph), _recomputed(graph, trained)
    for node_id in ("a-u0", "a-newcomer", "a-u3", "a-new", "a-i5"):  # their own edges changed
        assert np.abs(stored[node_id][0] - expected[node_id]).max() < 1e-5
    lagging = max(float(np.abs(stored[k][0] - expected[k]).max()) for k in expected)
    assert lagging == pytest.approx(first.max_pending_move, rel=1e-3, abs=1e-5)
    runs = [refresher.run() for _ in range(first.pending)]  # nothing new: the queue drains
    assert [r.written for r in runs[: first.pending]] == [1] * first.pending
    assert runs[-1].pending == 0 and runs[-1].max_pending_move == 0.0
    after = _stored(graph)
    assert max(float(np.abs(after[k][0] - expected[k]).max()) for k in expected) < 1e-5
