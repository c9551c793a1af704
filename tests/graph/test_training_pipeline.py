"""``interest-graph train`` end to end on a small demo shop in the real server."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from neo4j import Driver

from app.cli import main
from app.ingest.importer import import_events, import_items
from app.ingest.sources.demo import demo_stream
from app.ingest.validation import IntakeLimits
from app.settings import Settings, load_settings
from app.training.pipeline import run_training, train_config_from
from graphdb.embeddings import active_version
from graphdb.fold import FoldConfig
from graphdb.slots import active_stamp, active_vector
from graphdb.store import GraphStore
from ml.registry import ModelRegistry
from tests.conftest import Neo4jTestServer

NOW = datetime(2024, 6, 1, tzinfo=UTC)


@pytest.fixture()
def shop(graph: Driver) -> Driver:
    stream = demo_stream(n_users=80, n_items=60, n_events=4000, seed=3, now=NOW)
    import_items(GraphStore(graph), stream.items(), progress=False)
    import_events(GraphStore(graph), stream.events(), FoldConfig(), IntakeLimits(), progress=False)
    return graph


def _settings(server: Neo4jTestServer, tmp_path: Path) -> Settings:
    target = server.target
    return load_settings(
        neo4j_uri=target.uri, neo4j_password=target.password, neo4j_auth=target.password is not None,
        model_dir=tmp_path / "models", train_epochs=4,
    )  # fmt: skip


def test_train_writes_back_every_node_and_activates(
    shop: Driver, neo4j_server: Neo4jTestServer, tmp_path: Path
) -> None:
    settings = _settings(neo4j_server, tmp_path)
    lines: list[str] = []
    report = run_training(GraphStore(shop), settings, train_config_from(settings), say=lines.append)
    assert report.promoted and report.curve is not None and report.curve.exists()
    # A person watching sees every epoch (loss, time left) and the write-back start.
    epochs = [line for line in lines if line.startswith("interest model: epoch ")]
    assert 1 <= len(epochs) <= 4 and epochs[0].startswith("interest model: epoch 1/4, loss ")
    assert all("loss " in line and " left" in line for line in epochs)
    assert any("writing vectors back" in line for line in lines)
    counts = shop.execute_query(
        "MATCH (m:ModelVersion {active: true}) MATCH (n) WHERE n:User OR n:Item "
        "RETURN count(n) AS total, count(" + active_vector("n") + ") AS embedded, "
        "count(CASE WHEN " + active_stamp("n") + " = $v THEN 1 END) AS current",
        v=report.version,
    ).records[0]
    assert counts["total"] == counts["embedded"] == counts["current"]
    assert (report.written_users, report.written_items) == (
        80,
        60,
    ) or report.written_users + report.written_items == counts["total"]
    info = active_version(shop)
    assert info is not None and info.version == report.version and info.dims == 64
    assert ModelRegistry(settings.model_dir).active() == report.version
    knn = shop.execute_query(
        "MATCH (i:Item) WITH i LIMIT 1 "
        "CALL db.index.vector.queryNodes('item_embedding_a', 5, i.embedding_a) YIELD node, score "
        "RETURN i.item_id AS probe, collect(node.item_id) AS found"
    ).records[0]
    assert knn["found"][0] == knn["probe"] and len(knn["found"]) == 5
    # The popularity prior's weight chosen in training is the one the API reads.
    prior_weight = shop.execute_query(
        "MATCH (m:ModelVersion {version: $v}) RETURN m.prior_weight AS w", v=report.version
    ).records[0]["w"]
    assert prior_weight == report.metrics["prior_weight"]
    assert f"prior_weight={prior_weight:.4f}" in report.summary()


def test_train_on_two_processes_from_the_command_line(
    shop: Driver, neo4j_server: Neo4jTestServer, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """``interest-graph train --processes 2``: two gloo ranks train, rank 0 writes back."""
    target = neo4j_server.target
    monkeypatch.setenv("IG_NEO4J_URI", target.uri)
    monkeypatch.setenv("IG_NEO4J_AUTH", "true" if target.password else "false")
    if target.password:
        monkeypatch.setenv("IG_NEO4J_PASSWORD", target.password)
    monkeypatch.setenv("IG_MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("IG_SHORT_TERM_WEIGHT", "0")  # the session model is not what this tests
    assert main(["train", "--processes", "2", "--epochs", "2"]) == 0
    out = capsys.readouterr()
    assert ", 2 processes) ..." in out.err and "promoted and written back" in out.out
    info = active_version(shop)
    assert info is not None and ModelRegistry(tmp_path / "models").active() == info.version
    embedded = shop.execute_query(
        "MATCH (m:ModelVersion {active: true}) MATCH (n) WHERE n:User OR n:Item "
        "RETURN count(n) = count(" + active_vector("n") + ") AS every"
    ).records[0]["every"]
    assert embedded
