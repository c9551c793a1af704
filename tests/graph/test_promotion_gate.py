"""The promotion gate in the real pipeline: the serving weights are re-scored on the new
model's holdout, so a stored figure from an older holdout decides nothing."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from neo4j import Driver

from app.ingest.importer import import_events, import_items
from app.ingest.validation import IntakeLimits
from app.settings import Settings
from app.training.pipeline import TrainingReport, run_training, train_config_from
from graphdb.fold import FoldConfig
from graphdb.slots import active_vector
from graphdb.store import GraphStore
from ml.registry import ModelRegistry
from tests.communities import separated_settings, separated_shop
from tests.conftest import Neo4jTestServer

# A model that barely moved from its random start: what a bad retrain looks like.
CRIPPLED = {"lr": 1e-9, "epochs": 1}


@pytest.fixture()
def shop(graph: Driver) -> GraphStore:
    store = GraphStore(graph)
    items, events = separated_shop(seed=5)
    import_items(store, items, progress=False)
    import_events(store, events, FoldConfig(), IntakeLimits(), progress=False)
    return store


def _train(store: GraphStore, settings: Settings, **overrides: Any) -> TrainingReport:
    force = overrides.pop("force", False)
    return run_training(store, settings, train_config_from(settings, **overrides), force=force)


def _item_vectors(store: GraphStore) -> list[Any]:
    return store.reads.driver.execute_query(
        "MATCH (m:ModelVersion {active: true}) MATCH (i:Item) "
        "RETURN i.item_id AS id, " + active_vector("i") + " AS e ORDER BY id"
    ).records


def test_a_challenger_worse_on_todays_holdout_is_refused(
    shop: GraphStore, neo4j_server: Neo4jTestServer, tmp_path: Path
) -> None:
    settings = separated_settings(neo4j_server, tmp_path)
    first = _train(shop, settings)
    assert first.promoted
    before = _item_vectors(shop)
    second = _train(shop, settings, seed=1, **CRIPPLED)
    assert second.gate is not None and second.gate.champion is not None
    assert second.gate.challenger is not None and second.gate.challenger < second.gate.champion
    assert not second.promoted and "today's holdout" in second.reason
    after = _item_vectors(shop)
    assert all(np.array_equal(a["e"], b["e"]) for a, b in zip(before, after, strict=True))
    assert shop.embeddings.active_version().version == first.version  # type: ignore[union-attr]
    forced = _train(shop, settings, seed=1, force=True, **CRIPPLED)
    assert forced.promoted and forced.reason == "forced"
    assert shop.embeddings.active_version().version == forced.version  # type: ignore[union-attr]
    # The version served until then says it was superseded, and by which; the refused one
    # never reached the graph.
    versions = shop.inspection.model_versions()
    status = {v.version: v.status for v in versions}
    assert status == {first.version: "superseded", forced.version: "active"}


def test_a_stored_figure_from_an_older_holdout_decides_nothing(
    shop: GraphStore, neo4j_server: Neo4jTestServer, tmp_path: Path
) -> None:
    """The old gate compared today's score with the active version's stored one: a serving
    model whose figure came from an easier holdout refused every retrain for ever."""
    settings = separated_settings(neo4j_server, tmp_path)
    weak = _train(shop, settings, **CRIPPLED)
    assert weak.promoted  # nothing served yet
    metrics_file = ModelRegistry(settings.model_dir).versions_dir / weak.version / "metrics.json"
    stored = json.loads(metrics_file.read_text())
    metrics_file.write_text(json.dumps({**stored, "recall@20": 0.99}))  # unbeatable on paper
    # New behaviour arrives; the retrain must replace the weak model all the same.
    _, events = separated_shop(seed=6)
    later = [{**e, "ts": (datetime.fromisoformat(e["ts"]) + timedelta(days=31)).isoformat()}
             for e in events[::3]]  # fmt: skip
    import_events(shop, later, FoldConfig(), IntakeLimits(), progress=False)
    strong = _train(shop, settings, seed=1)
    assert strong.gate is not None and strong.gate.champion is not None
    assert strong.gate.champion < 0.99 and strong.gate.challenger is not None
    assert strong.gate.challenger >= strong.gate.champion
    assert strong.promoted and "not worse on today's holdout" in strong.reason
    assert shop.embeddings.active_version().version == strong.version  # type: ignore[union-attr]
